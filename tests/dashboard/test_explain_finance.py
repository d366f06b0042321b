"""Finance explanations page: callback bodies against the stored mortgage runs and the loaded model."""
import copy
import math

import dash
import numpy as np
import pandas as pd
import pytest
import torch

from deepaudit.audit.tolerance import FLOAT32_ATOL, FLOAT32_RTOL
from deepaudit.dashboard import explain_finance_data as tables
from deepaudit.dashboard import ids
from deepaudit.dashboard.figures import explain_finance as figs
from deepaudit.dashboard.live_tabular import (
    MISSING,
    LiveTabularCache,
    ig_options,
    input_text,
)
from deepaudit.dashboard.pages import explain_finance as page
from tests.dashboard.util import text as text_of


def _walk(c):
    yield c
    kids = getattr(c, "children", None)
    for k in (kids if isinstance(kids, (list, tuple)) else [kids]):
        if k is not None and not isinstance(k, (str, int, float)):
            yield from _walk(k)




def _fields(children) -> dict:
    return {c.id["name"]: c for x in children for c in _walk(x)
            if isinstance(getattr(c, "id", None), dict) and c.id.get("type") == ids.EXPLAIN_FINANCE_FIELD}


@pytest.fixture(scope="module")
def runs(ctx):
    out = {}
    for r in ctx.model_runs("mortgage"):
        run = ctx.runs.get(r["run_id"])
        out["saliency" if "saliency" in run.result["explanations"]["methods"] else "ig"] = run
    return out


@pytest.fixture(scope="module")
def run(runs):
    return runs["saliency"]


@pytest.fixture(scope="module")
def state(run):
    return {"model": "mortgage", "run_id": run.run_id}


@pytest.fixture(scope="module")
def cache(ctx):
    return LiveTabularCache(ctx.live)


@pytest.fixture(scope="module")
def live(cache, run):
    return cache.get(run.result["model"]["spec"])


@pytest.fixture(scope="module")
def explained(run):
    arr = run.arrays("attr_integrated_gradients")
    preds = run.predictions().set_index("sample_id").loc[arr["sample_id"]]
    return preds


# -- global importance --------------------------------------------------------------------------------------
def test_importance_bars_are_the_stored_table(ctx, run, state):
    figure, note = page.update_importance(ctx, "integrated_gradients", state)
    stored = pd.DataFrame(run.result["explanations"]["methods"]["integrated_gradients"]["tables"]["feature_importance"])
    top = stored.head(15)
    plotted = {y: x for tr in figure.data for x, y in zip(tr.x, tr.y)}
    assert len(plotted) == 15
    for f, label, v, direction in zip(top["feature"], top["label"], top["mean_abs"], top["direction"]):
        shown = f"{label} (missing)" if f.endswith("_missing") else label
        assert plotted[shown] == pytest.approx(v)
        colour = next(tr.marker.color for tr in figure.data if shown in tr.y)
        assert colour == {"higher raises": figs.PASS_COLOUR,
                          "higher lowers": figs.FAIL_COLOUR}.get(direction, figs.REFERENCE_COLOUR)
    assert "20 explained applicants" in note and "95% interval" in note
    assert figure.layout.xaxis.title.text == "mean |attribution| (approved logit)"
    # geographic inputs are marked in the stored labels, and the note says what the mark means when one shows
    flagged = stored[stored["feature"].isin(["suffolk", "min30", "bd", "mi", "vr"])]
    assert len(flagged) and flagged["label"].str.endswith("(geographic)").all()
    assert ("(geographic) marks an input that describes the neighbourhood" in note) == \
        top["label"].str.contains("(geographic)", regex=False).any()


def test_importance_interval_is_the_stored_mean_interval_of_the_array(run):
    t = tables.importance_table(run, "integrated_gradients")
    stored = run.result["explanations"]["methods"]["integrated_gradients"]["tables"]["feature_importance"]
    # the page shows the audit's stored bounds, unchanged
    assert t["lo"].tolist() == [r["mean_abs_lo"] for r in stored]
    assert t["hi"].tolist() == [r["mean_abs_hi"] for r in stored]
    # and they are the 95% interval of the mean |attribution| over the stored array
    arr = run.arrays("attr_integrated_gradients")["attributions"].astype(np.float64)
    names = tables.column_names(run.result, "integrated_gradients", arr)
    z = 1.959963984540054
    for i in range(3):
        a = np.abs(arr[:, names.index(t["feature"].iloc[i])])
        half = z * a.std(ddof=1) / math.sqrt(len(a))
        assert t["lo"].iloc[i] == pytest.approx(max(0, a.mean() - half), rel=FLOAT32_RTOL, abs=FLOAT32_ATOL)
        assert t["hi"].iloc[i] == pytest.approx(a.mean() + half, rel=FLOAT32_RTOL, abs=FLOAT32_ATOL)
    assert (t["lo"] <= t["mean_abs"]).all() and (t["mean_abs"] <= t["hi"]).all()


