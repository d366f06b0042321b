"""Tidy tables for the explanation-quality page, read from a stored result. Pure functions: no Dash, no figures.

Which checks are explanation-quality checks follows the report (:func:`audit.report.explain.quality_section`):
every check whose family is not in the fairness area (:func:`audit.schema.check_area`).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from audit.schema import check_area

SIMILARITY = {"checked": "as checked", "abs": "of |attributions|", "signed": "of signed attributions"}
CHECK_COLUMNS = [("result", "Result"), ("id", "Check"), ("description", "What it measures"), ("value", "Value"),
                 ("threshold", "Passes if"), ("note", "Note")]
ERROR_COLUMNS = [("sample", "Sample"), ("target", "Class"), ("logit", "F(x)"), ("path_start_logit", "F(baseline)"),
                 ("attribution_sum", "Σ attributions"), ("relative_error", "Rel. error"),
                 ("within", "Within")]
CURVE_COLUMNS = [("curve", "Curve"), ("auc", "AUC, attribution order [95% CI]"),
                 ("random_auc", "AUC, random order [95% CI]"), ("ratio", "Ratio"), ("rule", "Passes if"),
                 ("result", "Result")]
SHORTCUT_COLUMNS = [("probe", "Probe"), ("description", "Region"), ("method", "Method"),
                    ("attribution_share", "Attribution in region"), ("area_share", "Area of region"),
                    ("ratio", "Ratio (attribution / area)"), ("rule", "Passes if"), ("flip", "Predictions flipped"),
                    ("result", "Result")]


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) and math.isfinite(x)


def num(x: Any, digits: int = 3) -> str:
    if not _finite(x):
        return "–"
    return f"{x:.{digits}g}" if abs(x) < 1e-3 and x != 0 else f"{x:.{digits}f}"


def pct(x: Any) -> str:
    return f"{x:.1%}" if _finite(x) else "–"


def quality_checks(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Every check outside the fairness area (explanation quality, shortcut probes, user families)."""
    return [c for c in result["checks"] if check_area(c["family"]) != "fairness"]


def check(result: dict[str, Any], family: str, **fields: Any) -> dict[str, Any] | None:
    """The first stored check of ``family`` whose structured fields (subject, method, ...) match."""
    return next((c for c in result["checks"] if c["family"] == family
                 and all(c.get(k) == v for k, v in fields.items())), None)


def rule(c: dict[str, Any] | None) -> str:
    if c is None:
        return "–"
    return f"{'≤' if c.get('comparison', '<=') == '<=' else '≥'} {c['threshold']:g}"


def verdict(c: dict[str, Any] | None) -> str:
    return "–" if c is None else ("pass" if c.get("passed") else "FAIL")


def check_rows(result: dict[str, Any], *, failed_only: bool = False) -> list[dict[str, Any]]:
    """The pass/fail table: one row per explanation-quality check, failures first when ``failed_only``."""
    rows = []
    for c in quality_checks(result):
        if failed_only and c.get("passed"):
            continue
        rows.append({"result": verdict(c), "id": c["id"], "description": c.get("description", ""),
                     "value": num(c.get("value")) if c.get("value") is not None else "not computed",
                     "threshold": rule(c), "note": c.get("note", "")})
    return rows


def section(result: dict[str, Any], key: str) -> dict[str, Any] | None:
    q = result.get("quality", {}).get(key)
    return q if isinstance(q, dict) else None


def completeness(result: dict[str, Any]) -> tuple[dict[str, Any], pd.DataFrame, list[dict[str, Any]]] | None:
    """(summary, steps tried, per-sample rows with class names) of the IG completeness check; None when absent."""
    q = section(result, "completeness")
    if q is None:
        return None
    s = q.get("summary", {})
    steps = pd.DataFrame(s.get("steps_tried", []), columns=["n_steps", "share_within_tol"])
    classes = [str(c) for c in result["model"].get("class_names", [])]
    tol = s.get("tol", 0.05)
    rows = []
    for r in sorted(q.get("tables", {}).get("errors", []), key=lambda r: -(r.get("relative_error") or 0)):
        t = r.get("target")
        rows.append({"sample": r.get("sample"),
                     "target": classes[t] if isinstance(t, int) and 0 <= t < len(classes) else str(t),
                     "logit": num(r.get("logit")), "path_start_logit": num(r.get("path_start_logit")),
                     "attribution_sum": num(r.get("attribution_sum")), "abs_error": num(r.get("abs_error")),
                     "relative_error": pct(r.get("relative_error")),
                     "within": "yes" if _finite(r.get("relative_error")) and r["relative_error"] <= tol else "no"})
    return s, steps, rows


def auc_cell(point: Any, interval: dict[str, Any] | None) -> str:
    """A mean AUC with its stored interval: ``0.123 [0.100, 0.150]``; says when the interval is not stored or
    could not be computed (``method`` of the stored record gives the reason, e.g. a single sample)."""
    if interval is None:
        return f"{num(point)} (interval not stored)" if _finite(point) else num(point)
    lo, hi = interval.get("lo"), interval.get("hi")
    if _finite(point) and _finite(lo) and _finite(hi):
        return f"{num(point)} [{num(lo)}, {num(hi)}]"
    reason = str(interval.get("method", "")).partition("; ")[2]
    return f"{num(point)} ({reason or 'no interval'})" if _finite(point) else num(point)


