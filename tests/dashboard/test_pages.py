"""Unit tests: layouts and callback bodies called directly, no browser."""
import json

import dash
import pandas as pd
import pytest

from deepaudit.dashboard import data, figures, ids
from deepaudit.dashboard.pages import fairness, home
from tests.dashboard.util import find
from tests.dashboard.util import text as text_of


def _ids(component) -> set:
    out = set()
    for c in component._traverse():
        if getattr(c, "id", None):
            out.add(c.id)
    return out


@pytest.fixture(scope="module")
def result(store):
    return store.load("latest:mortgage").result


def test_create_app_registers_pages(app):
    assert isinstance(app, dash.Dash)
    assert app.config.serve_locally
    paths = {p["path_template"] or p["path"] for p in dash.page_registry.values()}
    assert {"/", "/model/<model>/fairness", "/model/<model>/performance", "/model/<model>/explanations",
            "/model/<model>/quality", "/model/<model>/runs", "/model/<model>/report"} <= paths


def test_home_lists_latest_run_with_verdict(ctx, result):
    layout = home.build(ctx)
    text = text_of(layout)
    n_failed = sum(not c["passed"] for c in result["checks"])
    assert "mortgage" in text and "finance" in text
    assert f"{n_failed} of {len(result['checks'])} checks failed" in text
    worst, attr = data.worst_impact_ratio(ctx.resolve("mortgage"))
    assert f"{worst:.3f} ({attr})" in text
    assert result["dataset"]["name"] in text
    history = next(c for c in layout._traverse() if getattr(c, "id", None) == ids.HOME_HISTORY)
    mortgage_rows = [r["run_id"] for r in history.data if r["model"] == "mortgage"]
    assert len(mortgage_rows) == 2 and result["run_id"] in mortgage_rows[0]  # newest first, as a link


def test_fairness_layout_has_controls_and_reference(ctx):
    layout = fairness.build(ctx, "mortgage", attribute="sex")
    assert {ids.FAIRNESS_ATTRIBUTE, ids.FAIRNESS_TABLE, ids.FAIRNESS_IMPACT, ids.FAIRNESS_STATE} <= _ids(layout)
    dropdown = next(c for c in layout._traverse() if getattr(c, "id", None) == ids.FAIRNESS_ATTRIBUTE)
    assert dropdown.value == "sex"  # selection restored from the URL's query string
    # an attribute the run does not have: the first attribute is shown, and the note says why
    bad = fairness.build(ctx, "mortgage", attribute="not-an-attribute")
    first = data.fairness_attributes(ctx.resolve("mortgage").result)[0]["name"]
    assert find(bad, ids.FAIRNESS_ATTRIBUTE).value == first != "not-an-attribute"
    assert fairness.BAD_ATTRIBUTE.format(value="not-an-attribute", shown=first) in text_of(find(bad, ids.FAIRNESS_NOTE))


def test_fairness_callback_matches_stored_impact_ratios(ctx, result):
    state = {"model": "mortgage", "run_id": result["run_id"]}
    view = fairness.update(ctx, "race", state)
    reference, rows, impact_fig, rates_fig = text_of(view.reference), view.rows, view.impact, view.rates
    assert view.source.startswith("Stored in run")  # the stored view, not a recomputation
    race = next(a for a in result["fairness"]["attributes"] if a["name"] == "race")
    stored = [d for d in race["disparities"] if d["metric"] == "selection_rate" and d["statistic"] == "impact_ratio"]
    trace = impact_fig.data[0]
    assert list(trace.y) == pytest.approx([d["value"] for d in stored])
    # the denominator of the impact ratios is the highest-rate known group, labelled as such
    assert [x.replace(" (highest)", "") for x in trace.x] == [d["group"] for d in stored]
    # error bars reach the stored interval ends
    assert [y + e for y, e in zip(trace.y, trace.error_y.array)] == pytest.approx([d["hi"] for d in stored])
    assert [y - e for y, e in zip(trace.y, trace.error_y.arrayminus)] == pytest.approx([d["lo"] for d in stored])
    # the four-fifths line
    assert any(s.y0 == pytest.approx(0.8) for s in impact_fig.layout.shapes)
    ref = next(g["group"] for g in race["groups"] if g["is_reference"])
    assert f"Reference group: {ref}" in reference
    assert [r["group"] for r in rows] == [g["group"] for g in race["groups"]]
    # group selection rates with Wilson intervals
    assert list(rates_fig.data[0].y) == pytest.approx([g["selection_rate"] for g in race["groups"]])
    json.dumps(impact_fig.to_plotly_json(), default=str)  # serialisable for the browser


