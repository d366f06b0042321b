"""Fairness page, no browser: live recomputation equals the stored tables, threshold / reference /
intersection views carry the right numbers, URL parameters are validated."""

import numpy as np
import pandas as pd
import pytest

from deepaudit.audit.fairness import group_metrics
from deepaudit.audit.tolerance import FLOAT64_ATOL
from deepaudit.dashboard import data, ids
from deepaudit.dashboard import fairness_live as live
from deepaudit.dashboard.figures import fairness as ffig
from deepaudit.dashboard.pages import fairness
from tests.dashboard.util import text as text_of

NUMERIC_GROUP_COLUMNS = ["n", "share", "positives", "negatives", "predicted_positive", "tn", "fp", "fn", "tp",
                         *(f"{m}{s}" for m in ("selection_rate", "tpr", "fpr", "ppv", "accuracy", "scoring_rate")
                           for s in ("", "_lo", "_hi"))]



def _find(layout, cid):
    return next(c for c in layout._traverse() if getattr(c, "id", None) == cid)


@pytest.fixture(scope="module")
def run(store):
    return store.load("latest:mortgage")


@pytest.fixture(scope="module")
def preds(run):
    return run.predictions()


@pytest.fixture(scope="module")
def state(run):
    return {"model": "mortgage", "run_id": run.run_id}


def _stored(run, name):
    attr = data.attribute_record(run.result, name)
    assert attr["name"] == name
    return pd.DataFrame(attr["groups"]), pd.DataFrame(attr["disparities"])


def _assert_frames_equal(live_df, stored_df, numeric, atol=1e-9):
    assert len(live_df) == len(stored_df)
    for c in numeric:
        np.testing.assert_allclose(live_df[c].to_numpy(float), stored_df[c].to_numpy(float), atol=atol, rtol=0,
                                   equal_nan=True, err_msg=c)
    text = [c for c in stored_df.columns if c not in numeric and c in live_df.columns]
    for c in text:
        assert live_df[c].tolist() == stored_df[c].tolist(), c


@pytest.mark.parametrize("name", ["race", "sex", "marital_status", "age", "race_x_sex"])
def test_live_recomputation_equals_stored_tables_at_defaults(run, preds, name):
    """Same engine, same settings: at the model's rule and default reference, live == stored to 1e-9."""
    settings = live.run_settings(run)
    assert settings.n_boot >= 1000 and settings.favorable == 1 and settings.threshold_applies
    got = live.live_tables(preds, [name], settings, threshold=0.5)
    groups, disp = _stored(run, name)
    _assert_frames_equal(got["groups"], groups, NUMERIC_GROUP_COLUMNS)
    _assert_frames_equal(got["disparities"], disp, ["value", "lo", "hi", "n", "positives", "negatives",
                                                    "n_reference", "n_boot_valid"])


def test_live_intersection_equals_stored_race_x_sex(run, preds):
    """Crossing race and sex live gives the stored race_x_sex column's groups and numbers."""
    got = live.live_tables(preds, ["race", "sex"], live.run_settings(run))
    groups, disp = _stored(run, "race_x_sex")
    assert got["groups"]["attribute"].iloc[0] == "race x sex"
    _assert_frames_equal(got["groups"].drop(columns="attribute"), groups.drop(columns="attribute"),
                         NUMERIC_GROUP_COLUMNS)
    _assert_frames_equal(got["disparities"].drop(columns="attribute"), disp.drop(columns="attribute"),
                         ["value", "lo", "hi"])


def test_update_at_defaults_shows_stored_numbers_and_intersection_uses_stored_column(ctx, run, state):
    view = fairness.update(ctx, "race", state, [], None, 0.5)
    assert view.source.startswith("Stored in run")
    _, disp = _stored(run, "race")
    ir = disp[(disp.metric == "selection_rate") & (disp.statistic == "impact_ratio")]
    # the page draws the stored float64 values themselves (identical inputs), hence FLOAT64_ATOL
    assert list(view.impact.data[0].y) == pytest.approx(ir["value"].tolist(), abs=FLOAT64_ATOL)
    assert len(view.impact.data) == 1  # no baseline markers at the model's own rule
    inter = fairness.update(ctx, "race", state, ["sex", "race"], None, 0.5)
    assert inter.source.startswith("Stored in run") and "race_x_sex" in inter.impact.layout.title.text