def auc_interval_note(summary: dict[str, Any]) -> str:
    """What the AUC intervals are, as the run stored them (or that it stored none)."""
    intervals = summary.get("auc_intervals")
    methods = {str(r.get("method", "")).partition(";")[0] for c in (intervals or {}).values() if isinstance(c, dict)
               for r in c.values() if isinstance(r, dict) and r.get("method")}
    if not methods:
        return "AUC intervals: not stored in this run (it was written before they were stored)."
    return f"AUC intervals: {'; '.join(sorted(methods))} of the per-sample AUCs, stored by the audit."


def deletion_insertion(result: dict[str, Any]) -> tuple[dict[str, Any], pd.DataFrame, dict, list[dict]] | None:
    """(summary, tidy curves, AUC per (curve, order), rows of the AUC table); None when absent."""
    q = section(result, "deletion_insertion")
    if q is None:
        return None
    s = q.get("summary", {})
    tables = q.get("tables", {})
    curves = pd.DataFrame(tables.get("curves", []), columns=["curve", "order", "fraction", "probability"])
    aucs = {(c, o): s.get(f"{'random_' if o == 'random' else ''}{c}_auc") for c in ("deletion", "insertion")
            for o in ("attribution", "random")}
    intervals = s.get("auc_intervals") if isinstance(s.get("auc_intervals"), dict) else {}
    rows = []
    for curve in ("deletion", "insertion"):
        cells = {}
        for order in ("attribution", "random"):
            stored = (intervals.get(curve) or {}).get(order) if intervals else None
            cells[order] = auc_cell(aucs[(curve, order)], stored if isinstance(stored, dict) else None)
        c = check(result, f"{curve}_auc_vs_random")
        rows.append({"curve": curve, "auc": cells["attribution"], "random_auc": cells["random"],
                     "ratio": num(s.get(f"{curve}_ratio")), "rule": rule(c), "result": verdict(c)})
    return s, curves, aucs, rows


def robustness(result: dict[str, Any]) -> tuple[dict[str, Any], pd.DataFrame, dict | None, dict | None] | None:
    """(summary, per-sample table, infidelity check, max-sensitivity check); None when absent."""
    q = section(result, "robustness")
    if q is None:
        return None
    s = q.get("summary", {})
    per = pd.DataFrame(q.get("tables", {}).get("per_sample", []),
                       columns=["sample", "target", "relative_infidelity", "infidelity", "max_sensitivity"])
    method = s.get("method", "")
    return s, per, check(result, "infidelity", method=method), check(result, "max_sensitivity", method=method)


def randomization(result: dict[str, Any], similarity: str = "checked") -> tuple[pd.DataFrame, float | None]:
    """Tidy similarity per randomised layer for every method (``method``, ``step``, ``layer``, ``value``,
    ``median``, ``measure``) and the checks' threshold. ``similarity`` picks the measure: the one each
    method's check uses, or |attributions| / signed attributions for all."""
    rows, threshold = [], None
    for key, q in result.get("quality", {}).items():
        if not key.startswith("randomization_") or not isinstance(q, dict):
            continue
        s = q.get("summary", {})
        method = s.get("method", key[len("randomization_"):])
        checked = str(s.get("measure", "spearman_abs")).replace("spearman_", "")
        measure = checked if similarity not in ("abs", "signed") else similarity
        c = check(result, "sanity_randomization", method=method)
        if c is not None:
            threshold = c["threshold"]
        for r in q.get("tables", {}).get("layers", []):
            rows.append({"method": method, "step": r["step"], "layer": r["layer"],
                         "value": r.get(f"mean_spearman_{measure}"), "median": r.get(f"median_spearman_{measure}"),
                         "measure": ("|attr|" if measure == "abs" else "signed") +
                                    (", as checked" if measure == checked else "")})
    if threshold is None:
        threshold = result.get("fairness", {}).get("policy", {}).get("randomization_similarity_max")
    return pd.DataFrame(rows, columns=["method", "step", "layer", "value", "median", "measure"]), threshold


def shortcut_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for p in result.get("explanations", {}).get("shortcut_probes", []) or []:
        s = p.get("summary", {})
        c = check(result, "shortcut", subject=s.get("probe"))
        flipped = s.get("flipped_to") or {}
        flip = pct(s.get("prediction_flip_rate"))
        if flipped:
            flip += " (" + ", ".join(f"{v} to class {k}" for k, v in flipped.items()) + ")"
        rows.append({"probe": s.get("probe", ""), "description": s.get("description", ""),
                     "method": s.get("method", ""), "attribution_share": pct(s.get("attribution_share")),
                     "area_share": pct(s.get("area_share")), "ratio": f"{num(s.get('ratio'), 2)}×",
                     "rule": rule(c), "flip": flip, "result": verdict(c)})
    return rows
