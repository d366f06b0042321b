"""Executive summary: verdict by policy, ranked findings, limitations and recommendations.

Severity of a failed check is (tier, exceedance): the tier says what kind of
failure it is, the exceedance how far past its threshold the value lies, in
units of the threshold (``|value - threshold| / |threshold|``). Tiers:

1. a legal standard or the validity of the audit itself: the four-fifths rule
   (impact ratio), a detected shortcut, an explainer that fails the
   randomization sanity check, IG completeness not reached, published
   attributions of another method (DeepLIFT, SHAP) that do not add up to the
   prediction (completeness);
2. every other behaviour of the model (fairness gaps, calibration,
   counterfactual shifts, cohort gaps, explanation faithfulness);
3. data coverage (a group below the minimum share).

A check that could not be computed (value None) ranks first within its tier;
its finding says it was not computable (not that a threshold was crossed) and
its recommendation is to re-audit on data where it can be computed.
The top findings take one check per family (its ``family`` field)
before repeating a family, so three findings are three different problems.

Section 8 is never empty: every failed check leads to a recommendation (a
generic one where its family has no specific advice), a run without failures
or without checks says so, and the limitations always end with the audit's
scope.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence

from deepaudit.audit.report.fairness import anchor
from deepaudit.audit.schema import CHECK_FAMILIES, Check, check_area

if TYPE_CHECKING:
    from deepaudit.audit.result import AuditResult, Fairness

N_FINDINGS = 3
#: Below this many evaluation samples the report warns that intervals are wide and statistics indicative.
SMALL_N = 30
#: Severity tiers by check family (tier 2 for every other family).
TIER1 = frozenset({"fairness.impact_ratio", "fairness.favourable_outcome_given", "shortcut", "sanity_randomization",
                   "completeness_ig", "completeness"})
TIER3 = frozenset({"fairness.min_group_share"})

_TITLES = {
    "fairness.impact_ratio": "Impact ratio below four-fifths for {x}",
    "fairness.favourable_outcome_given": "No one receives the favourable outcome ({x})",
    "fairness.proxy": "A feature acts as a proxy for {x}",
    "fairness.reason_faithfulness": "Stated denial reasons do not match what moves the score ({x})",
    "fairness.equalized_odds_difference": "Equalized-odds gap across {x} groups",
    "fairness.demographic_parity_difference": "Demographic-parity gap across {x} groups",
    "fairness.ece": "Calibration error within {x} groups",
    "fairness.min_group_share": "A {x} group is below the minimum share",
    "fairness.cohort_accuracy_gap": "Accuracy gap across {x} cohorts",
    "shortcut": "Shortcut: predictions rest on the {x} artifact",
    "sanity_randomization": "{x} explanations survive weight randomization",
    "completeness": "{x} attributions do not add up to the prediction",
    "counterfactual_flip_share": "Predictions flip when {x} terms are swapped",
    "counterfactual_max_abs_diff": "Probability shifts when {x} terms are swapped",
}

#: What a family measures, for the title of a check that could not be computed.
_SUBJECTS = {
    "fairness.impact_ratio": "impact ratio for {x}",
    "fairness.favourable_outcome_given": "favourable outcomes ({x}) given",
    "fairness.proxy": "proxies for {x}",
    "fairness.reason_faithfulness": "faithfulness of stated reasons ({x})",
    "fairness.equalized_odds_difference": "equalized-odds gap across {x} groups",
    "fairness.demographic_parity_difference": "demographic-parity gap across {x} groups",
    "fairness.ece": "calibration error within {x} groups",
    "fairness.min_group_share": "smallest {x} group's share",
    "fairness.cohort_accuracy_gap": "accuracy gap across {x} cohorts",
    "shortcut": "shortcut probe for the {x} artifact",
    "sanity_randomization": "randomization sanity check of {x}",
    "counterfactual_flip_share": "prediction flips when {x} terms are swapped",
    "counterfactual_max_abs_diff": "probability shift when {x} terms are swapped",
    "completeness_ig": "Integrated Gradients completeness",
    "completeness": "completeness of {x}",
    "infidelity": "infidelity of {x}",
    "max_sensitivity": "max-sensitivity of {x}",
    "deletion_auc_vs_random": "deletion test of the attribution ranking",
    "insertion_auc_vs_random": "insertion test of the attribution ranking",
}
NOT_COMPUTABLE_TITLE = "Not computable: {subject}"
NOT_COMPUTABLE_FAMILY = "not computable"
NOT_COMPUTABLE_ADVICE = ("The policy counts a check it could not evaluate as failed. Re-audit on evaluation data where "
                         "it can be computed (for example more samples, at least two known groups above the minimum "
                         "share, both outcomes predicted) before relying on the model for this aspect.")
GENERIC_ADVICE = ("Review this failed check in the section it links to and record, with the model owner, whether "
                  "and under which conditions the model may be used despite it.")
NO_CHECKS = ("No policy checks were evaluated in this run, so the verdict certifies nothing. Re-run the audit with a "
             "policy whose checks apply to this model before review.")
ALL_PASSED = "All policy checks passed; re-run this audit when the model, its data or the policy change."
SCOPE = ("The audit covers only the {n} evaluation samples supplied ({dataset}); its statistics do not transfer to "
         "other populations, to later data or to a changed model.")
SMALL_SAMPLE = ("The evaluation set has only {n} samples: every interval is wide, statistics that need more data "
                "are reported as not computable, and the results are indicative only. Bootstrap intervals of a "
                "group with a single sample, or with a rate of exactly 0 or 1, collapse to a point and understate "
                "the uncertainty; read the Wilson interval of its rate instead.")
NO_FAVOURABLE = ("{attr}: the model predicted the favourable outcome for no one in any group, so impact ratios and "
                 "ratios against the reference group are not computable, and a parity gap of 0 only means that "
                 "every group was refused alike.")
ALL_FAVOURABLE = ("{attr}: the model predicted the favourable outcome for everyone, so parity gaps of 0 and impact "
                  "ratios of 1 say nothing about how it would treat groups on cases it refuses.")
ONE_GROUP = ("{attr}: only one known group ({group}), so no comparison across {name} groups is possible; its "
             "comparative fairness checks are not computable.")

_ADVICE = {
    "fairness.favourable_outcome_given": "Check the decision rule, the favourable label and the score scale before "
                                         "reading any parity statistic: with no favourable decisions they are empty.",
    "fairness.proxy": "Review each named feature with the model owner: whether it is needed (business necessity), "
                      "whether a less discriminatory alternative exists, and whether to drop or transform it; "
                      "see what drives each group's gap and the group's denial reasons.",
    "fairness.reason_faithfulness": "Do not send these reasons to applicants until they describe what actually "
                                    "moves the score: check the attribution method, its baseline and step count.",
    "fairness.impact_ratio": "Investigate what drives the flagged group's unfavourable outcomes (what drives the gap, "
                             "reason codes and the proxy table, where this report has them); weigh group-aware "
                             "thresholds; document a business-necessity review before use.",
    "fairness.equalized_odds_difference": "Compare error rates by group; consider group-aware thresholds (the "
                                          "mitigation what-if, where this report has one) or re-training with more "
                                          "data for the affected groups.",
    "fairness.demographic_parity_difference": "Check whether the gap reflects the data or the model (compare with "
                                              "observed outcome rates) before deciding on mitigation.",
    "fairness.ece": "Recalibrate scores (per group if lawful) before using them as probabilities.",
    "fairness.min_group_share": "Collect more evaluation data for small groups; treat their statistics as indicative.",
    "fairness.cohort_accuracy_gap": "Examine errors in the weakest cohort; augment training data that resemble it.",
    "shortcut": "Remove the artifact from training data (or randomise it) and re-train; re-run this audit.",
    "sanity_randomization": "Do not rely on this explanation method for this model; prefer a method that passes.",
    "completeness_ig": "Raise the number of Integrated Gradients steps or check the baseline.",
    "completeness": "Do not read this method's attributions as a decomposition of the prediction: the model holds "
                    "operations its rules do not cover (DeepLIFT) or its estimate needs more draws (SHAP, "
                    "GradientSHAP: raise n_samples); prefer a method that passes.",
    "counterfactual_flip_share": "Review the model's handling of identity terms; add counterfactual data "
                                 "augmentation and re-train.",
    "counterfactual_max_abs_diff": "Review the model's handling of identity terms; add counterfactual data "
                                   "augmentation and re-train.",
    "infidelity": "The attributions do not track how the model's output changes under small perturbations; do not "
                  "read individual explanations of this method as faithful, and compare with another method.",
    "max_sensitivity": "The explanations change markedly under small input perturbations; treat single explanations "
                       "of this method as unstable and rely on aggregated views.",
    "deletion_auc_vs_random": "The attribution ranking finds what the prediction rests on no better than a random "
                              "order; do not base decisions on its feature rankings until a method passes.",
    "insertion_auc_vs_random": "The attribution ranking finds what the prediction rests on no better than a random "
                               "order; do not base decisions on its feature rankings until a method passes.",
}


def family(check: Check) -> tuple[str, str]:
    """``(family, subject)`` of a stored check, e.g. ``('fairness.impact_ratio', 'race')``."""
    return check.family, check.subject or ""


def check_words(check: Check) -> str:
    """What a check judges, in words, whether it passed or not (e.g. "Impact ratio for race x sex")."""
    fam, subject = family(check)
    x = (subject or check.id).replace("_x_", " × ").replace("_", " ")
    text = _SUBJECTS[fam].format(x=x) if fam in _SUBJECTS else check.description
    if fam in ("deletion_auc_vs_random", "insertion_auc_vs_random") and check.method:
        text += f" ({check.method.replace('_', ' ')})"
    return text[:1].upper() + text[1:]


def section_anchor(check: Check) -> str:
    """The report section a check belongs to (its HTML id)."""
    fam, subject = family(check)
    area = check_area(fam)
    if area == "fairness":
        if fam.startswith("counterfactual_"):
            return "fairness-counterfactual"
        # an attribute's checks link to its subsection; a model-wide one (no one approved) to the section
        return "fairness" if CHECK_FAMILIES.get(fam, ("", ""))[1] != "attribute" else anchor(subject)
    if area == "shortcut":
        return "explain-shortcut"
    return "quality"


def exceedance(check: Check) -> float | None:
    """How far past its threshold a check's value lies, in units of the threshold (0 when passed)."""
    if not check.computed:
        return None
    v, t = check.value, check.threshold
    past = (t - v) if check.comparison == ">=" else (v - t)
    return max(past, 0.0) / (abs(t) if t else 1.0)