def test_importance_without_stored_interval_has_no_whiskers(run):
    """A run stored before the interval was: the means alone, nothing recomputed from the arrays."""
    from types import SimpleNamespace

    result = copy.deepcopy(run.result)
    for r in result["explanations"]["methods"]["integrated_gradients"]["tables"]["feature_importance"]:
        del r["mean_abs_lo"], r["mean_abs_hi"]
    old = SimpleNamespace(result=result, arrays=run.arrays)
    t = tables.importance_table(old, "integrated_gradients")
    assert "lo" not in t and "hi" not in t and len(t) > 0
    figure = figs.importance_figure(t, title="t", unit="u")
    assert all(tr.error_x.array is None for tr in figure.data)


def test_column_names_match_the_model_inputs(run, live):
    for method in ("integrated_gradients", "saliency"):
        arr = run.arrays(f"attr_{method}")["attributions"]
        assert tables.column_names(run.result, method, arr) == list(live.target.feature_names)
    legacy = {**run.result, "model": {k: v for k, v in run.result["model"].items() if k != "feature_names"}}
    assert tables.column_names(legacy, "integrated_gradients", arr) is None  # a run that recorded no names


def test_unknown_method_in_url_falls_back_with_a_message(ctx, run):
    text = text_of(page.body(ctx, run, {"method": "nope"}))
    assert "Unknown method 'nope'" in text and "Integrated Gradients" in text


def test_run_without_importance_tables_gives_a_message(ctx, run):
    import copy
    from types import SimpleNamespace

    result = copy.deepcopy(run.result)
    for m in result["explanations"]["methods"].values():
        m["tables"] = {}
    text = text_of(page.body(ctx, SimpleNamespace(result=result, run_id=run.run_id), {}))
    assert "stored no tabular feature attributions" in text


def test_live_model_failure_is_a_message(ctx, run, state, explained):
    class Broken:
        def get(self, spec):
            raise RuntimeError("weights file missing")

    sid = int(explained.index[0])
    assert "weights file missing" in text_of(page.update_editor(ctx, Broken(), sid, state))
    out = page.update_whatif(ctx, Broken(), sid, [], [], state, recompute=True)
    assert "Could not recompute: weights file missing" in text_of(out[0])
    children, figure = page.update_detail(ctx, sid, "integrated_gradients", state)   # stored view still works
    assert f"Applicant {sid}" in text_of(children) and len(figure.data[0].x) == 11


def test_importance_figure_without_table_is_a_placeholder():
    figure = figs.importance_figure(tables.EMPTY, title="t", unit="u")
    assert "no feature importance table" in figure.layout.annotations[0].text


# -- applicant browser ----------------------------------------------------------------------------------------
def test_table_lists_explained_applicants_with_predictions(ctx, run, state, explained):
    rows, sel, _applicant, count, _page_no = page.update_table(ctx, "all", "all", None, None, None, state,
                                                               clicked=False)
    # denied applicants first (the default applicant is the first row, on the first page), then by id
    explained = explained.sort_values("y_pred", kind="stable")
    assert [r["id"] for r in rows] == explained.index.tolist()
    assert rows[0]["id"] == page.tables.default_applicant(run) or not (explained["y_pred"] == 0).any()
    assert [r["score"] for r in rows] == pytest.approx(explained["prob_approved"].tolist())
    assert [r["decision"] for r in rows] == ["approved" if y else "denied" for y in explained["y_pred"]]
    assert [r["actual"] for r in rows] == ["approved" if y else "denied" for y in explained["y_true"]]
    assert count == "20 of 20 explained applicants" and sel == []
    reasons = {r["sample_id"]: f"{r['reason']}: {r['value']}"  # the principal reason with its decoded value
               for r in run.result["fairness"]["probes"]["reason_codes"]["table"] if r["rank"] == 1}
    for r in rows:
        assert r["reason"] == (reasons[r["id"]] if r["decision"] == "denied" else "")


def test_filters_by_decision_and_group(ctx, state, explained):
    rows, *_ , count, _ = page.update_table(ctx, "denied", "all", None, None, None, state, clicked=False)
    n_denied = int((explained["y_pred"] == 0).sum())
    assert n_denied >= 1 and len(rows) == n_denied and all(r["decision"] == "denied" for r in rows)
    assert count == f"{n_denied} of 20 explained applicants"
    rows, *_ = page.update_table(ctx, "all", "sex=male", None, None, None, state, clicked=False)
    assert len(rows) == int((explained["sex"] == "male").sum()) and all(r["sex"] == "male" for r in rows)


