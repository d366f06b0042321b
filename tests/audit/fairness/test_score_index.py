"""Group tables from per-group sorted scores (audit/fairness/score_index.py) equal the tables from the rows."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepaudit.audit.fairness import disparities, group_metrics
from deepaudit.audit.fairness.score_index import ScoreIndex, build_indexes


def _data(n=20_000, seed=0):
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    score[:50] = 0.5                      # ties exactly at a threshold
    y = (rng.random(n) < score).astype(int)
    race = pd.Series(rng.choice(["a", "b", "c", None], n, p=[0.6, 0.25, 0.14, 0.01]), name="race")
    sex = pd.Series(rng.choice(["f", "m"], n), name="sex")
    return y, score, race, sex


@pytest.mark.parametrize("view", ["race", "race x sex"])
@pytest.mark.parametrize("threshold", [0.0, 0.05, 0.3, 0.5, 0.61, 0.95, 1.0])
def test_tables_from_the_index_equal_tables_from_the_rows(view, threshold):
    y, score, race, sex = _data()
    sens = race if view == "race" else pd.DataFrame({"race": race, "sex": sex})
    cols = ["race"] if view == "race" else ["race", "sex"]
    index = ScoreIndex.build(y, score, sens, cols)
    yhat = (score >= threshold).astype(int)
    prepared = index.prepared(threshold)
    ref = "b" if view == "race" else "b & m"
    pd.testing.assert_frame_equal(group_metrics(y, yhat, y_score=score, sensitive=sens, pos_label=1),
                                  group_metrics(None, None, sensitive=None, prepared=prepared))
    pd.testing.assert_frame_equal(
        disparities(y, yhat, y_score=score, sensitive=sens, pos_label=1, n_boot=200, seed=3, reference=ref),
        disparities(None, None, sensitive=None, prepared=prepared, n_boot=200, seed=3, reference=ref))


def test_selection_rates_count_scores_at_or_above_the_threshold():
    y, score, race, _ = _data(5_000)
    index = ScoreIndex.build(y, score, race, ["race"])
    t = np.array([0.1, 0.5, 0.77])
    rates = index.selection_rates(t)
    for k, label in enumerate(index.labels):
        member = (race.fillna("unknown") == label).to_numpy()
        assert rates[:, k].tolist() == [float((score[member] >= v).mean()) for v in t]   # exact: counts / n


def test_stored_arrays_round_trip_and_damage_is_refused():
    y, score, race, sex = _data(3_000)
    preds = pd.DataFrame({"y_true": y, "score": score, "race": race, "sex": sex})
    arrays = build_indexes(preds, [("race",), ("sex",)], favorable=1)
    back = ScoreIndex.from_arrays(arrays, ["sex"])
    direct = ScoreIndex.build(y, score, sex, ["sex"])
    assert back.labels == direct.labels and np.array_equal(back.scores, direct.scores)
    assert np.array_equal(back.counts(0.4), direct.counts(0.4))
    assert ScoreIndex.from_arrays(arrays, ["age"]) is None                      # a view it does not hold
    bad = dict(arrays, v1_bounds=arrays["v1_bounds"][:-1])                      # truncated
    assert ScoreIndex.from_arrays(bad, ["sex"]) is None
    bad = dict(arrays, views=np.asarray(["not json"]))
    assert ScoreIndex.from_arrays(bad, ["race"]) is None