def tier(check: Check) -> int:
    fam, _ = family(check)
    if fam in TIER1:
        return 1
    return 3 if fam in TIER3 else 2


def rank_failed(checks: Sequence[Check]) -> list[dict[str, Any]]:
    """Failed checks, most severe first, each with tier, exceedance, title, anchor and advice."""
    out = []
    for c in checks:
        if c.passed:
            continue
        fam, subject = family(c)
        ex = exceedance(c)
        x = (subject or c.id).replace("_x_", " × ").replace("_", " ")
        if c.computed:
            title, advice = _TITLES.get(fam, c.description).format(x=x), _ADVICE.get(fam, GENERIC_ADVICE)
        else:
            subject_text = _SUBJECTS[fam].format(x=x) if fam in _SUBJECTS else c.description
            title, advice = NOT_COMPUTABLE_TITLE.format(subject=subject_text), NOT_COMPUTABLE_ADVICE
        out.append({"check_id": c.id, "family": fam, "tier": tier(c), "exceedance": ex,
                    "title": title, "computed": c.computed,
                    "value": c.value, "threshold": c.threshold, "comparison": c.comparison,
                    "note": c.note, "description": c.description,
                    "anchor": section_anchor(c), "advice": advice})
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


def summary(checks: Sequence[Check]) -> dict[str, Any]:
    """Verdict by policy: FAIL when any check failed."""
    ranked = rank_failed(checks)
    return {"verdict": "FAIL" if ranked else "PASS", "n_checks": len(checks), "n_failed": len(ranked),
            "n_passed": len(checks) - len(ranked), "findings": top_findings(ranked), "failed": ranked}


