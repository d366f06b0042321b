"""Performance and Quality pages: layouts and callback bodies called directly, numbers checked against the stored
result and recounted from the stored predictions (no browser)."""
import copy
import math

import numpy as np
import pandas as pd
import pytest

from deepaudit.audit.result import AuditResult
from deepaudit.dashboard import ids
from deepaudit.dashboard.figures import quality as qfig
from deepaudit.dashboard.pages import performance, quality
from deepaudit.dashboard.pages import performance_tables as pt
from deepaudit.dashboard.pages import quality_tables as qt
from tests.audit.test_performance import old_wilson
from tests.dashboard.util import text as text_of

Z = 1.959963984540054



def _find(layout, cid):
    return next(c for c in layout._traverse() if getattr(c, "id", None) == cid)




def _run(store, model):
    return store.load(f"latest:{model}")


def _state(run):
    return {"model": run.result["model"]["name"], "run_id": run.run_id}


def _attr(result, name):
    return next(a for a in result["fairness"]["attributes"] if a["name"] == name)


# --- performance -----------------------------------------------------------------------------------------------

def test_performance_layout_restores_url_selection(ctx):
    layout = performance.build(ctx, "mortgage", attribute="sex", group="female")
    assert _find(layout, ids.PERFORMANCE_ATTRIBUTE).value == "sex"
    assert _find(layout, ids.PERFORMANCE_GROUP).value == "female"
    assert "sex = female" in _find(layout, ids.PERFORMANCE_CONFUSION).figure.layout.title.text
    # unknown attribute / group fall back to the first attribute and all samples, without an error
    layout = performance.build(ctx, "mortgage", attribute="no-such", group="<script>")
    assert _find(layout, ids.PERFORMANCE_ATTRIBUTE).value == "race"
    assert _find(layout, ids.PERFORMANCE_GROUP).value is None
    assert "Page not found" in text_of(performance.build(ctx, "no_such_model"))


def test_overall_tiles_carry_wilson_and_auc_intervals(ctx, store):
    run = _run(store, "mortgage")
    ov = run.result["performance"]["overall"]
    rows = {r["metric"]: r for r in pt.overall_rows(run)}
    lo, hi = old_wilson(ov["n_correct"], ov["n"])
    assert rows["accuracy"]["lo"] == pytest.approx(lo) and rows["accuracy"]["hi"] == pytest.approx(hi)
    assert rows["accuracy"]["value"] == f"{ov['accuracy']:.1%}"
    assert rows["roc_auc"]["lo"] < ov["roc_auc"] < rows["roc_auc"]["hi"]
    text = text_of(performance.build(ctx, "mortgage"))
    assert f"{ov['accuracy']:.1%}" in text and f"95% CI {lo:.1%} – {hi:.1%}" in text and "ROC AUC" in text


@pytest.mark.parametrize("model", ["mortgage", "mnist_cnn", "sentiment"])
def test_per_class_rows_match_stored_metrics_and_counts(store, model):
    """The stored per-class counts and Wilson intervals, checked against a recount from the predictions and the
    Wilson formula the page used to apply itself."""
    run = _run(store, model)
    pred = run.predictions()
    rows = pt.per_class_rows(run.result)
    classes = run.result["model"]["class_names"]
    assert [r["class"] for r in rows] == classes
    for i, (r, stored) in enumerate(zip(rows, run.result["performance"]["per_class"])):
        tp = int(((pred.y_true == i) & (pred.y_pred == i)).sum())
        predicted, support = int((pred.y_pred == i).sum()), int((pred.y_true == i).sum())
        assert r["support"] == f"{support:,}" and support == stored["support"]
        assert r["predicted"] == f"{predicted:,}"
        lo, hi = old_wilson(tp, support)
        assert r["recall"] == f"{stored['recall']:.1%} [{lo:.1%}, {hi:.1%}]"
        if predicted:
            lo, hi = old_wilson(tp, predicted)
            assert r["precision"] == f"{stored['precision']:.1%} [{lo:.1%}, {hi:.1%}]"


