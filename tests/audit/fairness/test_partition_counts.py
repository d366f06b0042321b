"""Count sufficiency: per-partition cell counts, merged, give the whole data set's counts and so every table.

This is how a distributed run (``--executor ray``) gets its fairness statistics: each worker counts its rows in
the encoding of the whole data set, the driver adds the counts up (audit/fairness/counts.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepaudit.audit.fairness import disparities, group_metrics
from deepaudit.audit.fairness.counts import merge_counts, partition_counts, prepare
from deepaudit.audit.fairness.groups import encode_groups


def _data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "race": rng.choice(["black", "white", "asian", None, "unknown", ""], n, p=[.3, .5, .1, .04, .04, .02]),
        # numbers sort as numbers (2 before 10): a merge by label text must keep that order
        "band": rng.choice([2, 10, 33], n).astype(float),
        "sex": rng.choice(["f", "m"], n)})
    frame.loc[rng.random(n) < 0.03, "band"] = np.nan
    y = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < 0.7, y, 1 - y)
    score = rng.random(n)
    return frame, y, pred, score


def _parts(n: int, cuts: list[int]) -> list[slice]:
    edges = [0, *cuts, n]
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


@pytest.mark.parametrize("columns", [["race"], ["band"], ["race", "sex"], ["band", "race"]])
def test_merged_partition_counts_equal_the_whole_data_sets(columns):
    frame, y, pred, score = _data(3_000)
    # the first partition has no 'asian' and no missing race; the last is tiny
    frame.loc[:399, "race"] = frame.loc[:399, "race"].replace({"asian": "white", None: "black", "unknown": "black",
                                                               "": "black"})
    whole = prepare(y, pred, sensitive=frame[columns], y_score=score, pos_label=1)
    groups = [g for g, _ in whole.attributes]
    attributes = [(columns, g.labels) for g in groups]
    parts = [partition_counts(y[s], pred[s], frame=frame.iloc[s], attributes=attributes, pos_label=1, y_score=score[s],
                              median=whole.median_score) for s in _parts(len(y), [400, 1700, 2990])]
    merged = merge_counts(parts[::-1], groups, median=whole.median_score)   # order does not matter
    assert merged.n == whole.n and merged.n_cells == whole.n_cells == 8
    for (g, a), (_, b) in zip(whole.attributes, merged.attributes):
        assert np.array_equal(a, b), g.attribute     # counts: exact


def test_tables_from_merged_counts_equal_tables_from_rows():
    frame, y, pred, score = _data(2_000, seed=4)
    kw = dict(pos_label=1, y_score=score)
    whole = prepare(y, pred, sensitive=frame["race"], **kw)
    groups = [g for g, _ in whole.attributes]
    parts = [partition_counts(y[s], pred[s], frame=frame.iloc[s], attributes=[(["race"], groups[0].labels)],
                              median=whole.median_score, **{**kw, "y_score": score[s]})
             for s in _parts(len(y), [500, 1000, 1500])]
    merged = merge_counts(parts, groups, median=whole.median_score)
    pd.testing.assert_frame_equal(group_metrics(None, None, sensitive=None, prepared=merged),
                                  group_metrics(y, pred, sensitive=frame["race"], **kw))
    pd.testing.assert_frame_equal(disparities(None, None, sensitive=None, prepared=merged, n_boot=200, seed=3),
                                  disparities(y, pred, sensitive=frame["race"], n_boot=200, seed=3, **kw))


def test_a_group_outside_the_encoding_and_rows_counted_twice_are_errors():
    frame, y, pred, _ = _data(600, seed=1)
    (g,) = encode_groups(frame["sex"], len(frame))
    with pytest.raises(ValueError, match="group 'm' of 'sex'.*does not have"):
        partition_counts(y, pred, frame=frame, attributes=[(["sex"], ["f"])], pos_label=1)
    part = partition_counts(y, pred, frame=frame, attributes=[(["sex"], g.labels)], pos_label=1)
    with pytest.raises(ValueError, match="add up to .* but the whole data set has"):
        merge_counts([part, part], [g])
    with pytest.raises(ValueError, match="median"):
        partition_counts(y, pred, frame=frame, attributes=[(["sex"], g.labels)], pos_label=1, y_score=np.ones(600))
