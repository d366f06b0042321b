"""Tidy tables for the pages, read from a run store. Pure functions of (store, run): no Dash here."""
from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from deepaudit.dashboard.context import AppContext
from deepaudit.dashboard.records import Records, column, records

Table = pd.DataFrame | Records

if TYPE_CHECKING:
    from deepaudit.audit.result import AuditResult, FairnessAttribute


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _present(x: Any) -> bool:
    """Neither None nor a missing value (NaN, pd.NA) nor an empty string."""
    return x is not None and x is not pd.NA and x != "" and not (isinstance(x, float) and math.isnan(x))


def worst_impact_ratio(run: AuditResult) -> tuple[float | None, str | None]:
    """The smallest impact ratio the policy checked, and its attribute (None when none was checked)."""
    checks = [c for c in run.checks_of("fairness.impact_ratio") if c.computed]
    if not checks:
        return None, None
    worst = min(checks, key=lambda c: c.value)
    return float(worst.value), worst.subject


def headline_metric(run: AuditResult) -> tuple[str, float | None]:
    for key in ("accuracy", "roc_auc"):
        value = run.metric(key)
        if value is not None:
            return key, value
    return "accuracy", None


def model_summaries(ctx: AppContext) -> pd.DataFrame:
    """One row per model: its latest run and the figures the home page shows."""
    rows = []
    for model in ctx.known_models():
        run = ctx.resolve(model)
        if run is None:  # a name the dashboard's URL pattern does not accept; `deepaudit list` shows it
            continue
        metric, value = headline_metric(run)
        ir, ir_attr = worst_impact_ratio(run)
        worst = worst_fairness_finding(run)
        rows.append({
            "model": model, "run_id": run.run_id, "domain": run.model.domain,
            "task": run.model.task, "dataset": run.dataset.name,
            "n_samples": run.dataset.n_samples, "created_at": run.provenance.created_at,
            "metric": metric, "metric_value": value, "worst_impact_ratio": ir, "worst_impact_attribute": ir_attr,
            "n_checks": len(run.checks), "n_failed": len(run.failed_checks()),
            "worst_fairness_title": worst["title"] if worst else None,
            "limitations": card_summary((run.result.get("model", {}).get("card") or {}).get("limitations")),
            "worst_fairness_check": worst["check_id"] if worst else None,
        })
    return pd.DataFrame(rows)


def card_summary(text: Any, limit: int = 220) -> str | None:
    """The model card's first sentences up to ``limit`` characters (whole sentences where possible)."""
    if not isinstance(text, str) or not text.strip():
        return None
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    # the last sentence end outside parentheses ("(e.g. ..." is not one)
    ends = [i for i in range(len(cut) - 1) if cut[i:i + 2] == ". " and cut[:i].count("(") == cut[:i].count(")")
            and not cut[:i].endswith(("e.g", "i.e", "etc"))]
    end = ends[-1] if ends else -1
    return cut[:end + 1] if end > limit // 3 else cut.rstrip() + "…"


def worst_fairness_finding(run: AuditResult) -> dict[str, Any] | None:
    """The most severe failed fairness-area check (impact ratio, parity, cohort gap, counterfactual...), ranked
    as the report ranks findings; None when none failed."""
    from deepaudit.audit.report.findings import rank_failed
    from deepaudit.audit.schema import check_area

    return next((f for f in rank_failed(run.checks) if check_area(f["family"]) == "fairness"), None)


def utc_minute(iso: Any) -> str:
    """One date format everywhere: ``2026-11-30 17:32 UTC`` from a stored ISO time (UTC)."""
    text = str(iso or "")
    return f"{text[:16].replace('T', ' ')} UTC" if len(text) >= 16 else (text or "–")


def run_history(ctx: AppContext) -> pd.DataFrame:
    runs = ctx.index.get()
    cols = ["run_id", "model", "domain", "created_at", "status", "n_checks", "n_failed", "duration_s"]
    out = runs[[c for c in cols if c in runs.columns]].copy()
    if "created_at" in out.columns:
        out["created_at"] = [utc_minute(v) for v in out["created_at"]]
    return out