def limitations(run: AuditResult, card: dict[str, Any], ranked: list[dict[str, Any]]) -> dict[str, Any]:
    """Limitations (card, data, method, scope) and recommendations; neither list is ever empty."""
    items = []
    n_all = run.dataset.n_samples
    if card.get("limitations"):
        items.append({"source": "model card", "text": card["limitations"]})
    if n_all < SMALL_N:
        items.append({"source": "data", "text": SMALL_SAMPLE.format(n=n_all)})
    fair = run.fairness
    if fair.status != "computed":
        items.append({"source": "fairness",
                      "text": fair.extra.get("note") or "fairness statistics were not computed."})
    items.extend(_group_limitations(fair, run.model.favorable_label is not None))
    for m, v in run.explanations.methods.items():
        if v.n_samples and v.n_samples < n_all:
            items.append({"source": "method", "text": f"{m} explains a seeded subset of {v.n_samples} of "
                          f"{n_all} samples; global views are estimates from that subset."})
    cf = fair.probes.get("counterfactual") or {}
    for note in cf.get("notes", []):
        items.append({"source": "counterfactual probe", "text": note})
    if fair.probes.get("mitigation"):
        items.append({"source": "mitigation", "text": "The mitigation table is a what-if on the evaluation data "
                      "(cross-fitted); it was not applied to the model and its numbers are optimistic."})
    items.append({"source": "scope", "text": SCOPE.format(n=n_all, dataset=run.dataset.name or "dataset not named")})
    return {"items": items, "recommendations": recommendations(ranked, n_checks=len(run.checks))}