def test_threshold_recomputes_rates_and_ratios(ctx, preds, state):
    t = 0.3
    view = fairness.update(ctx, "race", state, None, None, t)
    assert view.source.startswith("Computed live") and "B=1000" in view.source
    sr = {g: float(np.mean(preds.loc[preds["race"] == g, "score"] >= t)) for g in ("black", "hispanic", "white")}
    y = preds["y_true"] == 1
    for row in view.rows:
        g = row["group"]
        mask = preds["race"] == g
        assert row["selection_rate"].startswith(f"{sr[g]:.1%}")
        tpr = float(np.mean(preds.loc[mask & y, "score"] >= t))
        fpr = float(np.mean(preds.loc[mask & ~y, "score"] >= t))
        acc = float(np.mean((preds.loc[mask, "score"] >= t) == y[mask]))
        assert row["tpr"].startswith(f"{tpr:.1%}") and row["fpr"].startswith(f"{fpr:.1%}")
        assert row["accuracy"].startswith(f"{acc:.1%}")
    trace = view.impact.data[0]
    assert list(trace.y) == pytest.approx([sr[g] / max(sr.values()) for g in ("black", "hispanic", "white")])
    # open markers: the same groups at the model's own rule (= the stored impact ratios)
    stored = fairness.update(ctx, "race", state, None, None, 0.5).impact.data[0].y
    assert list(view.impact.data[1].y) == pytest.approx(list(stored))
    assert list(view.rates.data[0].y) == pytest.approx([sr[g] for g in ("black", "hispanic", "white")])
    assert "Decision threshold 0.30" in text_of(view.reference)
    # the sweep: one line per group, its value at t equals the group's rate; the threshold is marked
    sweep = view.sweep
    assert [d.name for d in sweep.data] == ["black", "hispanic", "white"]
    for d in sweep.data:
        at = list(np.round(d.x, 2)).index(t)
        assert d.y[at] == pytest.approx(sr[d.name])
    assert any(s.x0 == pytest.approx(t) for s in sweep.layout.shapes)


def test_chosen_reference_gives_ratios_and_differences_to_it(ctx, preds, state):
    view = fairness.update(ctx, "race", state, None, "black", 0.5)
    sr = {g: float(np.mean(preds.loc[preds["race"] == g, "y_pred"] == 1)) for g in ("black", "hispanic", "white")}
    trace = view.impact.data[0]
    assert list(trace.y) == pytest.approx([sr[g] / sr["black"] for g in ("black", "hispanic", "white")])
    assert trace.x[0] == "black (reference)"
    lo, hi = np.array(trace.y) - np.array(trace.error_y.arrayminus), np.array(trace.y) + np.array(trace.error_y.array)
    assert lo[1] < sr["hispanic"] / sr["black"] < hi[1]  # a real interval, not a point
    cols = {c["id"]: c["name"] for c in view.columns}
    assert cols["impact_ratio"] == "Ratio to black [95% CI]" and cols["difference"].startswith("Selection rate − black")
    rows = {r["group"]: r for r in view.rows}
    assert rows["white"]["difference"].startswith(f"{(sr['white'] - sr['black']) * 100:+.1f}")
    assert rows["black"]["note"] == "reference" and rows["black"]["difference"] == "0 (reference)"
    assert "Reference group: black" in text_of(view.reference) and "(chosen)" in text_of(view.reference)


def test_single_intersect_column_asks_for_another(ctx, state):
    view = fairness.update(ctx, "race", state, ["sex"], None, 0.5)
    assert "Pick at least one more column to intersect with 'sex'" in text_of(view.reference)
    assert view.source.startswith("Stored in run")  # still the attribute's stored view


def test_unknown_reference_falls_back_with_note(ctx, state):
    view = fairness.update(ctx, "race", state, None, "martians", 0.5)
    assert "'martians' is not a group of 'race'" in text_of(view.reference)
    assert view.impact.data[0].x[-1] == "white (highest)"


def test_live_intersection_of_three_columns(ctx, preds, state):
    view = fairness.update(ctx, "race", state, ["race", "sex", "age"], None, 0.5)
    assert view.source.startswith("Computed live")
    expected = group_metrics(preds["y_true"], preds["y_pred"], pos_label=1, sensitive=preds[["race", "sex", "age"]])
    assert [r["group"] for r in view.rows] == expected["group"].tolist()
    assert "unknown" in expected["group"].tolist()
    # many groups: the dot plots turn horizontal, group labels along y, values along x
    labels = [x.replace(" (highest)", "") for x in view.impact.data[0].y]
    assert labels == [r["group"] for r in view.rows] and len(view.rows) > 6
    assert list(view.rates.data[0].x) == pytest.approx(expected["selection_rate"].tolist())


def test_parse_query_validates_every_parameter(run):
    sel, notes = fairness.parse_query(run, "sex", "race,age", "black & above area median", "0.3")
    assert sel == fairness.Selection("sex", ("race", "age"), "black & above area median", 0.3)
    assert notes == []
    sel, notes = fairness.parse_query(run, "nope", "race,zzz", "martians", "abc")
    assert sel == fairness.Selection("race", (), None, 0.5)
    text = " ".join(notes)
    assert "'nope'" in text and "'zzz' is not a column" in text and "'martians'" in text and "'abc'" in text
    for bad in ("2", "-1", "nan", "inf", "0.01", ""):
        assert fairness.parse_query(run, threshold=bad)[0].threshold == 0.5
    sel, notes = fairness.parse_query(run, intersect="race")
    assert sel.intersect == () and "two or more" in notes[0]
    assert fairness.parse_query(run, threshold="0.333")[0].threshold == 0.33


