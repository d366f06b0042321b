"""Executive summary: verdict by policy, ranked findings, limitations and recommendations.

Severity of a failed check is (tier, exceedance): the tier says what kind of
failure it is, the exceedance how far past its threshold the value lies, in
units of the threshold (``|value - threshold| / |threshold|``). Tiers:

1. a legal standard or the validity of the audit itself: the four-fifths rule
   (impact ratio), a detected shortcut, an explainer that fails the
   randomization sanity check, IG completeness not reached;
2. every other behaviour of the model (fairness gaps, calibration,
   counterfactual shifts, cohort gaps, explanation faithfulness);
3. data coverage (a group below the minimum share).

A check that could not be computed (value None) ranks first within its tier.
The top findings take one check per family (the id without its attribute)
before repeating a family, so three findings are three different problems.
"""
from __future__ import annotations

import math
import re
from typing import Any

from audit.report.fairness import anchor

N_FINDINGS = 3
TIER1 = ("fairness.impact_ratio.", "shortcut_", "sanity_randomization_", "completeness_ig")
TIER3 = ("fairness.min_group_share.",)

_TITLES = {
    "fairness.impact_ratio": "Impact ratio below four-fifths for {x}",
    "fairness.equalized_odds_difference": "Equalized-odds gap across {x} groups",
    "fairness.demographic_parity_difference": "Demographic-parity gap across {x} groups",
    "fairness.ece": "Calibration error within {x} groups",
    "fairness.min_group_share": "A {x} group is below the minimum share",
    "fairness.cohort_accuracy_gap": "Accuracy gap across {x} cohorts",
    "shortcut": "Shortcut: predictions rest on the {x} artifact",
    "sanity_randomization": "{x} explanations survive weight randomization",
    "counterfactual_flip_share": "Predictions flip when {x} terms are swapped",
    "counterfactual_max_abs_diff": "Probability shifts when {x} terms are swapped",
}

_ADVICE = {
    "fairness.impact_ratio": "Investigate the features driving denials for the flagged group (reason codes, proxy "
                             "table); weigh the mitigation what-if; document a business-necessity review before use.",
    "fairness.equalized_odds_difference": "Compare error rates by group; consider group-aware thresholds (see the "
                                          "what-if table) or re-training with more data for the affected groups.",
    "fairness.demographic_parity_difference": "Check whether the gap reflects the data or the model (compare with "
                                              "observed outcome rates) before deciding on mitigation.",
    "fairness.ece": "Recalibrate scores (per group if lawful) before using them as probabilities.",
    "fairness.min_group_share": "Collect more evaluation data for small groups; treat their statistics as indicative.",
    "fairness.cohort_accuracy_gap": "Examine errors in the weakest cohort; augment training data that resemble it.",
    "shortcut": "Remove the artifact from training data (or randomise it) and re-train; re-run this audit.",
    "sanity_randomization": "Do not rely on this explanation method for this model; prefer a method that passes.",
    "completeness_ig": "Raise the number of Integrated Gradients steps or check the baseline.",
    "counterfactual_flip_share": "Review the model's handling of identity terms; add counterfactual data "
                                 "augmentation and re-train.",
    "counterfactual_max_abs_diff": "Review the model's handling of identity terms; add counterfactual data "
                                   "augmentation and re-train.",
}


def family(check_id: str) -> tuple[str, str]:
    """``(family, subject)`` of a check id, e.g. ``('fairness.impact_ratio', 'race')``."""
    if check_id.startswith("fairness."):
        fam, _, subject = check_id.rpartition(".")
        return fam, subject
    m = re.match(r"counterfactual_(.+)_(flip_share|max_abs_diff)$", check_id)
    if m:
        return f"counterfactual_{m.group(2)}", m.group(1).replace("_", " ")
    for prefix in ("shortcut", "sanity_randomization", "infidelity", "max_sensitivity"):
        if check_id.startswith(prefix + "_"):
            return prefix, check_id[len(prefix) + 1:].replace("_", " ")
    return check_id, ""


def section_anchor(check_id: str) -> str:
    """The report section a check belongs to (its HTML id)."""
    fam, subject = family(check_id)
    if fam.startswith("fairness."):
        return anchor(subject)
    if fam.startswith("counterfactual_"):
        return "fairness-counterfactual"
    if fam == "shortcut":
        return "explain-shortcut"
    return "quality"


