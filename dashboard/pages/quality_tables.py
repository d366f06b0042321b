"""Tidy tables for the explanation-quality page, read from a stored result. Pure functions: no Dash, no figures.

Which checks are explanation-quality checks follows the report (:func:`deepaudit.audit.report.explain.quality_section`):
every check whose family is not in the fairness area (:func:`deepaudit.audit.schema.check_area`). Which check families
judged which published method, and why a family does not apply to one, come from
:func:`deepaudit.audit.quality.coverage.method_overview` (runs written before every method was checked say so).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from deepaudit.audit.quality import coverage
from deepaudit.audit.schema import check_area

SIMILARITY = {"checked": "as checked", "abs": "of |attributions|", "signed": "of signed attributions"}
CHECK_COLUMNS = [("result", "Result"), ("id", "Check"), ("method", "Method"), ("description", "What it measures"),
                 ("value", "Value"), ("threshold", "Passes if"), ("note", "Note")]
COVERAGE_COLUMNS = [("method", "Method")] + [(f, coverage.FAMILY_LABELS[f].capitalize()) for f in coverage.FAMILIES]
NOT_APPLICABLE_COLUMNS = [("method", "Method"), ("check", "Check"), ("status", "Status"), ("reason", "Why")]
COMPLETENESS_METHOD_COLUMNS = [("method", "Method"), ("identity", "Attributions sum to"),
                               ("within", "Within tolerance"), ("rule", "Tolerance"),
                               ("median_relative_error", "Median rel. error"), ("result", "Result")]
CURVE_METHOD_COLUMNS = [("method", "Method"), ("n_samples", "Samples"), ("deletion_ratio", "Deletion ratio"),
                        ("deletion_result", "Deletion"), ("insertion_ratio", "Insertion ratio"),
                        ("insertion_result", "Insertion")]
ROBUSTNESS_METHOD_COLUMNS = [("method", "Method"), ("n_samples", "Samples"), ("infidelity", "Relative infidelity"),
                             ("infidelity_result", "Infidelity"), ("max_sensitivity", "Max-sensitivity"),
                             ("sensitivity_result", "Max-sensitivity result")]
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
        rows.append({"result": verdict(c), "id": c["id"], "method": c.get("method") or "",
                     "description": c.get("description", ""),
                     "value": num(c.get("value")) if c.get("value") is not None else "not computed",
                     "threshold": rule(c), "note": c.get("note", "")})
    return rows


def summary(result: dict[str, Any]) -> str:
    """``N of M explanation-quality checks passed across K methods`` (and which methods no check judged)."""
    return coverage.summary_line(result, quality_checks(result))


def _cell(row: dict[str, Any]) -> str:
    if row["status"] != "checked":
        return row["status"]
    failed = [c for c in row["checks"] if not c.get("passed")]
    if not failed:
        return "pass" if len(row["checks"]) == 1 else f"pass ({len(row['checks'])} of {len(row['checks'])})"
    what = ", ".join(f"{_short(c)} {num(c.get('value')) if c.get('value') is not None else 'not computed'}"
                     for c in failed)
    return f"FAIL ({what})"


_SHORT = {"deletion_auc_vs_random": "deletion", "insertion_auc_vs_random": "insertion",
          "max_sensitivity": "max-sensitivity", "sanity_randomization": "similarity",
          "completeness_ig": "share within", "completeness": "share within"}


def _short(c: dict[str, Any]) -> str:
    return _SHORT.get(c.get("family", ""), c.get("family", ""))


def coverage_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per method: for each check family ``pass``, ``FAIL (...)``, ``not applicable``, ``not run`` or
    ``not in this run`` (a run written before every method was checked)."""
    rows: dict[str, dict[str, Any]] = {}
    for r in coverage.method_overview(result):
        rows.setdefault(r["method"], {"method": r["method"]})[r["family"]] = _cell(r)
    return list(rows.values())