def test_clicking_a_row_selects_that_applicant(ctx, state):
    data, *_ = page.update_table(ctx, "all", "all", None, None, None, state, clicked=False)
    rows, sel, applicant, _, _ = page.update_table(ctx, "all", "all", [13], data, None, state, clicked=True)
    assert applicant == data[13]["id"] and sel == [13]
    # filtering keeps the selection when the applicant is still listed, and shows its page
    rows, sel, kept, _, page_no = page.update_table(ctx, "all", "all", None, data, applicant, state, clicked=False)
    assert kept is dash.no_update and rows[sel[0]]["id"] == applicant and page_no == 13 // page.PAGE_SIZE
    # clicking the row that is already selected changes nothing downstream
    assert page.update_table(ctx, "all", "all", [13], data, applicant, state, clicked=True)[2] is dash.no_update


def test_default_applicant_is_the_first_denied_among_the_listed(run, explained):
    assert tables.default_applicant(run) == int(explained.index[explained["y_pred"] == 0][0])
    assert tables.default_applicant(run, "approved") == int(explained.index[explained["y_pred"] == 1][0])
    female = explained[explained["sex"] == "female"]
    first = female.index[female["y_pred"] == 0][0] if (female["y_pred"] == 0).any() else female.index[0]
    assert tables.default_applicant(run, "all", "sex=female") == int(first)


def test_detail_of_a_denied_applicant(ctx, cache, run, state, explained, live):
    sid = int(explained.index[explained["y_pred"] == 0][0])
    children, figure = page.update_detail(ctx, sid, "integrated_gradients", state)
    text = text_of(children)
    assert f"Applicant {sid}" in text and f"P(approved) = {explained.loc[sid, 'prob_approved']:.3f}" in text
    stored = [r for r in run.result["fairness"]["probes"]["reason_codes"]["table"] if r["sample_id"] == sid]
    assert stored and all(r["reason"] in text for r in stored)
    # the bars are the stored attributions (missing indicators merged); shown + "all other" = the row's total
    arr = run.arrays("attr_integrated_gradients")
    row = arr["attributions"][list(arr["sample_id"]).index(sid)].astype(np.float64)
    assert sum(figure.data[0].x) == pytest.approx(row.sum(), abs=1e-5)
    gd = row[live.target.feature_names.index("gdlin")] + row[live.target.feature_names.index("gdlin_missing")]
    label = next(y for y in figure.data[0].y if y.startswith("credit history meets guidelines = "))
    assert figure.data[0].x[list(figure.data[0].y).index(label)] == pytest.approx(gd, abs=1e-6)
    gdlin = live.values(live.row(sid))["gdlin"]
    assert label == "credit history meets guidelines = " + f"{'yes' if gdlin else 'no'} ({gdlin:g})"  # decoded
    # stated reasons carry decoded values and say what their share is a share of
    # (numbers as the page writes every number, format_value: 0.953975 reads 0.954; codes decoded at audit time)
    from deepaudit.audit.features import Codebook

    book = Codebook.from_result(run.result)
    assert all(f"{r['reason']} : {page._shown(book, r)}" in text for r in stored if r["rank"] > 0)  # " "-joined
    assert "of what pulled the score toward denied" in text
    assert any(r["feature"] == "gdlin" and r["value"] in ("no (0)", "yes (1)") for r in stored)


def test_detail_of_an_approved_applicant_needs_no_notice(ctx, cache, state, explained):
    sid = int(explained.index[explained["y_pred"] == 1][0])
    text = text_of(page.update_detail(ctx, sid, "integrated_gradients", state)[0])
    assert "no adverse-action notice is needed" in text


def test_saliency_detail_is_unsigned(ctx, cache, state, explained):
    sid = int(explained.index[0])
    _, figure = page.update_detail(ctx, sid, "saliency", state)
    assert figure.layout.xaxis.title.text.startswith("|attribution|")


@pytest.mark.parametrize("value, message", [("abc", "is not an applicant id"), ("99999", "not among the 20 explained"),
                                            (None, "Select an applicant")])
def test_bad_applicant_gives_a_message(ctx, cache, state, value, message):
    children, _ = page.update_detail(ctx, value, "integrated_gradients", state)
    assert message in text_of(children)
    assert message in text_of(page.update_editor(ctx, cache, value, state))
    out = page.update_whatif(ctx, cache, value, [], [], state, recompute=True)
    assert message in text_of(out[0])