def test_unknown_model_gives_404(ctx, result):
    layout = fairness.build(ctx, "no_such_model")
    assert layout.id == ids.NOT_FOUND
    text = text_of(layout)
    assert "Page not found" in text and "no_such_model" in text and "mortgage" in text
    assert fairness.build(ctx, "../etc/passwd").id == ids.NOT_FOUND
    # a run id of another model, or a malformed one, is unknown for this model
    other = ctx.resolve("mnist_cnn").run_id
    for bad in (other, "../../etc", "20260101T000000Z-mortgage-zzzzzzzz"):
        layout = fairness.build(ctx, "mortgage", bad)
        assert layout.id == ids.NOT_FOUND and "has no run" in text_of(layout)
    assert getattr(fairness.build(ctx, "mortgage", result["run_id"]), "id", None) != ids.NOT_FOUND


def test_palette_is_okabe_ito():
    fig = figures.impact_ratio_figure(
        data.ratio_rows(pd.DataFrame([
            {"metric": "selection_rate", "statistic": "impact_ratio", "group": g, "value": v, "lo": v - .1,
             "hi": min(v + .1, 1), "reference": "a", "small_group": False} for g, v in [("a", 1.0), ("b", .5)]])))
    assert set(fig.data[0].marker.color) <= set(figures.OKABE_ITO.values())
    assert fig.data[0].marker.color[1] == figures.FAIL_COLOUR


def test_home_says_not_applicable_without_impact_ratios(ctx):
    """Models without an impact ratio: the card names the worst failed fairness-type check when there is one
    (e.g. the sentiment model's counterfactual swaps), else says not applicable (never 'nan')."""
    cards = next(c for c in home.build(ctx)._traverse() if getattr(c, "id", None) == ids.HOME_MODELS).children
    text = {(text_of(c.children[0])).split()[0]: text_of(c) for c in cards}
    for model in ("sentiment", "mnist_cnn"):
        worst = data.worst_fairness_finding(ctx.resolve(model))
        if worst:
            assert "Worst fairness finding" in text[model] and worst["title"] in text[model]
        else:
            assert "not applicable" in text[model]
        assert "nan" not in text[model].lower().split()
    assert data.worst_fairness_finding(ctx.resolve("sentiment"))["family"].startswith("counterfactual_")
    assert "not applicable" not in text["mortgage"] and "Worst impact ratio" in text["mortgage"]
    # every card links to the run's Checks, Runs and Report pages; dates in one format
    for model, t in text.items():
        assert {"Checks", "Runs", "Report"} <= set(t.split())
        assert data.utc_minute(ctx.resolve(model).provenance.created_at) in t


def test_card_summary_keeps_whole_sentences():
    assert data.card_summary(None) is None and data.card_summary("  ") is None
    short = "Flawed on purpose. Half the test images carry the mark."
    assert data.card_summary(short) == short
    # cut at the last sentence end outside parentheses ("e.g." and a period inside brackets are not ends)
    long = "A first sentence that runs on for a while. Then (e.g. an aside. still inside) more " + "and on " * 40
    assert data.card_summary(long, limit=120) == "A first sentence that runs on for a while."
    # no sentence end late enough: cut with an ellipsis
    out = data.card_summary("x " * 200, limit=60)
    assert out.endswith("…") and len(out) <= 61


def test_ordinal_cohorts_keep_their_order():
    assert data.ordinal_order(["high", "low", "mid"]) == [1, 2, 0]
    assert data.ordinal_order(["high", "unknown", "low"]) == [2, 0, 1]  # unknown stays last
    assert data.ordinal_order(["black", "white"]) == [0, 1]  # not ordinal words: as stored
    groups = pd.DataFrame({"group": ["low", "mid", "high"], "small_group": [False] * 3})
    d = pd.DataFrame([{"metric": "selection_rate", "statistic": "impact_ratio", "group": g, "value": v, "lo": v,
                       "hi": v, "reference": "low", "small_group": False}
                      for g, v in [("high", 0.6), ("low", 1.0), ("mid", 0.8)]])
    assert [r["group"] for r in data.ratio_rows(d, groups=groups)] == ["low", "mid", "high"]