def test_rates_by_group_match_stored_intervals(ctx, store):
    run = _run(store, "mortgage")
    race = _attr(run.result, "race")
    note, options, group, fig, cols, rows, ece_fig = performance.update_groups(ctx, "race", "black", _state(run))
    assert group == "black" and [o["value"] for o in options] == [g["group"] for g in race["groups"]]
    assert [t.name for t in fig.data] == [pfig_label("accuracy"), pfig_label("tpr"), pfig_label("fpr")]
    for trace, metric in zip(fig.data, ("accuracy", "tpr", "fpr")):
        assert list(trace.y) == pytest.approx([g[metric] for g in race["groups"]])
        assert [y + e for y, e in zip(trace.y, trace.error_y.array)] == pytest.approx(
            [g[f"{metric}_hi"] for g in race["groups"]])
        assert [y - e for y, e in zip(trace.y, trace.error_y.arrayminus)] == pytest.approx(
            [g[f"{metric}_lo"] for g in race["groups"]])
    assert {"tpr", "fpr", "ece"} <= set(cols) and "'approved' as the favourable (positive) outcome" in note
    black = next(r for r in rows if r["group"] == "black")
    g = race["groups"][0]
    assert black["accuracy"] == f"{g['accuracy']:.1%} [{g['accuracy_lo']:.1%}, {g['accuracy_hi']:.1%}]"
    # ECE by group: the stored values, the policy maximum as a line
    calib = race["calibration"]
    assert list(ece_fig.data[0].y) == pytest.approx([c["ece"] for c in calib])
    assert any(s.y0 == pytest.approx(run.result["fairness"]["policy"]["ece_max"]) for s in ece_fig.layout.shapes)


def pfig_label(metric):
    from deepaudit.dashboard.figures.performance import METRIC_LABELS

    return METRIC_LABELS[metric]


def test_vision_cohort_accuracy_is_recounted_from_predictions(ctx, store):
    """A multi-class model's cohorts store "correct prediction" as the outcome: the page's accuracy per cohort
    must be the share of correct predictions in the cohort (not the always-1 stored 'accuracy' field)."""
    run = _run(store, "mnist_cnn")
    pred = run.predictions()
    note, _, _, fig, cols, _rows, _ = performance.update_groups(ctx, "ink_mass", None, _state(run))
    assert len(fig.data) == 1 and "tpr" not in cols and "ece" not in cols and "multi-class" in note
    groups = [g["group"] for g in _attr(run.result, "ink_mass")["groups"]]
    expected = [float((pred.y_true == pred.y_pred)[pred.ink_mass == g].mean()) for g in groups]
    assert list(fig.data[0].x) == groups and list(fig.data[0].y) == pytest.approx(expected)
    assert min(expected) < 1.0
    _, _, cal_note, rel_fig = performance.update_confusion(ctx, "ink_mass", None, _state(run))
    assert "multi-class" in cal_note and len(rel_fig.data) == 0


def test_confusion_matrix_matches_predictions_and_stored_group_cells(ctx, store):
    run = _run(store, "mortgage")
    pred = run.predictions()
    note, fig, _, _ = performance.update_confusion(ctx, "race", None, _state(run))
    counts = np.asarray(fig.data[0].customdata)
    expected = pd.crosstab(pred.y_true, pred.y_pred).to_numpy()
    assert counts.tolist() == expected.tolist()
    assert list(fig.data[0].x) == run.result["model"]["class_names"] and f"all {len(pred):,}" in note
    assert np.asarray(fig.data[0].z).sum(axis=1) == pytest.approx([1.0, 1.0])  # row shares
    # all samples: the stored matrix, drawn as stored, with the stored accuracy
    stored = run.result["performance"]["confusion"]
    assert counts.ravel().tolist() == [c["count"] for c in stored]
    assert np.asarray(fig.data[0].z).ravel().tolist() == [c["row_share"] for c in stored]
    ov = run.result["performance"]["overall"]
    assert note.startswith("Stored by the audit") and f"{ov['n_correct']:,} correct ({ov['accuracy']:.1%})" in note
    # one group: the cells equal the stored confusion counts of that group (positive = 'approved', index 1)
    for attribute, group in (("race", "black"), ("sex", "unknown"), ("race_x_sex", "black & female")):
        g = next(x for x in _attr(run.result, attribute)["groups"] if x["group"] == group)
        note, fig, cal_note, rel_fig = performance.update_confusion(ctx, attribute, group, _state(run))
        assert np.asarray(fig.data[0].customdata).tolist() == [[g["tn"], g["fp"]], [g["fn"], g["tp"]]]
        assert f"{g['n']:,} samples with {attribute} = {group}" in note
        assert note.startswith("Counted by the audit from the stored predictions")
        n_correct = g["tn"] + g["tp"]
        assert f"{n_correct:,} correct ({n_correct / g['n']:.1%})" in note
        # the reliability curves follow the group: one curve (plus the diagonal), the stored bins
        assert [t.name for t in rel_fig.data] == ["perfect calibration", group]
        stored = [r for r in _attr(run.result, attribute)["reliability"]
                  if r["group"] == group and r["observed_rate"] is not None]
        assert list(rel_fig.data[1].y) == pytest.approx([r["observed_rate"] for r in stored])
        assert f"{attribute} = {group} only" in cal_note