def not_applicable_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The families that do not apply to a method (or were not run), with the run's reason."""
    shown_elsewhere = ("checked", coverage.ABSENT, coverage.NOT_PUBLISHED)
    return [{"method": r["method"], "check": coverage.FAMILY_LABELS[r["family"]], "status": r["status"],
             "reason": r["reason"]}
            for r in coverage.method_overview(result) if r["status"] not in shown_elsewhere]


def unchecked_methods(result: dict[str, Any]) -> list[str]:
    """Published methods that no check of this run judged (a run written before every method was checked)."""
    overview = coverage.method_overview(result)
    judged = {r["method"] for r in overview if r["status"] == "checked"}
    return [m for m in dict.fromkeys(r["method"] for r in overview) if m not in judged]


def entries(result: dict[str, Any], name: str) -> list[tuple[str, dict[str, Any]]]:
    """(method, stored entry) of every quality entry whose ``name`` is ``name`` (``completeness``,
    ``deletion_insertion``, ``robustness``, ``randomization``), in stored order. IG's completeness entry names
    no method: it is Integrated Gradients'."""
    out = []
    for key, q in (result.get("quality") or {}).items():
        if not isinstance(q, dict) or key == coverage.NOT_APPLICABLE_KEY:
            continue
        if q.get("name", key) != name:
            continue
        default = "integrated_gradients" if key == "completeness" else key.partition(f"{name}_")[2]
        out.append(((q.get("summary") or {}).get("method") or default, q))
    return out


def completeness_method_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Completeness of every method other than IG's step-doubling check (DeepLIFT, SHAP, GradientSHAP)."""
    rows = []
    for method, q in entries(result, "completeness"):
        s = q.get("summary") or {}
        if "method" not in s:  # IG's own entry has its own chart and table
            continue
        c = check(result, "completeness", method=method)
        rule = f"{pct(s.get('tol'))} of |F(x) − {s.get('reference', 'F(reference)')}|"
        if s.get("estimator"):
            rule += (f" + {num(s.get('z'), 1)} standard errors ({s.get('n_draws', '–')} draws; median SE "
                     f"{pct(s.get('median_relative_standard_error'))})")
        rows.append({"method": method, "identity": s.get("identity", ""),
                     "within": (f"{pct(s.get('share_within_tol'))} of {s.get('n_samples', '–')} "
                                f"(required {pct(s.get('share_required'))})"),
                     "rule": rule, "median_relative_error": pct(s.get("median_relative_error")),
                     "result": verdict(c)})
    return rows


def curve_method_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Deletion and insertion ratios of every method with a stored deletion/insertion entry."""
    rows = []
    for method, q in entries(result, "deletion_insertion"):
        s = q.get("summary") or {}
        d = check(result, "deletion_auc_vs_random", method=method)
        i = check(result, "insertion_auc_vs_random", method=method)
        rows.append({"method": method, "n_samples": s.get("n_samples", "–"),
                     "deletion_ratio": num(s.get("deletion_ratio")), "deletion_result": f"{verdict(d)} ({rule(d)})",
                     "insertion_ratio": num(s.get("insertion_ratio")),
                     "insertion_result": f"{verdict(i)} ({rule(i)})"})
    return rows


def robustness_method_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Mean relative infidelity and max-sensitivity of every method with a stored robustness entry."""
    rows = []
    for method, q in entries(result, "robustness"):
        s = q.get("summary") or {}
        if not s.get("applicable", True):
            continue
        inf, sens = (check(result, fam, method=method) for fam in ("infidelity", "max_sensitivity"))
        rows.append({"method": method, "n_samples": s.get("n_samples", "–"),
                     "infidelity": num((s.get("relative_infidelity") or {}).get("mean")),
                     "infidelity_result": f"{verdict(inf)} ({rule(inf)})",
                     "max_sensitivity": num((s.get("max_sensitivity") or {}).get("mean")),
                     "sensitivity_result": f"{verdict(sens)} ({rule(sens)})"})
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
        # the primary method's check (other methods' checks of the family follow it)
        c = check(result, f"{curve}_auc_vs_random", **({"method": s["method"]} if s.get("method") else {}))
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
