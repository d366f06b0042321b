"""Explainability and explanation-quality sections of the report model.

Global views and probes come from the run's ``explanations`` and
``fairness.probes["reason_codes"]``; quality summaries from its ``quality``
entries (:class:`deepaudit.audit.result.AuditResult`). Local examples (images, reviews)
need the raw inputs and live in :mod:`deepaudit.audit.report.examples`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deepaudit.audit.features import Codebook
from deepaudit.audit.schema import check_area

if TYPE_CHECKING:
    from deepaudit.audit.result import AuditResult, MethodResult

#: Rows of the global feature-importance table (the bar chart shows the same rows).
TOP_FEATURES = 15
#: Denied applicants listed individually in the reason-code table.
REASON_APPLICANTS = 10
#: Tokens per side in the top-token table.
TOP_TOKENS = 10


def _importance(methods: dict[str, MethodResult]) -> dict[str, Any] | None:
    """Global importance per method (tabular): the first method's top features, other methods' ranks beside."""
    have = [m for m, v in methods.items() if "feature_importance" in v.tables]
    if not have:
        return None
    main = have[0]
    rank = {m: {r["feature"]: r["rank"] for r in methods[m].tables["feature_importance"]} for m in have}
    rows = []
    for r in methods[main].tables["feature_importance"][:TOP_FEATURES]:
        rows.append({"rank": r["rank"], "feature": r["feature"], "label": r.get("label", r["feature"]),
                     "mean_abs": r["mean_abs"], "share": r["share"], "mean": r.get("mean"),
                     "direction": r.get("direction", ""),
                     "other_ranks": [rank[m].get(r["feature"]) for m in have[1:]]})
    n = len(methods[main].tables["feature_importance"])
    return {"method": main, "other_methods": have[1:], "n_features": n, "rows": rows}


def _reason_codes(rc: dict[str, Any]) -> dict[str, Any]:
    table = rc["table"]
    ids: list[Any] = []
    for r in table:
        if r["sample_id"] not in ids:
            ids.append(r["sample_id"])
    shown = set(ids[:REASON_APPLICANTS])
    applicants = []
    for sid in ids[:REASON_APPLICANTS]:
        rows = sorted((r for r in table if r["sample_id"] == sid), key=lambda r: r["rank"])
        applicants.append({"sample_id": sid, "score": rows[0]["score"],
                           "reasons": [{k: r[k] for k in ("rank", "feature", "reason", "value", "attribution",
                                                          "share_of_denial")} for r in rows]})
    faith = (rc.get("faithfulness") or {}).get("summary")   # older runs: not measured
    return {"method": rc["method"], "reference": rc.get("reference", ""), "n_denied": len(ids),
            "n_shown": len(shown), "applicants": applicants, "summary": rc.get("summary", []),
            "faithfulness": faith}


def _top_tokens(methods: dict[str, MethodResult]) -> dict[str, Any] | None:
    have = [m for m, v in methods.items() if "top_tokens" in v.tables]
    if not have:
        return None
    rows = methods[have[0]].tables["top_tokens"]
    side = {s: [r for r in rows if r["side"] == s][:TOP_TOKENS] for s in ("positive", "negative")}
    return {"method": have[0], "positive": side["positive"], "negative": side["negative"]}


def _region_share(methods: dict[str, MethodResult]) -> list[dict[str, Any]]:
    out = []
    for m, v in methods.items():
        rows = v.tables.get("region_share")
        if rows:
            out.append({"method": m, "rows": [{k: r[k] for k in ("region", "attribution_share", "area_share", "ratio")}
                                              for r in rows]})
    return out


def explain_section(run: AuditResult) -> dict[str, Any]:
    """Methods, global importance, reason codes, tokens, image regions and shortcut probes."""
    ex = run.explanations
    methods = ex.methods
    probes = run.fairness.probes
    return {
        "explained_class": ex.explained_class,
        "methods": [{"name": m, "n_samples": v.n_samples, "needs_baseline": v.needs_baseline,
                     "array": v.array} for m, v in methods.items()],
        "importance": _importance(methods),
        # what a flag beside an input label means (e.g. geographic inputs), from the run's stored codebook
        "flag_note": Codebook.from_stored(run.model.features).flagged_note(),
        "reason_codes": _reason_codes(probes["reason_codes"]) if probes.get("reason_codes") else None,
        "top_tokens": _top_tokens(methods),
        "region_share": _region_share(methods),
        "shortcut_probes": [{**p["summary"], "check_id": _check_id(run, "shortcut", subject=p["summary"]["probe"])}
                            for p in ex.shortcut_probes],
    }


def _check_id(run: AuditResult, family: str, **fields: Any) -> str | None:
    """The id of the stored check of ``family`` whose structured fields match (None when the run has none)."""
    for c in run.checks_of(family):
        if all(getattr(c, k) == v for k, v in fields.items()):
            return c.id
    return None


#: Short names of the checks in the per-method table, by check family.
_CHECK_LABELS = {"completeness_ig": "within tolerance", "completeness": "within tolerance",
                 "deletion_auc_vs_random": "deletion ratio", "insertion_auc_vs_random": "insertion ratio",
                 "infidelity": "infidelity", "max_sensitivity": "max-sensitivity",
                 "sanity_randomization": "similarity"}


def _by_method(run: AuditResult) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(one row per method with a cell per check family, rows of the families that do not apply or were not run)."""
    from deepaudit.audit.quality.coverage import ABSENT, FAMILIES, FAMILY_LABELS, NOT_PUBLISHED, method_overview

    rows: dict[str, dict[str, Any]] = {}
    skipped = []
    for r in method_overview(run.result):
        row = rows.setdefault(r["method"], {"method": r["method"], "cells": []})
        cell = {"family": r["family"], "status": r["status"], "reason": r["reason"],
                "checks": [{"id": c["id"], "label": _CHECK_LABELS.get(c["family"], c["family"]),
                            "value": c.get("value"), "threshold": c.get("threshold"),
                            "comparison": c.get("comparison"), "passed": bool(c.get("passed"))}
                           for c in r["checks"]]}
        row["cells"].append(cell)
        if r["status"] not in ("checked", ABSENT, NOT_PUBLISHED):
            skipped.append({"method": r["method"], "check": FAMILY_LABELS[r["family"]], "status": r["status"],
                            "reason": r["reason"]})
    return [{**row, "families": [FAMILY_LABELS[f] for f in FAMILIES]} for row in rows.values()], skipped