def test_performance_bad_input_gives_messages_not_tracebacks(ctx, store):
    run = _run(store, "sentiment")
    out = performance.update_groups(ctx, "no-such", None, _state(run))
    assert "'no-such' is not an attribute of this run" in out[0]
    assert performance.update_groups(ctx, "source", None, {"run_id": "../../etc"})[0] == performance.NO_RUN
    assert performance.update_groups(ctx, "source", None, None)[0] == performance.NO_RUN
    assert performance.update_confusion(ctx, "source", None, {"run_id": 7})[0] == performance.NO_RUN
    note, fig, _, _ = performance.update_confusion(ctx, "source", "not-a-group", _state(run))
    assert "all " in note and np.asarray(fig.data[0].customdata).sum() == run.result["performance"]["overall"]["n"]


def test_performance_without_fairness_or_predictions(store, tmp_path):
    """An older run: no fairness section and no predictions file. Every section says what is missing."""
    src = _run(store, "mortgage")
    result = copy.deepcopy(src.result)
    result["fairness"] = {"status": "skipped"}
    stored_confusion = result["performance"].pop("confusion")  # a run stored before the matrix was
    run = AuditResult.from_dict(result, path=tmp_path)  # tmp_path holds no predictions.parquet
    text = text_of(performance.body(run, "race", "black"))
    assert performance.NO_FAIRNESS in text and pt.NO_PREDICTIONS in text and "not stored" in text
    assert f"{result['performance']['overall']['accuracy']:.1%}" in text  # the intervals are stored in the result
    assert "95% CI" in text
    # with its stored matrix the same run draws the confusion matrix without any predictions table
    result["performance"]["confusion"] = stored_confusion
    run = AuditResult.from_dict(result, path=tmp_path)
    note, fig, _, _ = performance.update_confusion_for(run.result, None, None, None)
    assert np.asarray(fig.data[0].customdata).ravel().tolist() == [c["count"] for c in stored_confusion]
    assert note.startswith("Stored by the audit") and pt.NO_PREDICTIONS not in note
    ov = result["performance"]["overall"]
    assert f"{ov['n_correct']:,} correct ({ov['accuracy']:.1%})" in note


def _pre_interval_run(src, tmp_path):
    """``src`` as a run stored before intervals were: no ``intervals``, no per-class bounds, no predictions file."""
    result = copy.deepcopy(src.result)
    perf = result["performance"]
    del perf["intervals"], perf["per_class_interval"]
    perf["per_class"] = [{k: r[k] for k in ("class", "precision", "recall", "f1", "support")}
                         for r in perf["per_class"]]
    return AuditResult.from_dict(result, path=tmp_path, validate=False)  # as stored: no migration fills them in