# -- what-if ----------------------------------------------------------------------------------------------------
def test_editor_shows_every_input_with_the_applicants_values(ctx, cache, state, explained, live):
    sid = int(explained.index[0])
    fields = _fields(page.update_editor(ctx, cache, sid, state))
    assert set(fields) == {f.name for f in live.fields} and len(fields) == 45
    values = live.values(live.row(sid))
    assert fields["obrat"].value == input_text(values["obrat"]) and fields["obrat"].type == "text"
    assert {o["value"] for o in fields["gdlin"].options} == {0.0, 1.0, MISSING}   # binary, missing allowed
    assert [o["value"] for o in fields["mortg"].options] == [1.0, 2.0, 3.0, 4.0]   # categorical
    # codes shown with their codebook meanings, the raw name only as the secondary label
    assert [o["label"] for o in fields["prop"].options] == ["condominium (1)", "single-family (2)",
                                                            "two-to-four family (3)"]
    assert fields["mortg"].options[0]["label"] == "no mortgage history (1)"
    assert {o["label"] for o in fields["gdlin"].options} == {"no (0)", "yes (1)", MISSING}
    ranges = {f.name: (f.lo, f.hi) for f in live.fields}
    assert ranges["loanamt"] == (2.0, 980.0) and ranges["obrat"] == (0.0, 95.0)     # training range
    assert live.range_source == "the training data"


def test_recompute_unedited_equals_stored_scores_and_reasons(live, run, explained):
    opts = ig_options(run.result)
    assert opts == run.result["explanations"]["methods"]["integrated_gradients"]["options"]
    reasons = pd.DataFrame(run.result["fairness"]["probes"]["reason_codes"]["table"])
    for sid, p in explained["prob_approved"].items():
        w = live.what_if(sid, {}, opts)
        assert w.original_score == pytest.approx(p, abs=1e-6) and w.edited_score == pytest.approx(p, abs=1e-6)
        assert not w.changed and not w.flipped
        if p < 0.5:
            stored = reasons[reasons["sample_id"] == sid].sort_values("rank")
            assert w.reasons_original["feature"].tolist() == stored["feature"].tolist()
            assert w.reasons_original["attribution"].to_numpy() == pytest.approx(stored["attribution"].to_numpy(),
                                                                                 abs=1e-4)


def test_editor_values_submitted_back_change_nothing(ctx, cache, state, explained, live, run):
    for sid in explained.index[:5]:
        fields = _fields(page.update_editor(ctx, cache, int(sid), state))
        w = live.what_if(int(sid), {n: c.value for n, c in fields.items()}, ig_options(run.result))
        assert not isinstance(w, dict) and w.changed == []
        assert w.edited_score == pytest.approx(explained.loc[sid, "prob_approved"], abs=1e-6)


def _model_probability(live, sid, **edits) -> float:
    row = live.row(sid)
    for k, v in edits.items():
        row[k] = np.array([v], dtype=np.float64)
    with torch.no_grad():
        return float(torch.softmax(live.target.model(live.target.preprocess(row)).double(), 1)[0, 1])


def test_edits_move_the_score_the_way_the_model_implies(live, run, explained):
    opts = ig_options(run.result)
    table = pd.DataFrame(run.result["explanations"]["methods"]["integrated_gradients"]["tables"]["feature_importance"])
    assert table.set_index("feature").loc["obrat", "direction"] == "higher lowers"
    sid = int(explained.index[0])
    obrat = live.values(live.row(sid))["obrat"]
    up, down = live.what_if(sid, {"obrat": 90}, opts), live.what_if(sid, {"obrat": 5}, opts)
    assert obrat < 90 and obrat > 5
    assert up.edited_score < up.original_score < down.edited_score
    assert up.edited_score == pytest.approx(_model_probability(live, sid, obrat=90), abs=1e-6)
    assert up.changed == [{"name": "obrat", "label": "other obligations / income (%)", "before": f"{obrat:.4g}",
                           "after": "90"}]
    # credit history meeting guidelines is the strongest approval signal: removing it denies, adding it approves
    approved = int(explained.index[(explained["y_pred"] == 1) & (live.target.eval_data.raw["gdlin"].to_numpy()[
        [live.index_of[str(s)] for s in explained.index]] == 1)][0])
    w = live.what_if(approved, {"gdlin": 0}, opts)
    assert w.edited_score < w.original_score
    assert w.edited_score == pytest.approx(_model_probability(live, approved, gdlin=0), abs=1e-6)
    assert w.attributions.set_index("feature").loc["gdlin", "edited"] < 0


