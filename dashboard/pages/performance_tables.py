"""Tidy tables for the performance page, from a stored run. Pure functions: no Dash, no figures.

Every number is stored by the audit: overall metrics and their intervals (``performance.intervals``, read
through :func:`deepaudit.audit.report.model.overall_rows`, the report's rows), per-class metrics with their Wilson
intervals
and counts (``performance.per_class``; see :mod:`deepaudit.audit.performance`), group rates, ECE and reliability bins
(the
fairness tables). A run stored before intervals were stored shows its metrics without intervals ("no interval
stored"); nothing is recomputed here. The confusion matrix of all samples is stored (``performance.confusion``);
for one group (and for a run stored before the matrix was) the page selects the group's rows of
``predictions.parquet`` and the audit's :func:`deepaudit.audit.confusion.confusion_counts` / ``confusion_summary`` count
them, so no count or share is computed here.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from deepaudit.audit.confusion import COLUMNS as CONFUSION_COLUMNS
from deepaudit.audit.confusion import confusion_counts, confusion_summary
from deepaudit.audit.report.model import NOT_STORED
from deepaudit.audit.report.model import overall_rows as report_overall_rows
from deepaudit.audit.store import Run

NO_PREDICTIONS = ("This run stores no confusion matrix and has no readable predictions table, so the confusion "
                  "matrix cannot be drawn (not stored).")
BAD_LABELS = ("The stored predictions hold labels outside the model's {k} classes; the confusion matrix is not "
              "drawn. Re-run the audit.")
UNKNOWN = "unknown"  # the audit's label for missing sensitive values (deepaudit.audit.fairness.groups.UNKNOWN)

METRICS = {  # metric -> (label, format)
    "accuracy": ("Accuracy", "pct"), "roc_auc": ("ROC AUC", "num"),
    "log_loss": ("Log loss (nats, lower is better)", "num"),
    "brier": ("Brier score (lower is better)", "num"),
}
PER_CLASS_COLUMNS = [("class", "Class"), ("precision", "Precision [95% CI]"), ("recall", "Recall [95% CI]"),
                     ("f1", "F1"), ("support", "Support (true)"), ("predicted", "Predicted")]
GROUP_COLUMNS = [("group", "Group"), ("n", "n"), ("share", "Share"), ("accuracy", "Accuracy [95% CI]"),
                 ("tpr", "TPR [95% CI]"), ("fpr", "FPR [95% CI]"), ("ece", "ECE [95% CI]"), ("note", "Note")]


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) and math.isfinite(x)


def fmt(x: Any, kind: str = "num") -> str:
    if not _finite(x):
        return "–"
    return f"{x:.1%}" if kind == "pct" else f"{x:.3f}"


def ci(v: Any, lo: Any, hi: Any, kind: str = "pct") -> str:
    if not _finite(v):
        return "–"
    return f"{fmt(v, kind)} [{fmt(lo, kind)}, {fmt(hi, kind)}]" if _finite(lo) and _finite(hi) else fmt(v, kind)


def predictions(run: Run) -> pd.DataFrame | None:
    """The run's per-sample predictions, or None when an older or damaged run has none."""
    try:
        pred = run.predictions()
    except (OSError, ValueError):
        return None
    return pred if {"y_true", "y_pred"} <= set(pred.columns) else None


def overall_rows(run: Run) -> list[dict[str, Any]]:
    """One row per overall metric: label, formatted value and stored interval, n, interval method."""
    overall = run.result.get("performance", {}).get("overall", {})
    rows = [r for r in report_overall_rows(run.result.get("performance", {})) if _finite(r["value"])]
    seen = {r["metric"] for r in rows}
    rows += [{"metric": k, "value": v, "lo": None, "hi": None, "n": overall.get("n", 0), "method": NOT_STORED}
             for k, v in overall.items() if k not in seen and k not in ("n", "n_correct") and _finite(v)]
    out = []
    for r in rows:
        label, kind = METRICS.get(r["metric"], (r["metric"].replace("_", " "), "num"))
        has = _finite(r.get("lo")) and _finite(r.get("hi"))
        out.append({"metric": r["metric"], "label": label, "value": fmt(r["value"], kind), "raw": r["value"],
                    "lo": r.get("lo"), "hi": r.get("hi"), "n": int(r.get("n") or 0),
                    "interval": f"{fmt(r['lo'], kind)} – {fmt(r['hi'], kind)}" if has else "",
                    "method": r.get("method", "")})
    return out


def card_metric_rows(result: dict[str, Any]) -> list[dict[str, str]]:
    """Model-card metrics that the overall tiles do not already show (e.g. accuracy per source)."""
    perf = result.get("performance", {})
    shown = set(perf.get("overall", {})) | {"n_test", "n_correct"}
    rows = []
    for k, v in perf.get("card_metrics", {}).items():
        if k in shown or not _finite(v):
            continue
        if k.startswith("n_"):
            value = f"{int(v):,}"
        else:
            value = fmt(v, "pct" if 0 <= v <= 1 and any(w in k for w in ("accuracy", "rate", "share")) else "num")
        rows.append({"metric": k, "label": k.replace("_", " "), "value": value})
    return rows