def test_run_without_stored_intervals_shows_values_and_not_stored(store, tmp_path):
    src = _run(store, "mortgage")
    run = _pre_interval_run(src, tmp_path)
    ov = run.result["performance"]["overall"]
    rows = {r["metric"]: r for r in pt.overall_rows(run)}
    assert set(rows) == {"accuracy", "roc_auc", "log_loss", "brier"}
    for m, r in rows.items():  # the value, never a recomputed interval
        assert r["raw"] == ov[m] and r["lo"] is None and r["hi"] is None and r["interval"] == ""
        assert r["method"] == pt.NOT_STORED
    per_class = pt.per_class_rows(run.result)
    for r, s in zip(per_class, run.result["performance"]["per_class"]):
        assert r["recall"] == f"{s['recall']:.1%}" and r["precision"] == f"{s['precision']:.1%}"
        assert r["predicted"] == "–" and r["support"] == f"{s['support']:,}"
    assert "stores no per-class intervals" in pt.per_class_note(run.result)
    text = text_of(performance.body(run, "race", None))
    assert "95% CI" not in text and "no interval stored" in text and f"{ov['accuracy']:.1%}" in text
    # the same run with its intervals: the tiles show exactly the stored bounds
    stored = {r["metric"]: r for r in pt.overall_rows(src)}
    for m, iv in src.result["performance"]["intervals"].items():
        assert (stored[m]["lo"], stored[m]["hi"], stored[m]["method"]) == (iv["lo"], iv["hi"], iv["method"])
    assert "Wilson score interval, 95%" in pt.per_class_note(src.result)


# --- quality ----------------------------------------------------------------------------------------------------

def test_quality_check_table_lists_every_quality_check(ctx, store):
    run = _run(store, "mnist_cnn")
    expected = [c for c in run.result["checks"] if not c["id"].startswith(("fairness.", "counterfactual_"))]
    layout = quality.build(ctx, "mnist_cnn")
    table = _find(layout, ids.QUALITY_CHECKS)
    assert [r["id"] for r in table.data] == [c["id"] for c in expected]
    assert {"completeness_ig", "deletion_auc_vs_random", "insertion_auc_vs_random", "shortcut_corner_mark"} <= {
        r["id"] for r in table.data}
    for row, c in zip(table.data, expected):
        assert row["result"] == ("pass" if c["passed"] else "FAIL")
        assert row["threshold"] == f"{'≤' if c['comparison'] == '<=' else '≥'} {c['threshold']:g}"
        assert row["value"] == qt.num(c["value"])
    failed = quality.update_checks(ctx, "failed", _state(run))
    assert [r["id"] for r in failed] == [c["id"] for c in expected if not c["passed"]]
    # sentiment's counterfactual probes are fairness findings, not explanation quality
    sent = quality.update_checks(ctx, "all", _state(_run(store, "sentiment")))
    assert sent and not any(r["id"].startswith("counterfactual_") for r in sent)


def test_quality_page_covers_every_published_method(ctx, store):
    """Each method gets a row with the verdict of each check family, or says why a family does not apply."""
    from deepaudit.audit.quality import suite
    from deepaudit.audit.quality.completeness import COMPLETENESS_UNDEFINED

    run = _run(store, "mnist_cnn")
    layout = quality.build(ctx, "mnist_cnn")
    methods = list(run.result["explanations"]["methods"])
    assert methods == ["integrated_gradients", "saliency"]
    cov = {r["method"]: r for r in _find(layout, ids.QUALITY_COVERAGE).data}
    assert list(cov) == methods
    for m in methods:
        for fam in suite.FAMILIES:
            checks = [c for c in run.result["checks"] if c["method"] == m
                      and c["family"] in suite.CHECK_FAMILIES_OF[fam]]
            if checks:
                assert cov[m][fam].startswith("pass" if all(c["passed"] for c in checks) else "FAIL"), (m, fam)
            else:
                assert cov[m][fam] == suite.NOT_APPLICABLE, (m, fam)
    assert _find(layout, ids.QUALITY_NOT_APPLICABLE).data == [
        {"method": "saliency", "check": "completeness", "status": suite.NOT_APPLICABLE,
         "reason": COMPLETENESS_UNDEFINED["saliency"]}]
    text = text_of(layout)
    quality_checks = [c for c in run.result["checks"] if not c["id"].startswith(("fairness.", "counterfactual_"))]
    n_passed = sum(c["passed"] for c in quality_checks)
    assert f"{n_passed} of {len(quality_checks)} explanation-quality checks passed across 2 methods" in text
    assert "Completeness is not defined for Saliency" in text
    # every method's deletion/insertion and robustness, as stored
    curves = _find(layout, ids.QUALITY_CURVES_METHODS).data
    assert [r["method"] for r in curves] == methods
    q = run.result["quality"]
    assert curves[1]["deletion_ratio"] == qt.num(q["deletion_insertion_saliency"]["summary"]["deletion_ratio"])
    rob = _find(layout, ids.QUALITY_ROBUSTNESS_METHODS).data
    assert rob[1]["infidelity"] == qt.num(q["robustness_saliency"]["summary"]["relative_infidelity"]["mean"])
    checks_table = _find(layout, ids.QUALITY_CHECKS).data
    assert {r["id"]: r["method"] for r in checks_table}["deletion_auc_vs_random_saliency"] == "saliency"
    # text: infidelity and max-sensitivity do not apply to token inputs, for either method
    sent = _find(quality.build(ctx, "sentiment"), ids.QUALITY_NOT_APPLICABLE).data
    assert {(r["method"], r["check"]) for r in sent} >= {("integrated_gradients", "infidelity / max-sensitivity")}