def test_denied_applicant_fixed_flips_and_loses_reasons(ctx, cache, state, explained, run, live):
    sid = int(explained.index[explained["y_pred"] == 0][0])
    fields = _fields(page.update_editor(ctx, cache, sid, state))
    ids_ = [c.id for c in fields.values()]
    values = [c.value for c in fields.values()]
    values[list(fields).index("gdlin")] = 1.0
    values[list(fields).index("obrat")] = "10"
    children, figure, style, classes = page.update_whatif(ctx, cache, sid, values, ids_, state, recompute=True)
    w = live.what_if(sid, {"gdlin": 1.0, "obrat": "10"}, ig_options(run.result))
    text = text_of(children)
    assert f"{w.original_score:.3f} → {w.edited_score:.3f}" in text
    assert w.edited_score > 0.5 > w.original_score and "flipped" in text and "denied → approved" in text
    assert style == {} and figure.data[0].name == "original applicant" and set(classes) == {"xf-input"}
    assert "credit history meets guidelines 0 → 1" in text


@pytest.mark.parametrize("edits, expected", [
    ({"loanamt": 5000},
     "loan amount ($1000s) (loanamt): 5000 is outside the training range; enter a number from 2 to 980."),
    ({"obrat": "abc"}, "other obligations / income (%) (obrat): 'abc' is not a number; enter a number from 0 to 95."),
    ({"self": 3}, "self-employed (self): 3 is not an allowed value; choose one of 0, 1."),
    ({"loanamt": ""}, "loan amount ($1000s) (loanamt): a value is required; enter a number from 2 to 980."),
    ({"obrat": "9" * 40}, "is not a number"),
    ({"obrat": "nan"}, "is not a number"),
    ({"obrat": True}, "is not a number"),
    ({"no_such": 1}, "unknown field(s) ['no_such']"),
])
def test_invalid_inputs_name_the_field_and_range(ctx, cache, state, explained, live, run, edits, expected):
    sid = int(explained.index[0])
    errors = live.what_if(sid, edits, ig_options(run.result))
    assert isinstance(errors, dict) and any(expected in e for e in errors.values())
    field_ids = [{"type": ids.EXPLAIN_FINANCE_FIELD, "name": n} for n in edits]
    children, _figure, style, classes = page.update_whatif(ctx, cache, sid, list(edits.values()), field_ids, state,
                                                          recompute=True)
    assert expected in text_of(children) and style == {"display": "none"}
    if "no_such" not in edits:
        assert classes == ["xf-input xf-bad"]


def test_missing_is_allowed_only_where_the_model_has_a_missing_indicator(live, run, explained):
    sid = int(explained.index[0])
    w = live.what_if(sid, {"lines": "", "gdlin": MISSING}, ig_options(run.result))
    assert not isinstance(w, dict) and {c["after"] for c in w.changed} <= {"missing"}


def test_applicant_change_clears_the_result(ctx, cache, state):
    field_ids = [{"type": ids.EXPLAIN_FINANCE_FIELD, "name": "obrat"}]
    children, _figure, style, classes = page.update_whatif(ctx, cache, 1, [10], field_ids, state, recompute=False)
    assert children == [] and style == {"display": "none"} and len(classes) == 1




def test_ig_options_read_the_reason_codes_params_not_their_prose(run):
    rc = run.result["fairness"]["probes"]["reason_codes"]
    steps = run.result["explanations"]["methods"]["integrated_gradients"]["options"]["n_steps"]
    # the audit stores the reason codes' parameters as data (the prose method stays for display)
    assert rc["params"] == {"method": "integrated_gradients", "n_steps": steps, "max_reasons": 4}
    assert f"n_steps={steps}" in rc["method"]
    # a run without its own IG: the what-if takes the reason codes' stored step count
    no_ig = copy.deepcopy(run.result)
    del no_ig["explanations"]["methods"]["integrated_gradients"]
    assert ig_options(no_ig) == {"n_steps": steps}
    no_ig["fairness"]["probes"]["reason_codes"]["params"]["n_steps"] = steps + 3
    assert ig_options(no_ig) == {"n_steps": steps + 3}
    # the prose is never parsed: without params (a run stored before them) the explainer's defaults apply
    del no_ig["fairness"]["probes"]["reason_codes"]["params"]
    no_ig["fairness"]["probes"]["reason_codes"]["method"] = "integrated_gradients, n_steps=999"
    assert ig_options(no_ig) == {}
    no_ig["fairness"]["probes"]["reason_codes"]["params"] = {"method": "saliency", "n_steps": 5}
    assert ig_options(no_ig) == {}
