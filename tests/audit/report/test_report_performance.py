"""Report section 4 (performance) formats the intervals the audit stored; it computes none of them."""
from __future__ import annotations

import ast
import copy
from pathlib import Path

import numpy as np
import pytest

from deepaudit.audit.performance import performance_section as compute_performance
from deepaudit.audit.report.model import NOT_STORED, performance_section
from deepaudit.audit.result import AuditResult
from deepaudit.audit.store import to_jsonable
from deepaudit.audit.tolerance import FLOAT64_ATOL
from tests.audit.test_performance import old_hanley_mcneil, old_mean_interval, old_wilson

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("model", ["mortgage", "mnist_cnn_shortcut"])
def test_report_rows_are_the_stored_intervals_and_the_previous_formulas(reports, model):
    run, data = reports[model]["run"], reports[model]["json"]
    perf = run.result["performance"]
    rows = {r["metric"]: r for r in data["performance"]["overall"]}
    assert list(rows) == list(perf["intervals"])
    for m, r in rows.items():
        iv = perf["intervals"][m]
        assert (r["value"], r["lo"], r["hi"], r["n"], r["method"]) == (
            iv["value"], iv["lo"], iv["hi"], iv["n"], iv["method"])
    # The numbers are those the report computed before they were stored (its formulas, from the predictions).
    # Both sides are float64 from the same stored float64 probabilities (no model is re-run), hence FLOAT64_ATOL.
    ov, pred = perf["overall"], run.predictions()
    y = pred["y_true"].to_numpy()
    probs = pred[[f"prob_{c}" for c in run.result["model"]["class_names"]]].to_numpy()
    assert (rows["accuracy"]["lo"], rows["accuracy"]["hi"]) == pytest.approx(old_wilson(ov["n_correct"], ov["n"]),
                                                                              abs=FLOAT64_ATOL)
    per = -np.log(np.clip(probs[np.arange(len(y)), y], 1e-15, 1))
    assert (rows["log_loss"]["lo"], rows["log_loss"]["hi"]) == pytest.approx(old_mean_interval(per, ov["log_loss"]),
                                                                              abs=FLOAT64_ATOL)
    if model == "mortgage":
        assert (rows["roc_auc"]["lo"], rows["roc_auc"]["hi"]) == pytest.approx(
            old_hanley_mcneil(ov["roc_auc"], int((y == 1).sum()), int((y == 0).sum())), abs=FLOAT64_ATOL)
        per = (probs[:, 1] - y) ** 2
        assert (rows["brier"]["lo"], rows["brier"]["hi"]) == pytest.approx(old_mean_interval(per, ov["brier"]),
                                                                            abs=FLOAT64_ATOL)
    # Per class: the stored Wilson bounds are carried into the JSON report.
    for r, s in zip(data["performance"]["per_class"], perf["per_class"]):
        assert r["class"] == s["class"] and r["recall_lo"] == s["recall_lo"] and r["precision_hi"] == s["precision_hi"]
    assert data["performance"]["per_class_method"] == "Wilson score interval, 95%"


@pytest.mark.parametrize("model", ["mortgage", "mnist_cnn_shortcut"])
def test_pure_function_reproduces_the_stored_section_from_predictions(reports, model):
    """The migration path for older runs: predictions.parquet alone gives the stored numbers."""
    run = reports[model]["run"]
    pred = run.predictions()
    classes = run.result["model"]["class_names"]
    again = compute_performance(pred["y_true"].to_numpy(), pred[[f"prob_{c}" for c in classes]].to_numpy(), classes,
                                run.result["performance"]["card_metrics"])
    assert to_jsonable(again) == run.result["performance"]


def test_old_run_without_stored_intervals_shows_not_stored_and_computes_nothing(reports):
    result = copy.deepcopy(reports["mortgage"]["run"].result)
    perf = result["performance"]
    del perf["intervals"], perf["per_class_interval"]
    perf["per_class"] = [{k: r[k] for k in ("class", "precision", "recall", "f1", "support")}
                         for r in perf["per_class"]]
    # No predictions on this run (no directory, none attached): reading them to compute an interval would raise.
    sec = performance_section(AuditResult.from_dict(result), {"attributes": []})
    assert [r["metric"] for r in sec["overall"]] == ["accuracy", "roc_auc", "log_loss", "brier"]
    for r in sec["overall"]:
        assert r["value"] == perf["overall"][r["metric"]] and r["lo"] is None and r["hi"] is None
        assert r["method"] == NOT_STORED and r["n"] == perf["overall"]["n"]
    assert all(r["recall_lo"] is None for r in sec["per_class"]) and sec["per_class_method"] is None


def test_no_interval_math_left_in_report_or_performance_page():
    """No statistics library and no interval helper is used where the report and the performance page format."""
    files = [f for f in sorted((ROOT / "audit" / "report").glob("*.py"))] + [
        ROOT / "dashboard" / "pages" / "performance_tables.py", ROOT / "dashboard" / "pages" / "performance.py",
        ROOT / "dashboard" / "figures" / "performance.py"]
    banned_modules = ("scipy", "sklearn", "statsmodels", "deepaudit.audit.fairness.intervals",
                      "deepaudit.audit.performance")
    banned_names = {"wilson", "wilson_interval", "hanley_mcneil_interval", "mean_interval", "Z95", "sqrt", "std",
                    "roc_auc_score", "log_loss", "binomtest", "sem", "ppf"}
    hits = []
    for f in files:
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                hits += [f"{f.name}:{node.lineno} imports {m}" for m in mods if m.startswith(banned_modules)]
            name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
            if name in banned_names:
                hits.append(f"{f.name}:{node.lineno} uses {name}")
            if (isinstance(node, ast.Attribute) and node.attr == "log"
                    and getattr(node.value, "id", "") in ("np", "math")):
                hits.append(f"{f.name}:{node.lineno} uses a logarithm")
    assert not hits, hits


def test_html_per_class_rows_show_the_stored_wilson_bounds(reports):
    from deepaudit.audit.report.fmt import interval

    run = reports["mortgage"]["run"]
    html = reports["mortgage"]["paths"][".html"].read_text()
    section = html[html.index("<h3>Per class</h3>"):html.index("<h3>By group</h3>")]
    for r in run.performance.per_class:
        assert interval(r["precision_lo"], r["precision_hi"]) in section
        assert interval(r["recall_lo"], r["recall_hi"]) in section
    assert run.performance.per_class_interval["method"] in section
