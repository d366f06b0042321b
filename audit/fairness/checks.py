"""Policy checks computed from an attribute's fairness tables.

Which groups a check covers (one rule for every check): groups with a known
value of the attribute ("unknown" is reported in the tables but is not a group
a policy can compare), and, when the policy's ``exclude_small_groups`` is true
(the default, as NYC LL144 allows for categories under 2%), only groups of at
least ``min_group_share`` of the data. Excluded groups are named with their
values in the check's note, so nothing is dropped silently. The same eligible
set gives both the numerator and the denominator of the impact ratio and the
spreads of the parity criteria; the tables keep every group.

A check that cannot be computed (fewer than two eligible groups, no group
receiving the favourable outcome, undefined rates) is recorded with
``value = None`` and a note saying why; it counts as not passed, because a
policy threshold that could not be evaluated has not been met.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from deepaudit.audit.fairness.comparisons import impact_reference
from deepaudit.audit.fairness.policy import Policy
from deepaudit.audit.schema import Check


def check_id(*parts: str) -> str:
    return ".".join(re.sub(r"[^a-z0-9_-]+", "_", p.lower()) for p in parts)


def _eligible(groups: pd.DataFrame, policy: Policy) -> tuple[pd.DataFrame, str]:
    known = groups[groups["group"] != "unknown"]
    if not policy.exclude_small_groups:
        return known, ""
    small = known["small_group"].astype(bool)
    excluded = known[small]
    note = ""
    if len(excluded):
        note = (f"excluded as under {policy.min_group_share:.0%} of the data: "
                + ", ".join(f"{r.group} (n={r.n})" for r in excluded.itertuples()))
    return known[~small], note


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _spread(g: pd.DataFrame, rate: str) -> tuple[float, str]:
    """max - min of a rate over groups where it is defined, and which groups those are."""
    defined = g[g[rate].notna()]
    if len(defined) < 2:
        return float("nan"), ""
    hi, lo = defined.loc[defined[rate].idxmax()], defined.loc[defined[rate].idxmin()]
    if hi[rate] == lo[rate]:
        # idxmax and idxmin both pick the first group on a tie, which would read "a 0.000 vs a 0.000".
        return 0.0, f"{rate}: every eligible group {hi[rate]:.3f}"
    return float(hi[rate] - lo[rate]), f"{rate}: {hi['group']} {hi[rate]:.3f} vs {lo['group']} {lo[rate]:.3f}"


def _fields(metric: str, attr: str, **params: Any) -> dict[str, Any]:
    """The structured fields of a fairness check: family, subject (the attribute), the policy key, parameters."""
    return {"family": f"fairness.{metric}", "subject": attr, "policy_key": _POLICY_KEY[metric],
            "params": {k: v for k, v in params.items() if v is not None}}


_POLICY_KEY = {"impact_ratio": "impact_ratio_min", "demographic_parity_difference": "demographic_parity_difference_max",
               "equalized_odds_difference": "equalized_odds_difference_max", "ece": "ece_max",
               "min_group_share": "min_group_share", "cohort_accuracy_gap": "cohort_accuracy_gap_max",
               "proxy": "proxy_eta_min", "reason_faithfulness": "reason_faithfulness_share_min"}


def _none(cid: str, description: str, threshold: float, comparison: str, why: str) -> Check:
    metric, attr = cid.split(".", 2)[1:]
    return Check(cid, description, None, threshold, comparison, note=why, **_fields(metric, attr))


def impact_ratio_check(attr: str, groups: pd.DataFrame, disparities: pd.DataFrame, policy: Policy) -> Check:
    cid = check_id("fairness", "impact_ratio", attr)
    desc = (f"{attr}: lowest favourable-outcome rate / highest (impact ratio, four-fifths rule), over groups "
            f"with a known value" + (f" and at least {policy.min_group_share:.0%} of the data"
                                     if policy.exclude_small_groups else ""))
    g, excluded = _eligible(groups, policy)
    g = g[g["selection_rate"].notna()]
    if len(g) < 2:
        return _none(cid, desc, policy.impact_ratio_min, ">=",
                     _join(f"fewer than two eligible groups ({len(g)})", excluded))
    # The denominator by the engine's own rule (one function), so the check divides by the group the
    # stored impact-ratio rows name and states the same numbers.
    all_rates = groups["selection_rate"].to_numpy(dtype=float)
    top, _ = impact_reference(all_rates, (groups["group"] != "unknown").to_numpy(),
                              groups["small_group"].astype(bool).to_numpy(), exclude_small=policy.exclude_small_groups)
    top_name, top_rate = str(groups["group"].iloc[top]), float(all_rates[top])
    if not top_rate > 0:
        return _none(cid, desc, policy.impact_ratio_min, ">=",
                     _join("no eligible group receives the favourable outcome (every rate is 0)", excluded))
    ratios = g.set_index("group")["selection_rate"] / top_rate
    worst = ratios.idxmin()
    # The bootstrap interval of the same ratio from the engine's rows, when they divide by the same group.
    ir = disparities[(disparities["metric"] == "selection_rate") & (disparities["statistic"] == "impact_ratio")
                     & (disparities["group"] == worst)] if len(disparities) else disparities
    interval = ""
    if len(ir) and ir.iloc[0]["reference"] == top_name and pd.notna(ir.iloc[0]["lo"]):
        r = ir.iloc[0]
        interval = f" [{r['lo']:.3f}, {r['hi']:.3f}] ({r['method']})"
    below = ", ".join(f"{k} {v:.3f}" for k, v in ratios.items() if v < policy.impact_ratio_min)
    return Check(cid, desc, float(ratios[worst]), policy.impact_ratio_min, ">=", group=str(worst),
                 **_fields("impact_ratio", attr, reference=top_name),
                 note=_join(f"lowest: {worst} {ratios[worst]:.3f}{interval} vs highest {top_name} "
                            f"{top_rate:.3f}", f"below threshold: {below}" if below else "", excluded))


def parity_checks(attr: str, groups: pd.DataFrame, policy: Policy) -> list[Check]:
    g, excluded = _eligible(groups, policy)
    out = []
    dp, dp_note = _spread(g, "selection_rate")
    tpr, tpr_note = _spread(g, "tpr")
    fpr, fpr_note = _spread(g, "fpr")
    eo = np.nanmax([tpr, fpr]) if np.isfinite([tpr, fpr]).any() else float("nan")
    for metric, value, bound, note, what in (
            ("demographic_parity", dp, policy.demographic_parity_difference_max, dp_note,
             "demographic parity difference (max - min selection rate)"),
            ("equalized_odds", eo, policy.equalized_odds_difference_max, _join(tpr_note, fpr_note),
             "equalized odds difference (larger of the TPR and FPR spreads)")):
        cid = check_id("fairness", metric + "_difference", attr)
        desc = f"{attr}: {what} over eligible groups"
        if not np.isfinite(value):
            out.append(_none(cid, desc, bound, "<=", _join("fewer than two eligible groups with the rate defined",
                                                           excluded)))
        else:
            out.append(Check(cid, desc, float(value), bound, "<=", note=_join(note, excluded),
                             **_fields(metric + "_difference", attr)))
    return out


def ece_check(attr: str, calibration: pd.DataFrame, policy: Policy) -> Check:
    cid = check_id("fairness", "ece", attr)
    desc = f"{attr}: largest expected calibration error within an eligible group"
    c, excluded = _eligible(calibration, policy)
    c = c[c["ece"].notna()]
    if c.empty:
        return _none(cid, desc, policy.ece_max, "<=", _join("no eligible group", excluded))
    w = c.loc[c["ece"].idxmax()]
    return Check(cid, desc + f" ({int(w['n_bins'])} bins)", float(w["ece"]), policy.ece_max, "<=",
                 group=str(w["group"]), **_fields("ece", attr, n_bins=int(w["n_bins"])),
                 note=_join(f"{w['group']}: {w['ece']:.3f} [{w['lo']:.3f}, {w['hi']:.3f}]", excluded))


def min_share_check(attr: str, groups: pd.DataFrame, policy: Policy) -> Check:
    known = groups[groups["group"] != "unknown"]
    small = known[known["small_group"].astype(bool)]
    unknown = groups[groups["group"] == "unknown"]
    return Check(check_id("fairness", "min_group_share", attr),
                 f"{attr}: smallest known group's share of the evaluation data (groups below are flagged and "
                 "reported, never dropped)", float(known["share"].min()) if len(known) else None,
                 policy.min_group_share, ">=", **_fields("min_group_share", attr),
                 group=str(known.loc[known["share"].idxmin(), "group"]) if len(known) else None,
                 note=_join(", ".join(f"{r.group}: n={r.n}" for r in small.itertuples()),
                            f"unknown: n={int(unknown['n'].sum())}" if len(unknown) else ""))


def cohort_gap_check(attr: str, groups: pd.DataFrame, policy: Policy) -> Check:
    cid = check_id("fairness", "cohort_accuracy_gap", attr)
    desc = f"{attr}: highest minus lowest accuracy across eligible cohorts"
    g, excluded = _eligible(groups, policy)
    value, note = _spread(g, "selection_rate")
    if not np.isfinite(value):
        return _none(cid, desc, policy.cohort_accuracy_gap_max, "<=",
                     _join("fewer than two eligible cohorts", excluded))
    return Check(cid, desc, value, policy.cohort_accuracy_gap_max, "<=", **_fields("cohort_accuracy_gap", attr),
                 note=_join(note.replace("selection_rate", "accuracy"), excluded))


def proxy_check(attr: str, proxy: pd.DataFrame, policy: Policy) -> Check:
    """No input feature is a proxy for ``attr``: associated with it (eta >= proxy_eta_min) and relied on for
    some group (:func:`deepaudit.audit.fairness.proxy.proxy_table`'s evidence). The value is the number of such features
    (missing-value indicators counted with their feature)."""
    cid = check_id("fairness", "proxy", attr)
    desc = (f"{attr}: no input feature both associated with {attr} (eta >= {policy.proxy_eta_min:g}) and relied on "
            f"for some group (top {policy.proxy_top_k} overall or within a group, a denial reason for >= "
            f"{policy.proxy_reason_share_min:.0%} of a group's denied, or a top-3 driver of a group's gap)")
    rows = proxy[proxy["attribute"] == attr] if len(proxy) else proxy
    if not len(rows):
        return _none(cid, desc, 0.0, "<=", "no proxy analysis for this attribute (no importance table)")
    flagged = rows[rows["proxy_candidate"].astype(bool)]
    names = list(dict.fromkeys(str(f).removesuffix("_missing") for f in flagged["feature"]))
    first: dict[str, Any] = {}
    for f, r in zip(flagged["feature"], flagged.itertuples()):   # the feature's own row before its indicator's
        first.setdefault(str(f).removesuffix("_missing"), r)
    note = "; ".join(f"{n} (eta {first[n].eta:.2f}: {first[n].evidence})" for n in names)
    return Check(cid, desc, float(len(names)), 0.0, "<=", group=names[0] if names else None,
                 **_fields("proxy", attr, top_k=policy.proxy_top_k, reason_share_min=policy.proxy_reason_share_min),
                 note=note or "no feature associated with the attribute is relied on for any group")


def reason_faithfulness_check(summary: dict[str, Any], favourable: Any, policy: Policy) -> Check:
    """The stated adverse-action reasons describe what moves the score (:func:`deepaudit.audit.fairness.reasons.
    reason_faithfulness`), on at least the policy's share of denied applicants."""
    cid = check_id("fairness", "reason_faithfulness")
    desc = ("adverse-action reasons: " + summary["rule"])
    value = summary.get("share_faithful")
    if value is None:
        return Check(cid, desc, None, policy.reason_faithfulness_share_min, ">=",
                     note="no denied applicant has an unstated feature to compare with",
                     **_fields("reason_faithfulness", str(favourable)))
    n, k = summary["n_compared"], round(value * summary["n_compared"])
    return Check(cid, desc, float(value), policy.reason_faithfulness_share_min, ">=",
                 **_fields("reason_faithfulness", str(favourable), seed=summary.get("seed")),
                 note=f"{k} of {n} denied applicants; median gain from the first reason "
                      f"{summary['median_gain_top']:+.3f} vs {summary['median_gain_random']:+.3f} from a random "
                      f"unstated feature")


def policy_checks(attr: str, tables: dict[str, pd.DataFrame], policy: Policy) -> list[Check]:
    """All policy checks of one attribute with a favourable outcome."""
    out = [impact_ratio_check(attr, tables["groups"], tables["disparities"], policy),
           *parity_checks(attr, tables["groups"], policy)]
    if "calibration" in tables:
        out.append(ece_check(attr, tables["calibration"], policy))
    out.append(min_share_check(attr, tables["groups"], policy))
    return out
