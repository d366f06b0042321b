"""Tidy tables for the pages, read from a run store. Pure functions of (store, result): no Dash here."""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from dashboard.context import AppContext

def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def worst_impact_ratio(result: dict[str, Any]) -> tuple[float | None, str | None]:
    """The smallest impact ratio the policy checked, and its attribute (None when none was checked)."""
    prefix = "fairness.impact_ratio."
    checks = [c for c in result.get("checks", []) if c["id"].startswith(prefix) and _finite(c["value"])]
    if not checks:
        return None, None
    worst = min(checks, key=lambda c: c["value"])
    return float(worst["value"]), worst["id"][len(prefix):]


def headline_metric(result: dict[str, Any]) -> tuple[str, float | None]:
    overall = result.get("performance", {}).get("overall", {})
    for key in ("accuracy", "roc_auc"):
        if _finite(overall.get(key)):
            return key, float(overall[key])
    return "accuracy", None


def model_summaries(ctx: AppContext) -> pd.DataFrame:
    """One row per model: its latest run and the figures the home page shows."""
    rows = []
    for model in ctx.known_models():
        result = ctx.resolve(model).result
        metric, value = headline_metric(result)
        ir, ir_attr = worst_impact_ratio(result)
        checks = result.get("checks", [])
        rows.append({
            "model": model, "run_id": result["run_id"], "domain": result["model"].get("domain", ""),
            "task": result["model"].get("task", ""), "dataset": result["dataset"].get("name", ""),
            "n_samples": result["dataset"].get("n_samples"), "created_at": result["provenance"].get("created_at", ""),
            "metric": metric, "metric_value": value, "worst_impact_ratio": ir, "worst_impact_attribute": ir_attr,
            "n_checks": len(checks), "n_failed": sum(not c["passed"] for c in checks),
        })
    return pd.DataFrame(rows)


def run_history(ctx: AppContext) -> pd.DataFrame:
    runs = ctx.store.list_runs()
    cols = ["run_id", "model", "domain", "created_at", "status", "n_checks", "n_failed", "duration_s"]
    return runs[[c for c in cols if c in runs.columns]]


def fairness_attributes(result: dict[str, Any]) -> list[dict[str, Any]]:
    fairness = result.get("fairness", {})
    return fairness.get("attributes", []) if fairness.get("status") == "computed" else []


def attribute_record(result: dict[str, Any], name: str | None) -> dict[str, Any] | None:
    attrs = fairness_attributes(result)
    for a in attrs:
        if a["name"] == name:
            return a
    return attrs[0] if attrs else None


def group_table(attr: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(attr.get("groups", []))


def impact_ratio_table(attr: dict[str, Any], metric: str = "selection_rate") -> pd.DataFrame:
    """The stored impact ratios (rate / highest known group's rate) of one metric, one row per group."""
    d = pd.DataFrame(attr.get("disparities", []))
    if d.empty:
        return pd.DataFrame(columns=["group", "value", "lo", "hi", "reference", "small_group"])
    d = d[(d["metric"] == metric) & (d["statistic"] == "impact_ratio")]
    return d[["group", "value", "lo", "hi", "reference", "small_group"]].reset_index(drop=True)


def _pct(x: Any) -> str:
    return f"{x:.1%}" if _finite(x) else "–"


def _ci(row: pd.Series, key: str, pct: bool = True) -> str:
    v, lo, hi = row.get(key), row.get(f"{key}_lo"), row.get(f"{key}_hi")
    if not _finite(v):
        return "–"
    f = _pct if pct else (lambda x: f"{x:.3f}" if _finite(x) else "–")
    return f"{f(v)} [{f(lo)}, {f(hi)}]"


GROUP_COLUMNS = [
    ("group", "Group"), ("n", "n"), ("share", "Share"), ("selection_rate", "Selection rate [95% CI]"),
    ("impact_ratio", "Impact ratio [95% CI]"), ("tpr", "TPR [95% CI]"), ("fpr", "FPR [95% CI]"),
    ("accuracy", "Accuracy [95% CI]"), ("note", "Note"),
]


def group_display_rows(groups: pd.DataFrame, impact: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for the group table: rates with their intervals as text, the reference and small groups named."""
    ir = {r["group"]: r for _, r in impact.iterrows()}
    rows = []
    for _, g in groups.iterrows():
        notes = []
        if g.get("is_reference"):
            notes.append("reference")
        if g.get("small_group"):
            notes.append("small: not checked")
        r = ir.get(g["group"])
        rows.append({
            "group": g["group"], "n": int(g["n"]), "share": _pct(g.get("share")),
            "selection_rate": _ci(g, "selection_rate"),
            "impact_ratio": (f"{r['value']:.3f} [{r['lo']:.3f}, {r['hi']:.3f}]" if r is not None else "–"),
            "tpr": _ci(g, "tpr"), "fpr": _ci(g, "fpr"), "accuracy": _ci(g, "accuracy"), "note": "; ".join(notes),
        })
    return rows