def quality_section(run: AuditResult) -> dict[str, Any]:
    """Explanation-quality checks of every method: completeness, deletion/insertion, robustness, randomization.

    ``summary`` is the one-line count over all methods, ``by_method`` one row per method with a cell per check
    family, ``not_applicable`` the families that do not apply to a method (or were not run) and why. The primary
    method's details (``completeness`` of IG, ``deletion_insertion``, ``curves``, ``robustness``) and every
    method's ``randomization`` follow.
    """
    from deepaudit.audit.quality.coverage import summary_line

    q = run.quality
    quality_checks = [c for c in run.checks if check_area(c.family) != "fairness"]
    by_method, not_applicable = _by_method(run)
    out: dict[str, Any] = {"checks": [c.id for c in quality_checks],
                           "summary": summary_line(run.result, [c.to_dict() for c in quality_checks]),
                           "by_method": by_method, "not_applicable": not_applicable,
                           "completeness": None, "deletion_insertion": None, "curves": [], "robustness": None}
    if "completeness" in q:
        s = q["completeness"].summary
        out["completeness"] = {k: s.get(k) for k in ("n_steps", "tol", "share_required", "share_within_tol",
                                                     "n_samples", "median_relative_error", "p95_relative_error")}
    out["completeness_methods"] = [
        {k: v.summary.get(k) for k in ("method", "identity", "reference", "estimator", "n_draws", "z", "tol",
                                       "share_required", "share_within_tol", "n_samples", "median_relative_error",
                                       "median_relative_standard_error")}
        for key, v in q.items() if key.startswith("completeness_") and v.name == "completeness"]
    if "deletion_insertion" in q:
        s = q["deletion_insertion"].summary
        out["deletion_insertion"] = {k: s.get(k) for k in (
            "method", "deletion_auc", "random_deletion_auc", "deletion_ratio", "insertion_auc",
            "random_insertion_auc", "insertion_ratio", "n_samples", "n_points")}
        out["curves"] = q["deletion_insertion"].tables.get("curves", [])
    if "robustness" in q and q["robustness"].summary.get("applicable", True):
        s = q["robustness"].summary
        out["robustness"] = {"method": s.get("method"), "n_samples": s.get("n_samples"),
                             "relative_infidelity": s.get("relative_infidelity", {}).get("mean"),
                             "chance_relative_infidelity": s.get("chance_relative_infidelity"),
                             "max_sensitivity": s.get("max_sensitivity", {}).get("mean")}
    out["randomization"] = []
    for key, v in sorted(q.items()):
        if key.startswith("randomization_") and v.name == "randomization":
            s = v.summary
            out["randomization"].append({
                "method": s["method"], "measure": s.get("measure"), "n_samples": s.get("n_samples"),
                "check_id": _check_id(run, "sanity_randomization", method=s["method"]),
                "layers": [{"step": r["step"], "layer": r["layer"], "spearman_abs": r["mean_spearman_abs"],
                            "spearman_signed": r["mean_spearman_signed"]} for r in v.tables["layers"]]})
    return out
