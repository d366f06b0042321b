"""What a stored run says about the explanation-quality checks of each method: read without torch.

The runner writes (:mod:`deepaudit.audit.quality.suite`) a check per family that applies to each published method and a
row ``{method, check, status, reason}`` (entry ``quality["not_applicable"]``) for each family that does not;
the report and the dashboard read both through :func:`method_overview` and :func:`summary_line`. This module
imports nothing heavy, so that reading a run never loads torch (the package's ``__init__`` is lazy for the
same reason); the texts of what can never apply live here and the computing modules import them.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from deepaudit.audit.capabilities import kind_of_run

#: The check families, in the order the run reports them.
FAMILIES = ("completeness", "deletion_insertion", "robustness", "randomization")
#: Check families (``Check.family``) that each quality family writes.
CHECK_FAMILIES_OF = {"completeness": ("completeness_ig", "completeness"),
                     "deletion_insertion": ("deletion_auc_vs_random", "insertion_auc_vs_random"),
                     "robustness": ("infidelity", "max_sensitivity"),
                     "randomization": ("sanity_randomization",)}
#: Display names of the families, for readers.
FAMILY_LABELS = {"completeness": "completeness", "deletion_insertion": "deletion / insertion",
                 "robustness": "infidelity / max-sensitivity", "randomization": "model-parameter randomization"}
NOT_APPLICABLE = "not applicable"
SKIPPED = "not run"
NOT_APPLICABLE_KEY = "not_applicable"

#: Why a method has no completeness identity (:mod:`deepaudit.audit.quality.completeness`; reported as not applicable).
COMPLETENESS_UNDEFINED = {
    "saliency": ("Completeness is not defined for Saliency: it is the size of a local gradient, not an "
                 "attribution of F(x) - F(baseline), so its values have no total to check"),
    "grad_cam": ("Completeness is not defined for Grad-CAM: it is a rectified class-activation map of one layer, "
                 "upsampled to the image, not in the units of F and not a decomposition of F(x) - F(baseline)"),
    "occlusion": ("Completeness is not defined for Occlusion: each value is the drop in F when that part alone is "
                  "removed, and with interactions between parts these drops need not sum to F(x) - F(baseline)"),
    "input_x_gradient": ("Completeness is not defined for Input x Gradient: it sums to F(x) - F(0) only for a "
                         "linear model; for any other model it is a first-order term with no identity to check"),
}
#: Why infidelity and max-sensitivity do not apply to text (:mod:`deepaudit.audit.quality.robustness`).
NOT_APPLICABLE_TEXT = ("token ids are discrete: adding noise to them does not give a valid input, so infidelity "
                       "and max-sensitivity are not defined for text targets")


def not_applicable_row(method: str, family: str, reason: str, status: str = NOT_APPLICABLE) -> dict[str, str]:
    """One row of the ``not_applicable`` entry."""
    return {"method": method, "check": family, "status": status, "reason": reason}


ABSENT = "not in this run"
NOT_PUBLISHED = "not published"
NOT_PUBLISHED_REASON = ("this run does not publish the method's attributions; only the checks listed judged it (IG's "
                        "completeness: the reason codes and counterfactual probes explain with IG)")
ABSENT_REASON = ("not computed: this run was written before every published method got every explanation-quality "
                 "check")


def quality_methods(result: Mapping[str, Any]) -> list[str]:
    """The published methods, then any other method a quality check judged (IG completeness when IG itself is
    not published: the reason codes explain with it)."""
    methods = list(((result.get("explanations") or {}).get("methods") or {}))
    for c in result.get("checks") or []:
        if isinstance(c, dict) and c.get("method") and _family_of(c.get("family")) and c["method"] not in methods:
            methods.append(c["method"])
    return methods


def _family_of(check_family: Any) -> str | None:
    return next((fam for fam, members in CHECK_FAMILIES_OF.items() if check_family in members), None)


def method_overview(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per (method, family) of a stored result, methods in :func:`quality_methods` order.

    Row: ``method``, ``family``, ``status`` (``"checked"``, ``"not applicable"``,
    ``"not run"``, or ``"not in this run"`` for a run written before every method
    was checked), ``reason`` (empty when checked) and ``checks``: the stored
    check records of that family that judged the method (``passed`` ...).
    Families follow :data:`FAMILIES`. A family that can never apply (completeness
    of saliency, robustness on text) reads as not applicable in older runs too; a
    method the run checks but does not publish (IG's completeness when IG is not
    among the methods) has ``"not published"`` for its other families.
    """
    checks: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for c in result.get("checks") or []:
        fam = _family_of(c.get("family")) if isinstance(c, dict) else None
        if fam and c.get("method"):
            checks.setdefault((c["method"], fam), []).append(c)
    entry = (result.get("quality") or {}).get(NOT_APPLICABLE_KEY) or {}
    rows = {(r.get("method"), r.get("check")): r for r in (entry.get("tables") or {}).get("rows") or []
            if isinstance(r, dict)}
    published = set(((result.get("explanations") or {}).get("methods") or {}))
    out = []
    for m in quality_methods(result):
        for fam in FAMILIES:
            found = checks.get((m, fam), [])
            if found:
                out.append({"method": m, "family": fam, "status": "checked", "reason": "", "checks": found})
            elif m not in published:
                out.append({"method": m, "family": fam, "status": NOT_PUBLISHED, "reason": NOT_PUBLISHED_REASON,
                            "checks": []})
            elif (m, fam) in rows:
                r = rows[m, fam]
                out.append({"method": m, "family": fam, "status": r.get("status") or NOT_APPLICABLE,
                            "reason": r.get("reason", ""), "checks": []})
            elif _never_applies(result, m, fam):
                out.append({"method": m, "family": fam, "status": NOT_APPLICABLE,
                            "reason": _never_applies(result, m, fam), "checks": []})
            else:
                out.append({"method": m, "family": fam, "status": ABSENT, "reason": ABSENT_REASON, "checks": []})
    return out


def _never_applies(result: Mapping[str, Any], method: str, family: str) -> str:
    """Why ``family`` can never apply to ``method`` on this model, whatever the run stored (so a run written
    before the rows were stored reads the same as a new one), or ``""``."""
    if family == "completeness" and method in COMPLETENESS_UNDEFINED:
        return COMPLETENESS_UNDEFINED[method]
    if family == "robustness" and kind_of_run(result.get("model") or {}) == "text":
        return NOT_APPLICABLE_TEXT
    return ""


def summary_line(result: Mapping[str, Any], quality_checks: Sequence[Mapping[str, Any]]) -> str:
    """``"N of M explanation-quality checks passed across K methods; F failed."`` (``quality_checks``: the
    checks the reader counts, shortcut probes included). A run written before every method was checked says
    which published methods no check judged."""
    n = len(quality_checks)
    failed = sum(not c.get("passed") for c in quality_checks)
    overview = method_overview(result)
    judged = list(dict.fromkeys(r["method"] for r in overview if r["status"] == "checked"))
    unjudged = [m for m in dict.fromkeys(r["method"] for r in overview) if m not in judged]  # published only
    k = len(judged)
    text = f"{n - failed} of {n} explanation-quality checks passed"
    text += f" across {k} method{'s' if k != 1 else ''}" if k else ""
    text += f"; {failed} failed" if failed else ""
    if unjudged:
        text += f"; not checked in this run: {', '.join(unjudged)}"
    return text + "."