def per_class_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Stored precision / recall / F1 per class with their stored Wilson intervals and counts.

    A run stored before per-class intervals were stored shows the point values only, and "–" for the count of
    samples predicted as the class.
    """
    classes = [str(c) for c in result["model"].get("class_names", [])]
    stored = {str(r["class"]): r for r in result.get("performance", {}).get("per_class", [])}
    rows = []
    for c in classes:
        r = stored.get(c, {})
        support, predicted = r.get("support"), r.get("n_predicted")
        rows.append({"class": c, "precision": ci(r.get("precision"), r.get("precision_lo"), r.get("precision_hi")),
                     "recall": ci(r.get("recall"), r.get("recall_lo"), r.get("recall_hi")), "f1": fmt(r.get("f1")),
                     "support": f"{int(support):,}" if _finite(support) else "–",
                     "predicted": f"{int(predicted):,}" if _finite(predicted) else "–"})
    return rows


def per_class_note(result: dict[str, Any]) -> str:
    """What the per-class intervals are, as the run stored it."""
    method = (result.get("performance", {}).get("per_class_interval") or {}).get("method")
    if not method:
        return "This run stores no per-class intervals (it was written before they were stored)."
    return (f"Intervals: {method} (recall over the class's support, precision over the samples predicted as the "
            "class), stored by the audit.")


def group_names(attr: dict[str, Any] | None) -> list[str]:
    return [str(g["group"]) for g in (attr or {}).get("groups", [])]


def group_options(attr: dict[str, Any] | None) -> list[dict[str, str]]:
    return [{"label": f"{g['group']} (n = {int(g['n']):,})", "value": str(g["group"])}
            for g in (attr or {}).get("groups", [])]


def is_binary_outcome(attr: dict[str, Any]) -> bool:
    """False for cohorts of a multi-class model, whose stored 'outcome' is a correct prediction."""
    return attr.get("rate_meaning") != "accuracy"


def _source(attr: dict[str, Any], metric: str) -> str:
    """The stored field holding ``metric``. For cohorts of a multi-class model the stored outcome is "correct
    prediction", so the group's accuracy is its outcome rate (``selection_rate``); the stored ``accuracy`` there
    compares that outcome with itself and is always 1."""
    return "selection_rate" if metric == "accuracy" and not is_binary_outcome(attr) else metric


def rates_table(attr: dict[str, Any]) -> pd.DataFrame:
    """Tidy rates by group: ``group``, ``metric``, ``value``, ``lo``, ``hi``, ``n`` (accuracy; TPR, FPR if binary)."""
    metrics = ("accuracy", "tpr", "fpr") if is_binary_outcome(attr) else ("accuracy",)
    rows = []
    for m in metrics:
        f = _source(attr, m)
        rows += [{"group": str(g["group"]), "metric": m, "value": g.get(f), "lo": g.get(f"{f}_lo"),
                  "hi": g.get(f"{f}_hi"), "n": int(g.get("n", 0))} for g in attr.get("groups", [])]
    return pd.DataFrame(rows, columns=["group", "metric", "value", "lo", "hi", "n"])


def ece_table(attr: dict[str, Any]) -> pd.DataFrame:
    cols = ["group", "ece", "lo", "hi", "n", "small_group"]
    d = pd.DataFrame(attr.get("calibration", []))
    return d[[c for c in cols if c in d]].reset_index(drop=True) if not d.empty else pd.DataFrame(columns=cols)


def reliability_table(attr: dict[str, Any], group: str | None = None) -> pd.DataFrame:
    d = pd.DataFrame(attr.get("reliability", []))
    if d.empty:
        return pd.DataFrame(columns=["group", "bin", "n_b", "mean_score", "observed_rate", "observed_lo",
                                     "observed_hi"])
    return (d[d["group"].astype(str) == group] if group else d).reset_index(drop=True)


def group_display_rows(attr: dict[str, Any]) -> list[dict[str, Any]]:
    ece = {str(r["group"]): r for r in attr.get("calibration", [])}
    acc = _source(attr, "accuracy")
    rows = []
    for g in attr.get("groups", []):
        name = str(g["group"])
        notes = []
        if g.get("small_group"):
            notes.append("small group: not checked")
        if name == UNKNOWN:
            notes.append("missing value")
        e = ece.get(name, {})
        rows.append({"group": name, "n": f"{int(g.get('n', 0)):,}", "share": fmt(g.get("share"), "pct"),
                     "accuracy": ci(g.get(acc), g.get(f"{acc}_lo"), g.get(f"{acc}_hi")),
                     "tpr": ci(g.get("tpr"), g.get("tpr_lo"), g.get("tpr_hi")),
                     "fpr": ci(g.get("fpr"), g.get("fpr_lo"), g.get("fpr_hi")),
                     "ece": ci(e.get("ece"), e.get("lo"), e.get("hi"), "num"), "note": "; ".join(notes)})
    return rows


def favorable(result: dict[str, Any]) -> str | None:
    return result.get("fairness", {}).get("favorable_label") or result["model"].get("favorable_label")


def group_note(result: dict[str, Any], attr: dict[str, Any]) -> str:
    name, kind = attr["name"], attr.get("kind", "attribute")
    share = result.get("fairness", {}).get("policy", {}).get("min_group_share")
    small = f" Groups under {share:.0%} of the data are marked small and not checked by the policy." if share else ""
    if is_binary_outcome(attr):
        return (f"{name} ({kind}): accuracy, true-positive rate and false-positive rate per group, with "
                f"'{favorable(result)}' as the favourable (positive) outcome; Wilson score 95% intervals.{small}")
    return (f"{name} ({kind}): accuracy per group, Wilson score 95% intervals. This is a multi-class model with no "
            f"favourable class, so true/false-positive rates do not apply.{small}")


def _group_rows(pred: pd.DataFrame, column: str, group: str) -> pd.DataFrame:
    """The rows of ``pred`` in ``group`` of ``column`` (``"unknown"`` selects missing values)."""
    values = pred[column]
    mask = values.isna() | (values.astype(str) == UNKNOWN) if group == UNKNOWN else values.astype(str) == group
    return pred[mask.to_numpy()]


def confusion_table(result: dict[str, Any], pred: pd.DataFrame | None, *, column: str | None = None,
                    group: str | None = None) -> tuple[pd.DataFrame | None, str]:
    """Tidy confusion cells (``true``, ``predicted``, ``count``, ``row_share``) and a sentence saying what they cover.

    All samples: the stored matrix (``performance.confusion``) with the stored ``n`` / ``n_correct`` /
    ``accuracy``. With ``group``, only the predictions whose ``column`` equals it (``"unknown"`` selects missing
    values), counted by :func:`deepaudit.audit.confusion.confusion_counts`. ``(None, message)`` when there is nothing to
    draw: no stored matrix and no predictions, or predictions with labels outside the classes.
    """
    classes = [str(c) for c in result["model"].get("class_names", [])]
    perf = result.get("performance", {})
    stored = perf.get("confusion")
    filtered = bool(group and column and pred is not None and column in pred.columns)
    if filtered or (not stored and pred is not None):
        rows = _group_rows(pred, column, group) if filtered else pred
        try:
            cells = confusion_counts(rows["y_true"].to_numpy(), rows["y_pred"].to_numpy(), classes)
        except ValueError:
            return None, BAD_LABELS.format(k=len(classes))
        totals = confusion_summary(cells)
        what = (f"{totals['n']:,} samples with {column} = {group}" if filtered
                else f"all {totals['n']:,} evaluation samples (this run stores no overall matrix)")
        source = "Counted by the audit from the stored predictions"
    elif stored:
        cells = pd.DataFrame(stored, columns=CONFUSION_COLUMNS)
        overall = perf.get("overall", {})
        totals = {k: overall.get(k) for k in ("n", "n_correct", "accuracy")}
        what = f"all {int(totals['n'] or 0):,} evaluation samples"
        source = "Stored by the audit"
    else:
        return None, NO_PREDICTIONS
    if group and column and not filtered:
        why = (f"the predictions table has no '{column}' column" if pred is not None
               else "the run has no readable predictions table")
        what += f" ({why}, so the group filter does not apply)"
    n, correct, acc = totals.get("n"), totals.get("n_correct"), totals.get("accuracy")
    summary = f"; {int(correct):,} correct ({acc:.1%})" if n and _finite(correct) and _finite(acc) else ""
    return cells, (f"{source}: {what}{summary}. Rows are true classes; colour and % are the share of the row (the "
                   "diagonal is each class's recall).")


def calibration_note(result: dict[str, Any], attr: dict[str, Any] | None, group: str | None,
                     rel: pd.DataFrame) -> str:
    if attr is None:
        return "No calibration by group in this run (fairness statistics were not computed)."
    if rel.empty:
        if not is_binary_outcome(attr):
            return ("Calibration by group is stored for a binary outcome with a favourable class; this model is "
                    "multi-class, so the run has no reliability curves or ECE.")
        if group:
            return f"No calibration bins for {attr['name']} = {group} in this run."
        return f"This run stores no calibration tables for {attr['name']}."
    fav = favorable(result)
    only = f" Showing {attr['name']} = {group} only." if group else ""
    return (f"Equal-width bins of the predicted probability of '{fav}'; each point is a bin's observed share of "
            f"'{fav}' with a Wilson 95% interval (empty bins skipped). On the dashed line the score is "
            f"calibrated.{only}")


def has_calibration(attrs: list[dict[str, Any]]) -> bool:
    return any(a.get("calibration") or a.get("reliability") for a in attrs)
