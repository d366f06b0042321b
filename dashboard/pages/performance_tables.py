"""Tidy tables for the performance page, from a stored run. Pure functions: no Dash, no figures.

Overall intervals come from :func:`audit.report.model.performance_section` (the report's numbers); group rates,
ECE and reliability bins are the stored fairness tables; the confusion matrix and the per-class intervals are
counted from ``predictions.parquet``.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from audit.fairness.intervals import wilson_interval
from audit.report.model import performance_section, wilson
from audit.store import Run

NO_PREDICTIONS = "This run has no readable predictions table, so the confusion matrix cannot be drawn."
BAD_LABELS = ("The stored predictions hold labels outside the model's {k} classes; the confusion matrix is not "
              "drawn. Re-run the audit.")
UNKNOWN = "unknown"  # the audit's label for missing sensitive values (audit.fairness.groups.UNKNOWN)

METRICS = {  # metric -> (label, format)
    "accuracy": ("Accuracy", "pct"), "roc_auc": ("ROC AUC", "num"), "log_loss": ("Log loss (nats, lower is better)", "num"),
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
    """One row per overall metric: label, formatted value and interval, n, interval method."""
    overall = run.result.get("performance", {}).get("overall", {})
    try:
        rows = performance_section(run, {"attributes": []})["overall"]
    except (OSError, ValueError, KeyError, IndexError):  # no predictions: accuracy's Wilson interval needs only counts
        rows = []
        if _finite(overall.get("accuracy")) and overall.get("n"):
            lo, hi = wilson(int(overall.get("n_correct", round(overall["accuracy"] * overall["n"]))), int(overall["n"]))
            rows = [{"metric": "accuracy", "value": overall["accuracy"], "lo": lo, "hi": hi, "n": overall["n"],
                     "method": "Wilson score interval, 95%"}]
    seen = {r["metric"] for r in rows}
    rows += [{"metric": k, "value": v, "lo": None, "hi": None, "n": overall.get("n", 0), "method": "no interval stored"}
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


def confusion_counts(pred: pd.DataFrame, k: int) -> np.ndarray | None:
    """``k x k`` counts, rows true class, columns predicted; None when a label is outside ``0..k-1``."""
    yt, yp = pred["y_true"].to_numpy(), pred["y_pred"].to_numpy()
    if len(yt) and (yt.min() < 0 or yp.min() < 0 or yt.max() >= k or yp.max() >= k):
        return None
    return np.bincount(yt.astype(np.int64) * k + yp.astype(np.int64), minlength=k * k).reshape(k, k)


def per_class_rows(result: dict[str, Any], pred: pd.DataFrame | None) -> list[dict[str, Any]]:
    """Stored precision / recall / F1 per class with Wilson intervals counted from the predictions."""
    classes = [str(c) for c in result["model"].get("class_names", [])]
    stored = {str(r["class"]): r for r in result.get("performance", {}).get("per_class", [])}
    counts = confusion_counts(pred, len(classes)) if pred is not None and classes else None
    rows = []
    for i, c in enumerate(classes):
        r = stored.get(c, {})
        if counts is not None:
            tp, support, predicted = int(counts[i, i]), int(counts[i].sum()), int(counts[:, i].sum())
            (p_lo, r_lo), (p_hi, r_hi) = wilson_interval([tp, tp], [max(predicted, 1), max(support, 1)])
            p_lo, p_hi = (p_lo, p_hi) if predicted else (None, None)
            r_lo, r_hi = (r_lo, r_hi) if support else (None, None)
        else:
            predicted, p_lo, p_hi, r_lo, r_hi = None, None, None, None, None
            support = r.get("support")
        rows.append({"class": c, "precision": ci(r.get("precision"), p_lo, p_hi),
                     "recall": ci(r.get("recall"), r_lo, r_hi), "f1": fmt(r.get("f1")),
                     "support": f"{int(support):,}" if support is not None else "–",
                     "predicted": f"{predicted:,}" if predicted is not None else "–"})
    return rows


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
        return pd.DataFrame(columns=["group", "bin", "n_b", "mean_score", "observed_rate", "observed_lo", "observed_hi"])
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


def confusion_table(pred: pd.DataFrame, classes: list[str], *, column: str | None = None,
                    group: str | None = None) -> tuple[pd.DataFrame, str]:
    """Tidy confusion cells (``true``, ``predicted``, ``count``, ``row_share``) and a sentence saying what they cover.

    With ``group``, only rows whose ``column`` equals it (``"unknown"`` selects missing values).
    """
    cols = ["true", "predicted", "count", "row_share"]
    k = len(classes)
    what = f"all {len(pred):,} evaluation samples"
    if group and column:
        if column not in pred.columns:
            what += f" (the predictions table has no '{column}' column, so the group filter does not apply)"
        else:
            values = pred[column]
            mask = values.isna() | (values.astype(str) == UNKNOWN) if group == UNKNOWN else values.astype(str) == group
            pred = pred[mask.to_numpy()]
            what = f"{len(pred):,} samples with {column} = {group}"
    counts = confusion_counts(pred, k)
    if counts is None:
        return pd.DataFrame(columns=cols), BAD_LABELS.format(k=k)
    rows_total = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, rows_total, out=np.zeros(counts.shape), where=rows_total > 0)
    t, p = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    table = pd.DataFrame({"true": np.asarray(classes)[t.ravel()], "predicted": np.asarray(classes)[p.ravel()],
                          "count": counts.ravel(), "row_share": shares.ravel()})
    correct = int(np.trace(counts))
    n = int(counts.sum())
    acc = f"; {correct:,} correct ({correct / n:.1%})" if n else ""
    return table, (f"Counted from the stored predictions: {what}{acc}. Rows are true classes; colour and % are "
                   "the share of the row (the diagonal is each class's recall).")


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