def test_quality_layout_restores_url_selection(ctx):
    layout = quality.build(ctx, "mnist_cnn", checks="failed", similarity="abs")
    assert _find(layout, ids.QUALITY_CHECK_FILTER).value == "failed"
    assert _find(layout, ids.QUALITY_SIMILARITY).value == "abs"
    layout = quality.build(ctx, "mnist_cnn", checks="nonsense", similarity="<b>")
    assert _find(layout, ids.QUALITY_CHECK_FILTER).value == "all"
    assert _find(layout, ids.QUALITY_SIMILARITY).value == "checked"


def test_completeness_section_matches_stored_summary(ctx, store):
    run = _run(store, "mortgage")
    q = run.result["quality"]["completeness"]
    layout = quality.build(ctx, "mortgage")
    fig = _find(layout, ids.QUALITY_COMPLETENESS).figure
    assert list(fig.data[0].x) == [s["n_steps"] for s in q["summary"]["steps_tried"]]
    assert list(fig.data[0].y) == pytest.approx([s["share_within_tol"] for s in q["summary"]["steps_tried"]])
    assert any(s.y0 == pytest.approx(q["summary"]["share_required"]) for s in fig.layout.shapes)
    rows = _find(layout, ids.QUALITY_COMPLETENESS_TABLE).data
    errors = sorted(q["tables"]["errors"], key=lambda r: -r["relative_error"])
    assert [r["sample"] for r in rows] == [e["sample"] for e in errors]
    assert rows[0]["relative_error"] == f"{errors[0]['relative_error']:.1%}"
    assert {r["target"] for r in rows} <= set(run.result["model"]["class_names"])
    assert sum(r["within"] == "yes" for r in rows) / len(rows) == pytest.approx(q["summary"]["share_within_tol"])


@pytest.mark.parametrize("model", ["mortgage", "sentiment", "mnist_cnn"])
def test_deletion_insertion_curves_match_stored_tables(ctx, store, model):
    run = _run(store, model)
    q = run.result["quality"]["deletion_insertion"]
    fig = _find(quality.build(ctx, model), ids.QUALITY_CURVES).figure
    curves = pd.DataFrame(q["tables"]["curves"])
    assert len(fig.data) == 4
    for trace, (curve, order) in zip(fig.data, [("deletion", "attribution"), ("deletion", "random"),
                                                ("insertion", "attribution"), ("insertion", "random")]):
        c = curves[(curves.curve == curve) & (curves.order == order)].sort_values("fraction")
        assert list(trace.y) == pytest.approx(c.probability.tolist())
        auc = q["summary"][("random_" if order == "random" else "") + f"{curve}_auc"]
        assert f"AUC {auc:.3f}" in trace.name
    rows = _find(quality.build(ctx, model), ids.QUALITY_CURVES_TABLE).data
    assert [r["ratio"] for r in rows] == [qt.num(q["summary"]["deletion_ratio"]),
                                          qt.num(q["summary"]["insertion_ratio"])]
    iv = q["summary"]["auc_intervals"]
    for row, curve in zip(rows, ("deletion", "insertion")):
        for col, order in (("auc", "attribution"), ("random_auc", "random")):
            r = iv[curve][order]
            assert row[col] == f"{qt.num(r['value'])} [{qt.num(r['lo'])}, {qt.num(r['hi'])}]"
    # the stored interval is the per-sample mean's: check it against the stored per-sample AUCs
    per = pd.DataFrame(q["tables"]["auc"])
    d = per[(per.curve == "deletion") & (per.order == "attribution")].auc
    half = Z * d.std(ddof=1) / math.sqrt(len(d))
    assert iv["deletion"]["attribution"]["lo"] == pytest.approx(max(0.0, q["summary"]["deletion_auc"] - half))
    assert iv["deletion"]["attribution"]["n"] == len(d)
    assert "stored by the audit" in text_of(quality.build(ctx, model))