def test_layout_restores_selection_from_query(ctx):
    layout = fairness.build(ctx, "mortgage", attribute="sex", intersect="race,age",
                            reference="white & above area median", threshold="0.7")
    assert _find(layout, ids.FAIRNESS_ATTRIBUTE).value == "sex"
    assert _find(layout, ids.FAIRNESS_ATTRIBUTE).disabled  # the intersection overrides it
    assert _find(layout, ids.FAIRNESS_INTERSECT).value == ["race", "age"]
    ref = _find(layout, ids.FAIRNESS_REFERENCE_SELECT)
    assert ref.value == "white & above area median" and "black & at or below median" in ref.options
    assert _find(layout, ids.FAIRNESS_THRESHOLD).value == 0.7
    assert text_of(_find(layout, ids.FAIRNESS_NOTE)) == ""
    bad = fairness.build(ctx, "mortgage", attribute="nope", threshold="x")
    assert "attribute 'nope'" in text_of(_find(bad, ids.FAIRNESS_NOTE))
    assert _find(bad, ids.FAIRNESS_THRESHOLD).value == 0.5


def test_view_controls_follow_the_view(ctx, state):
    options, value, disabled = fairness.view_controls(ctx, "race", ["sex", "age"], "black", state)
    assert "female & above area median" in options and value is None and disabled
    options, value, disabled = fairness.view_controls(ctx, "race", [], "black", state)
    assert options == ["black", "hispanic", "white"] and value == "black" and not disabled


def test_model_without_favourable_outcome_has_no_threshold(ctx, store):
    mnist = store.load("latest:mnist_cnn")
    assert not live.threshold_applies(mnist)
    layout = fairness.build(ctx, "mnist_cnn", threshold="0.3")
    slider = _find(layout, ids.FAIRNESS_THRESHOLD)
    assert slider.disabled and slider.value is None
    assert "does not apply" in text_of(_find(layout, ids.FAIRNESS_THRESHOLD_PANEL))
    state = {"model": "mnist_cnn", "run_id": mnist.run_id}
    view = fairness.update(ctx, "ink_mass", state, ["ink_mass", "slant"], None, 0.3)
    assert view.source.startswith("Computed live") and len(view.sweep.data) == 0
    assert {c["id"] for c in view.columns} == {"group", "n", "selection_rate", "impact_ratio", "difference", "note"}
    preds = mnist.predictions()
    correct = (preds["y_pred"] == preds["y_true"]).astype(int)
    expected = group_metrics(correct, correct, pos_label=1, sensitive=preds[["ink_mass", "slant"]])
    assert list(view.rates.data[0].x if ffig.horizontal_layout(expected["group"].tolist())
                else view.rates.data[0].y) == pytest.approx(expected["selection_rate"].tolist())


def test_live_cache_computes_once(preds, run):
    cache, calls = live.LiveCache(size=2), []
    for _ in range(3):
        cache.get(("k",), lambda: calls.append(1) or 42)
    assert calls == [1]
    cache.get(("a",), lambda: 1)
    cache.get(("b",), lambda: 2)  # evicts ("k",)
    cache.get(("k",), lambda: calls.append(1) or 42)
    assert calls == [1, 1]


def test_attribute_without_stored_disparities_is_recomputed(run):
    """An attribute stored without its comparisons (``disparities`` is optional): recomputed, same numbers."""
    import copy

    from deepaudit.audit.result import AuditResult

    result = copy.deepcopy(run.result)
    race = next(a for a in result["fairness"]["attributes"] if a["name"] == "race")
    stored_ir = [d["value"] for d in race["disparities"]
                 if d["metric"] == "selection_rate" and d["statistic"] == "impact_ratio"]
    del race["disparities"]
    older = AuditResult.from_dict(result, path=run.path)
    view = live.view_tables(older, "race")
    assert view.source == "live"
    out = fairness.render(view, older)
    assert list(out.impact.data[0].y) == pytest.approx(stored_ir, abs=1e-9)


def test_missing_prediction_column_gives_a_message(ctx, state, run, monkeypatch):
    from deepaudit.audit.store import Run

    monkeypatch.setattr(Run, "predictions", lambda self: pd.DataFrame({"y_true": [1], "y_pred": [1],
                                                                         "score": [0.9]}))
    # a run without a score index (written before it existed) recomputes the threshold view from its predictions
    monkeypatch.setattr(fairness.live, "score_index", lambda *a, **k: None)
    view = fairness.update(ctx, "race", state, None, None, 0.3)
    assert "cannot be computed" in text_of(view.reference) and "no column ['race']" in text_of(view.reference)
    assert view.rows == []
