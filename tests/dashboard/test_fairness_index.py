"""The threshold slider answers from the run's stored score index, with the tables the predictions give."""
from __future__ import annotations

import pandas as pd
import pytest

from deepaudit.audit.runner import RunConfig, audit_target
from deepaudit.dashboard import fairness_live as live


@pytest.fixture(scope="module")
def run():
    from deepaudit.audit.testing.scale import scale_target

    return audit_target(scale_target(3_000), RunConfig(progress=False, methods=["integrated_gradients"]))


def test_the_run_stores_an_index_per_attribute(run):
    assert "score_index" in run.array_names()
    for name in ("race", "sex"):
        index = live.score_index(run, (name,))
        assert index is not None and index.n == 3_000


@pytest.mark.parametrize("threshold", [0.3, 0.62, 0.9])
@pytest.mark.parametrize("attribute", ["race", "sex"])
def test_tables_from_the_index_equal_tables_from_the_predictions(run, monkeypatch, threshold, attribute):
    reads = []

    def predictions():
        reads.append(1)
        return run.predictions()

    fast = live.view_tables(run, attribute, threshold=threshold, predictions=predictions)
    assert reads == []                                   # neither the tables nor the sweep read the predictions
    monkeypatch.setattr(live, "score_index", lambda *a, **k: None)
    slow = live.view_tables(run, attribute, threshold=threshold, predictions=predictions)
    assert reads                                          # ... which the fallback does
    pd.testing.assert_frame_equal(fast.groups, slow.groups)
    pd.testing.assert_frame_equal(fast.disparities, slow.disparities)
    pd.testing.assert_frame_equal(fast.sweep, slow.sweep)
    assert fast.source == slow.source == "live"


def test_a_damaged_index_falls_back_to_the_predictions(run, monkeypatch):
    arrays = run.arrays("score_index")
    arrays["v0_scores"] = arrays["v0_scores"][:-5]
    monkeypatch.setattr(type(run), "arrays", lambda self, name: arrays if name == "score_index" else {})
    assert live.score_index(run, ("race",)) is None
    view = live.view_tables(run, "race", threshold=0.7)
    assert view.source == "live" and view.groups["n"].sum() == 3_000


@pytest.mark.parametrize("threshold", [0.35, 0.5, 0.7])
@pytest.mark.parametrize("reference", [None, "white"])
def test_the_page_computes_only_the_rows_it_shows_and_they_equal_the_full_tables(run, threshold, reference):
    """The page's comparisons (selection rate vs the reference, impact ratios) are the full table's rows,
    without the bootstrapped spreads and criteria it never shows."""
    settings = live.run_settings(run)
    kw = dict(threshold=threshold, reference=reference)
    full = live.live_tables(run.predictions(), ("race",), settings, **kw)
    page = live.live_tables(run.predictions(), ("race",), settings, page=True, **kw)
    pd.testing.assert_frame_equal(page["groups"], full["groups"])
    d = page["disparities"]
    assert set(d["metric"]) == {"selection_rate"}
    assert set(d["statistic"]) == {"difference_vs_reference", "ratio_vs_reference", "impact_ratio"}
    assert (d["method"].str.startswith(("Newcombe", "MOVER-R"))).all()   # score intervals: nothing bootstrapped
    want = full["disparities"]
    want = want[(want["metric"] == "selection_rate") & want["statistic"].isin(set(d["statistic"]))]
    pd.testing.assert_frame_equal(d.reset_index(drop=True), want.reset_index(drop=True))
    if threshold != 0.5:   # from the stored score index: the same page rows
        index = live.score_index(run, ("race",))
        pd.testing.assert_frame_equal(live.indexed_tables(index, settings, page=True, **kw)["disparities"], d)