def exceedance(check: dict[str, Any]) -> float | None:
    """How far past its threshold a check's value lies, in units of the threshold (0 when passed)."""
    v, t = check.get("value"), check["threshold"]
    if v is None or not math.isfinite(v):
        return None
    past = (t - v) if check.get("comparison", "<=") == ">=" else (v - t)
    return max(past, 0.0) / (abs(t) if t else 1.0)


def tier(check_id: str) -> int:
    if check_id.startswith(TIER1):
        return 1
    return 3 if check_id.startswith(TIER3) else 2


def rank_failed(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Failed checks, most severe first, each with tier, exceedance, title, anchor and advice."""
    out = []
    for c in checks:
        if c["passed"]:
            continue
        fam, subject = family(c["id"])
        ex = exceedance(c)
        out.append({"check_id": c["id"], "family": fam, "tier": tier(c["id"]), "exceedance": ex,
                    "title": _TITLES.get(fam, c["description"]).format(
                        x=(subject or c["id"]).replace("_x_", " × ").replace("_", " ")),
                    "value": c["value"], "threshold": c["threshold"], "comparison": c.get("comparison", "<="),
                    "note": c.get("note", ""), "description": c["description"],
                    "anchor": section_anchor(c["id"]), "advice": _ADVICE.get(fam, "")})
    out.sort(key=lambda f: (f["tier"], -(math.inf if f["exceedance"] is None else f["exceedance"]), f["check_id"]))
    return out


def top_findings(ranked: list[dict[str, Any]], n: int = N_FINDINGS) -> list[dict[str, Any]]:
    """The ``n`` most important: one per family first, then the next most severe."""
    picked, seen = [], set()
    for f in ranked:
        if f["family"] not in seen and len(picked) < n:
            picked.append(f)
            seen.add(f["family"])
    for f in ranked:
        if len(picked) >= n:
            break
        if f not in picked:
            picked.append(f)
    return sorted(picked, key=ranked.index)


def summary(checks: list[dict[str, Any]]) -> dict[str, Any]:
    """Verdict by policy: FAIL when any check failed."""
    ranked = rank_failed(checks)
    return {"verdict": "FAIL" if ranked else "PASS", "n_checks": len(checks), "n_failed": len(ranked),
            "n_passed": len(checks) - len(ranked), "findings": top_findings(ranked), "failed": ranked}


def limitations(result: dict[str, Any], card: dict[str, Any], ranked: list[dict[str, Any]]) -> dict[str, Any]:
    """Limitations (card, data, method) and recommendations (one per failed family)."""
    items = []
    if card.get("limitations"):
        items.append({"source": "model card", "text": card["limitations"]})
    fair = result.get("fairness", {})
    if fair.get("status") != "computed":
        items.append({"source": "fairness", "text": fair.get("note") or "fairness statistics were not computed."})
    for a in fair.get("attributes", []):
        small = [g["group"] for g in a["groups"] if g.get("small_group")]
        unknown = next((g["n"] for g in a["groups"] if g["group"] == "unknown"), 0)
        if small:
            items.append({"source": "data", "text": f"{a['name']}: groups below the minimum share "
                          f"({', '.join(small)}) have wide intervals; their statistics are indicative only."})
        if unknown:
            items.append({"source": "data", "text": f"{a['name']}: {unknown} records have no recorded value and "
                          "form the 'unknown' group."})
    for m, v in result["explanations"].get("methods", {}).items():
        n_all = result["dataset"]["n_samples"]
        if v.get("n_samples") and v["n_samples"] < n_all:
            items.append({"source": "method", "text": f"{m} explains a seeded subset of {v['n_samples']} of "
                          f"{n_all} samples; global views are estimates from that subset."})
    cf = (fair.get("probes") or {}).get("counterfactual") or {}
    for note in cf.get("notes", []):
        items.append({"source": "counterfactual probe", "text": note})
    if (fair.get("probes") or {}).get("mitigation"):
        items.append({"source": "mitigation", "text": "The mitigation table is a what-if on the evaluation data "
                      "(cross-fitted); it was not applied to the model and its numbers are optimistic."})
    recs, seen = [], set()
    for f in ranked:
        if f["advice"] and f["family"] not in seen:
            recs.append({"family": f["family"], "checks": [g["check_id"] for g in ranked if g["family"] == f["family"]],
                         "text": f["advice"]})
            seen.add(f["family"])
    if not ranked:
        recs.append({"family": "", "checks": [], "text": "All policy checks passed; re-run this audit when the "
                     "model, its data or the policy change."})
    return {"items": items, "recommendations": recs}