def fairness_attributes(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The stored fairness attributes of a result document (``attributes`` is optional: none when absent)."""
    fairness = result["fairness"]
    return fairness.get("attributes", []) if fairness["status"] == "computed" else []


def attribute_record(result: dict[str, Any], name: str | None) -> dict[str, Any] | None:
    attrs = fairness_attributes(result)
    for a in attrs:
        if a["name"] == name:
            return a
    return attrs[0] if attrs else None


def attributes_of(run: AuditResult) -> list[FairnessAttribute]:
    """The run's stored fairness attributes, in stored order (none when fairness was not computed)."""
    return list(run.fairness.attributes) if run.fairness.status == "computed" else []


def attribute_names(run: AuditResult) -> list[str]:
    return [a.name for a in attributes_of(run)]


def stored_attribute(run: AuditResult, columns: tuple[str, ...] | list[str]) -> str | None:
    """The stored attribute holding exactly the groups of ``columns`` (one column, or an intersection).

    An intersection is stored when the data carries it as a column, named ``a_x_b`` (e.g. ``race_x_sex``)
    or ``a x b``, in either order; None when the run has to compute it live.
    """
    names = set(attribute_names(run))
    if len(columns) == 1:
        return columns[0] if columns[0] in names else None
    for perm in itertools.permutations(columns):
        for sep in ("_x_", " x "):
            if sep.join(perm) in names:
                return sep.join(perm)
    return None


RATIO_COLUMNS = ["group", "value", "lo", "hi", "reference", "small_group"]


def _rows_of(disparities: Table, metric: str, statistic: str) -> Records:
    return [r for r in records(disparities) if r["metric"] == metric and r["statistic"] == statistic]


def _in_order(rows: Records, groups: Records | None) -> Records:
    """``rows`` in the order of the groups table (ordinal cohorts: low, mid, high); others after, as they were."""
    if groups is None:
        return rows
    order: dict[Any, int] = {}
    for i, g in enumerate(column(groups, "group")):
        order.setdefault(g, i)
    return sorted(rows, key=lambda r: order.get(r["group"], len(order)))


def ratio_rows(disparities: Table, *, reference: str | None = None, groups: Table | None = None,
               metric: str = "selection_rate") -> Records:
    """Ratios of one rate, one row per group (``group, value, lo, hi, reference, small_group``).

    ``reference=None``: the impact ratios (rate / highest rate among known groups, the stored default).
    A group name: each group's ``ratio_vs_reference`` to that group (which must be the reference the
    ``disparities`` were computed with), plus the reference itself at exactly 1, in ``groups`` order.
    """
    d = records(disparities)
    if not d:
        return []
    g = records(groups) if groups is not None else None
    if reference is None:
        return _in_order(_rows_of(d, metric, "impact_ratio"), g)
    rows = [{c: r[c] for c in RATIO_COLUMNS} for r in _rows_of(d, metric, "ratio_vs_reference")]
    small = dict(zip(column(g, "group"), column(g, "small_group", False))) if g is not None else {}
    rows.append({"group": reference, "value": 1.0, "lo": 1.0, "hi": 1.0, "reference": reference,
                 "small_group": bool(small.get(reference, False))})
    return _in_order(rows, g)


def difference_rows(disparities: Table, metric: str = "selection_rate") -> Records:
    """``difference_vs_reference`` rows of one rate (``group, value, lo, hi, reference``, and ``too_small`` where
    the run has it: older runs with bootstrap intervals do not)."""
    return _rows_of(disparities, metric, "difference_vs_reference")


def _pct(x: Any) -> str:
    return f"{x:.1%}" if _finite(x) else "–"


def _pts(x: Any) -> str:
    """A difference of two rates in percentage points."""
    return f"{round(x * 100, 1) + 0.0:+.1f}" if _finite(x) else "–"  # + 0.0: no "-0.0"


def _ci(row: dict[str, Any], key: str, pct: bool = True) -> str:
    """``"64.4% [51.7, 75.4]"``: the rate, then its interval in the same unit (kept short for 1366 px)."""
    v, lo, hi = row.get(key), row.get(f"{key}_lo"), row.get(f"{key}_hi")
    if not _finite(v):
        return "–"
    if not pct:
        return f"{v:.3f} [{lo:.3f}, {hi:.3f}]" if _finite(lo) and _finite(hi) else f"{v:.3f}"
    def bound(x: Any) -> str:
        return f"{x * 100:.1f}" if _finite(x) else "–"

    return f"{v:.1%} [{bound(lo)}, {bound(hi)}]"


GROUP_COLUMNS = [
    ("group", "Group"), ("n", "n (share)"), ("selection_rate", "Selection rate [95% CI]"),
    ("impact_ratio", "Impact ratio [95% CI]"), ("difference", "Selection rate − reference [95% CI]"),
    ("tpr", "TPR [95% CI]"), ("fpr", "FPR [95% CI]"), ("accuracy", "Accuracy [95% CI]"), ("note", "Note"),
]


def group_columns(ratio_header: str = "Impact ratio [95% CI]", difference_header: str | None = None, *,
                  rate_header: str = "Selection rate [95% CI]", confusion: bool = True) -> list[dict[str, str]]:
    """DataTable columns of the group table (the ratio and difference headers name their reference).

    ``confusion=False`` drops TPR, FPR and accuracy: for a model audited on correctness (no favourable
    label) the "selection rate" is already the accuracy and those columns are constant.
    """
    names = {"impact_ratio": ratio_header, "selection_rate": rate_header}
    if difference_header:
        names["difference"] = difference_header
    skip = set() if confusion else {"tpr", "fpr", "accuracy"}
    return [{"name": names.get(c, t), "id": c} for c, t in GROUP_COLUMNS if c not in skip]


#: Words that name an order (cohorts binned as low / mid / high): groups named by them are shown in that order.
ORDINAL = {"very low": 0, "low": 1, "lower": 1, "medium": 2, "mid": 2, "middle": 2, "moderate": 2, "high": 3,
           "higher": 3, "very high": 4}


def ordinal_order(labels: list[str]) -> list[int]:
    """Positions that put ``labels`` in their natural order when every known label is an ordinal word
    (low, mid, high), else the labels' own order; "unknown" stays last."""
    known = [lab for lab in labels if lab != "unknown"]
    if len(known) < 2 or not all(str(lab).lower() in ORDINAL for lab in known):
        return list(range(len(labels)))
    key = {i: (lab == "unknown", ORDINAL.get(str(lab).lower(), 99), i) for i, lab in enumerate(labels)}
    return sorted(range(len(labels)), key=key.__getitem__)


def header_tooltips(columns: list[dict[str, str]]) -> dict[str, str]:
    """Glossary definitions for the columns whose header names a term (shown when hovering the header)."""
    from deepaudit.audit.glossary import lookup

    out = {}
    for c in columns:
        text = lookup(c["name"])
        if text:
            out[c["id"]] = text
    return out


def _ratio_text(r: Any) -> str:
    if r is None or not _finite(r["value"]):
        return "–"
    lo, hi = (f"{x:.3f}" if _finite(x) else "–" for x in (r["lo"], r["hi"]))
    return f"{r['value']:.3f} [{lo}, {hi}]"


def group_display_rows(groups: Table, impact: Table, differences: Table | None = None) -> Records:
    """Rows for the group table: rates with their intervals as text, the reference and small groups named."""
    ir = {r["group"]: r for r in records(impact)}
    diff = {r["group"]: r for r in records(differences)} if differences is not None else {}
    rows = []
    for g in records(groups):
        notes = []
        if g.get("is_reference"):
            notes.append("reference")
        if g.get("small_group"):
            notes.append("small: not checked")
        if _present(g.get("undefined")):
            notes.append(str(g["undefined"]))
        d = diff.get(g["group"])
        if d is not None and _present(d.get("too_small")) and bool(d["too_small"]):
            notes.append("too small for any conclusion")
        rows.append({
            "group": g["group"], "n": f"{int(g['n']):,} ({_pct(g.get('share'))})",
            "selection_rate": _ci(g, "selection_rate"), "impact_ratio": _ratio_text(ir.get(g["group"])),
            "difference": (f"{_pts(d['value'])} [{_pts(d['lo'])}, {_pts(d['hi'])}] pts" if d is not None
                           else ("0 (reference)" if g.get("is_reference") else "–")),
            "tpr": _ci(g, "tpr"), "fpr": _ci(g, "fpr"), "accuracy": _ci(g, "accuracy"), "note": "; ".join(notes),
        })
    return rows