def _group_limitations(fair: Fairness, outcome: bool) -> list[dict[str, Any]]:
    """Per attribute: small and unknown groups, a single known group, no (or only) favourable predictions."""
    items = []
    for a in fair.attributes:
        name = a.name.replace("_x_", " × ").replace("_", " ")
        small = [g["group"] for g in a.groups if g["small_group"]]
        unknown = next((g["n"] for g in a.groups if g["group"] == "unknown"), 0)
        known = [g for g in a.groups if g["group"] != "unknown"]
        if small:
            items.append({"source": "data", "text": f"{a.name}: groups below the minimum share "
                          f"({', '.join(small)}) have wide intervals; their statistics are indicative only."})
        if unknown:
            items.append({"source": "data", "text": f"{a.name}: {unknown} record{'s have' if unknown != 1 else ' has'} "
                          "no recorded value and form the 'unknown' group." if unknown != 1 else
                          f"{a.name}: 1 record has no recorded value and forms the 'unknown' group."})
        if len(known) == 1:
            items.append({"source": "data", "text": ONE_GROUP.format(attr=a.name, group=known[0]["group"],
                                                                     name=name)})
        rates = [g.get("selection_rate") for g in a.groups]
        if outcome and rates and None not in rates:
            if all(r == 0 for r in rates):
                items.append({"source": "model", "text": NO_FAVOURABLE.format(attr=a.name)})
            elif all(r == 1 for r in rates):
                items.append({"source": "model", "text": ALL_FAVOURABLE.format(attr=a.name)})
    return items


def recommendations(ranked: list[dict[str, Any]], *, n_checks: int) -> list[dict[str, Any]]:
    """One per failed family (checks that could not be computed share one), most severe first."""
    recs: list[dict[str, Any]] = []
    seen: set[str] = set()
    for f in ranked:
        fam = f["family"] if f["computed"] else NOT_COMPUTABLE_FAMILY
        if fam in seen:
            continue
        seen.add(fam)
        same = [g["check_id"] for g in ranked
                if (g["family"] if g["computed"] else NOT_COMPUTABLE_FAMILY) == fam]
        recs.append({"family": fam, "checks": same, "text": f["advice"]})
    if not ranked:
        recs.append({"family": "", "checks": [], "text": ALL_PASSED if n_checks else NO_CHECKS})
    return recs