def test_deletion_insertion_intervals_not_stored_or_not_computable(store, tmp_path):
    src = _run(store, "mortgage")
    result = copy.deepcopy(src.result)
    s = result["quality"]["deletion_insertion"]["summary"]
    iv = s.pop("auc_intervals")  # a run stored before the intervals were
    run = AuditResult.from_dict(result, path=tmp_path, validate=False)
    _, _, _, rows = qt.deletion_insertion(run.result)
    assert rows[0]["auc"] == f"{qt.num(s['deletion_auc'])} (interval not stored)"
    assert "not stored" in qt.auc_interval_note(s)
    assert "not stored" in text_of(quality.body(run, None, None))
    # a single sample: the stored record has null bounds and says why; the page shows the mean and the reason
    iv["insertion"]["random"].update(lo=None, hi=None, n=1,
                                     method="normal approximation of the per-sample mean, 95%; not computable "
                                            "from a single sample")
    s["auc_intervals"] = iv
    _, _, _, rows = qt.deletion_insertion(result)
    assert rows[1]["random_auc"] == f"{qt.num(s['random_insertion_auc'])} (not computable from a single sample)"
    assert rows[0]["auc"].endswith("]")


def test_randomization_lines_per_method_and_measure(ctx, store):
    run = _run(store, "mnist_cnn")
    q = run.result["quality"]
    fig = quality.update_randomization(ctx, "checked", _state(run))
    methods = [v["summary"]["method"] for k, v in q.items() if k.startswith("randomization_")]
    assert len(fig.data) == len(methods) == 2
    for trace, m in zip(fig.data, methods):
        measure = q[f"randomization_{m}"]["summary"]["measure"]
        layers = q[f"randomization_{m}"]["tables"]["layers"]
        assert trace.name.startswith(m)
        assert list(trace.y) == pytest.approx([r[f"mean_{measure}"] for r in layers])
        check = next(c for c in run.result["checks"] if c["id"] == f"sanity_randomization_{m}")
        assert trace.y[-1] == pytest.approx(check["value"])  # the checked value is the last point
    assert any(s.y0 == pytest.approx(0.5) for s in fig.layout.shapes)
    signed = quality.update_randomization(ctx, "signed", _state(run))
    for trace, m in zip(signed.data, methods):
        assert list(trace.y) == pytest.approx([r["mean_spearman_signed"]
                                               for r in q[f"randomization_{m}"]["tables"]["layers"]])
    assert "signed" in signed.layout.title.text
    assert quality.update_randomization(ctx, "abs", {"run_id": "x"}).layout.annotations[0].text == quality.NO_RUN


def test_robustness_and_shortcut_sections(ctx, store):
    run = _run(store, "mnist_cnn")
    layout = quality.build(ctx, "mnist_cnn")
    fig = _find(layout, ids.QUALITY_ROBUSTNESS).figure
    s = run.result["quality"]["robustness"]["summary"]
    means = [t.y[0] for t in fig.data if t.name.startswith("mean")]
    assert means == [s["relative_infidelity"]["mean"], s["max_sensitivity"]["mean"]]  # the stored values, as stored
    # a stored mean that differs from the mean of the points is what is drawn (nothing is recomputed)
    per = pd.DataFrame(run.result["quality"]["robustness"]["tables"]["per_sample"])
    moved = qfig.robustness_figure(per, means={"relative_infidelity": 0.123, "max_sensitivity": None})
    drawn = [t for t in moved.data if t.name.startswith("mean")]
    assert [t.y[0] for t in drawn] == [0.123] and drawn[0].xaxis == "x"
    assert any("mean not stored" in a.text for a in moved.layout.annotations)
    samples = [y for t in fig.data if t.name.startswith("sample") and t.xaxis == "x" for y in t.y]
    per_sample = run.result["quality"]["robustness"]["tables"]["per_sample"]
    assert sorted(samples) == pytest.approx(sorted(r["relative_infidelity"] for r in per_sample))
    probe = run.result["explanations"]["shortcut_probes"][0]["summary"]
    rows = _find(layout, ids.QUALITY_SHORTCUTS).data
    assert rows[0]["probe"] == probe["probe"] and rows[0]["ratio"] == f"{qt.num(probe['ratio'], 2)}×"
    check = next(c for c in run.result["checks"] if c["id"] == f"shortcut_{probe['probe']}")
    assert rows[0]["result"] == ("pass" if check["passed"] else "FAIL")
    # text model: no infidelity, no shortcut probes -> said plainly
    text = text_of(quality.build(ctx, "sentiment"))
    assert "Not in this run: infidelity and max-sensitivity" in text and "Not in this run: shortcut probes" in text


def test_quality_without_quality_section(store, tmp_path):
    src = _run(store, "mortgage")
    result = copy.deepcopy(src.result)
    result["quality"] = {}
    result["checks"] = [c for c in result["checks"] if c["id"].startswith("fairness.")]
    layout = quality.body(AuditResult.from_dict(result, path=tmp_path), None, None)
    text = text_of(layout)
    for what in ("explanation-quality checks", "the completeness check", "deletion/insertion curves",
                 "infidelity and max-sensitivity", "the randomization sanity check", "shortcut probes"):
        assert f"Not in this run: {what}" in text
    # the similarity control stays (hidden) so the URL-sync callback always has its input
    assert any(getattr(c, "id", None) == ids.QUALITY_SIMILARITY for c in html_div(layout)._traverse())


def html_div(children):
    from dash import html

    return html.Div(children)


def test_model_card_metrics_are_listed_once(ctx, store):
    rows = {r["metric"]: r["value"] for r in pt.card_metric_rows(_run(store, "sentiment").result)}
    card = _run(store, "sentiment").result["performance"]["card_metrics"]
    assert rows["accuracy_imdb"] == f"{card['accuracy_imdb']:.1%}" and rows["n_imdb"] == f"{card['n_imdb']:,}"
    assert "accuracy" not in rows and "n_test" not in rows  # already in the tiles
    assert "accuracy imdb" in text_of(performance.build(ctx, "sentiment"))


def test_completeness_table_sends_only_the_largest_errors_of_a_large_run():
    """A run explaining thousands of samples ships the worst MAX_SAMPLE_ROWS, says so, and keeps their order."""
    n = quality.MAX_SAMPLE_ROWS * 3 + 7
    rng = np.random.default_rng(3)
    errors = [{"sample": i, "target": 0, "logit": 0.1, "path_start_logit": 0.0, "attribution_sum": 0.1,
               "abs_error": float(e), "relative_error": float(e)} for i, e in enumerate(rng.uniform(0, 0.2, n))]
    result = {"model": {"class_names": ["deny", "approve"]}, "checks": [],
              "quality": {"completeness": {"summary": {"n_steps": 64, "tol": 0.05, "n_samples": n,
                                                       "share_required": 0.95, "steps_tried": []},
                                           "tables": {"errors": errors}}}}
    div = quality._ig_completeness(result, qt.completeness(result))
    rows = _find(div, ids.QUALITY_COMPLETENESS_TABLE).data
    worst = sorted(errors, key=lambda r: -r["relative_error"])[:quality.MAX_SAMPLE_ROWS]
    assert [r["sample"] for r in rows] == [e["sample"] for e in worst]
    assert f"largest errors of {n:,} samples" in text_of(div)
