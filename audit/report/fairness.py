"""Fairness section of the report model: tidy rows taken from the run's :class:`~deepaudit.audit.result.Fairness`.

Nothing is recomputed here: every number is the run's, regrouped into the
tables a reviewer reads (rates per group, comparisons with the reference
group, summary statistics, calibration, proxies, mitigation what-if).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from deepaudit.audit.result import AuditResult, FairnessAttribute
    from deepaudit.audit.schema import Check

#: Summary statistics shown per attribute, in this order.
SUMMARY_METRICS = ("demographic_parity", "equal_opportunity", "equalized_odds", "predictive_parity")
#: Proxy rows shown beside the candidates (the strongest associations).
PROXY_TOP = 12
#: Counterfactual pairs shown per attribute (largest absolute paired difference first).
CF_PAIRS = 3


def anchor(name: str) -> str:
    """HTML id of an attribute's fairness subsection."""
    return "fairness-" + "".join(c if c.isalnum() else "-" for c in name)


def _rate_row(g: dict[str, Any], binary: bool) -> dict[str, Any]:
    row = {k: g.get(k) for k in ("group", "n", "share", "small_group", "is_reference", "positives", "negatives")}
    row["undefined"] = g.get("undefined") or ""      # which rates are NaN and why (older runs: not recorded)
    if not binary:
        # Without a favourable class the engine's "outcome" is a correct prediction, so its selection
        # rate is the cohort's accuracy (its own accuracy field would score that outcome, trivially 1).
        row["accuracy"] = {"value": g["selection_rate"], "lo": g.get("selection_rate_lo"),
                           "hi": g.get("selection_rate_hi")}
        return row
    for m in ("selection_rate", "tpr", "fpr", "ppv", "accuracy", "scoring_rate"):
        if m in g:
            row[m] = {"value": g[m], "lo": g.get(f"{m}_lo"), "hi": g.get(f"{m}_hi")}
    return row


def _find(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    for r in rows:
        if all(r.get(k) == v for k, v in match.items()):
            return r
    return None


#: Set on an estimate whose interval does not contain it, so the report shows it rather than hiding it.
EXCLUDES_ESTIMATE = ("the percentile bootstrap interval excludes the point estimate: a max-min spread near 0 is "
                     "biased upward under resampling; read the interval as the spread's sampling range")
#: The same for an ECE: a sum of absolute gaps, which resampling noise can only push up.
ECE_EXCLUDES_ESTIMATE = ("the percentile bootstrap interval excludes the point estimate: an ECE sums absolute gaps, "
                         "so resampling noise pushes it up, and for a well-calibrated group the interval can lie "
                         "wholly above the estimate; read it as the ECE's sampling range")


#: Why a comparison has no value, when the run's own note does not say (rows without a note).
NO_FAVOURABLE = "no favourable predictions in any known group, so there is no highest rate to divide by"
ZERO_REFERENCE = "the reference group's rate is 0, so a ratio against it is undefined"
SINGLE_GROUP = "only one group, so there is nothing to compare with"


def _stat(d: dict[str, Any] | None, why: str = "", warning: str = EXCLUDES_ESTIMATE) -> dict[str, Any] | None:
    """An estimate as the report shows it; one without a value carries ``note``: why it is not computable, and
    one outside its own interval ``warning``."""
    if d is None:
        return None
    out = {"value": d["value"], "lo": d.get("lo"), "hi": d.get("hi")}
    if out["value"] is None:
        out["note"] = why or d.get("note") or ""
    elif None not in out.values() and not out["lo"] <= out["value"] <= out["hi"]:
        out["warning"] = warning
    return out


def _why(attr: FairnessAttribute, metric: str) -> tuple[str, str]:
    """``(impact, ratio)``: why the impact ratio and the ratio vs the reference are not computable, from the groups."""
    known = [g for g in attr.groups if g["group"] != "unknown"]
    if len(attr.groups) < 2:
        return SINGLE_GROUP, SINGLE_GROUP
    rates = [g.get(metric) for g in known]
    impact = NO_FAVOURABLE if known and all(r is not None and r <= 0 for r in rates) else ""
    ref = next((g for g in attr.groups if g.get("is_reference")), None)
    ratio = ZERO_REFERENCE if ref is not None and ref.get(metric) == 0 else ""
    return impact, ratio


def _comparisons(attr: FairnessAttribute, metric: str) -> list[dict[str, Any]]:
    """Each group against the reference on ``metric``: difference, ratio, impact ratio, test."""
    dis, sig = attr.disparities, attr.significance
    why_impact, why_ratio = _why(attr, metric)
    rows = []
    for g in attr.groups:
        name = g["group"]
        diff = _find(dis, metric=metric, statistic="difference_vs_reference", group=name)
        ratio = _find(dis, metric=metric, statistic="ratio_vs_reference", group=name)
        impact = _find(dis, metric=metric, statistic="impact_ratio", group=name)
        test = _find(sig, metric=metric, group=name)
        if not (diff or impact or g.get("is_reference")):
            continue
        rows.append({
            "group": name, "n": g["n"], "small_group": g["small_group"],
            "is_reference": g.get("is_reference", False),
            "reference": (diff or ratio or impact or {}).get("reference"),
            "difference": _stat(diff), "ratio": _stat(ratio, why_ratio), "impact_ratio": _stat(impact, why_impact),
            "four_fifths_flag": bool(impact and impact.get("four_fifths_flag")),
            # no outcome of the group could differ from the reference (older runs: not recorded)
            "too_small": bool(diff and diff.get("too_small")),
            "test": test and test["test"], "p_value": test and test["p_value"],
            "p_adjusted": test and test["p_adjusted"], "significant": bool(test and test["significant"]),
            "method": (diff or impact or {}).get("method"),
        })
    return rows


def _summary(attr: FairnessAttribute) -> list[dict[str, Any]]:
    dis = attr.disparities
    rows = []
    for m in SUMMARY_METRICS:
        d, r = _find(dis, metric=m, statistic="difference"), _find(dis, metric=m, statistic="ratio")
        if d or r:
            rows.append({"metric": m, "difference": _stat(d), "ratio": _stat(r),
                         "note": (d or r).get("note", ""), "method": (d or r).get("method")})
    return rows


def attribute_section(attr: FairnessAttribute, *, binary: bool, checks: Sequence[Check]) -> dict[str, Any]:
    """One attribute (or cohort, or intersection) as report tables."""
    name = attr.name
    ref = next((g["group"] for g in attr.groups if g.get("is_reference")), None)
    metric = "selection_rate"
    summary = _summary(attr) if binary else []
    flagged = any((s[k] or {}).get("warning") for s in summary for k in ("difference", "ratio"))
    return {
        "name": name, "anchor": anchor(name), "kind": attr.kind,
        "intersection": "_x_" in name, "rate_meaning": attr.rate_meaning or "favourable outcome rate",
        "reference_group": ref,
        "groups": [_rate_row(g, binary) for g in attr.groups],
        "comparisons": _comparisons(attr, metric),
        "summary": summary, "summary_warning": EXCLUDES_ESTIMATE if flagged else "",
        "calibration": [{"group": c["group"], "n": c["n"], "small_group": c.get("small_group", False),
                         "ece": _stat({"value": c["ece"], "lo": c.get("lo"), "hi": c.get("hi")},
                                      warning=ECE_EXCLUDES_ESTIMATE), "method": c.get("method")}
                        for c in attr.calibration],
        "significance_method": _significance_method(attr),
        "checks": [c.id for c in checks if c.family.startswith("fairness.") and c.subject == name],
    }


def _significance_method(attr: FairnessAttribute) -> str:
    tests = sorted({s["test"] for s in attr.significance})
    corr = {s.get("correction") for s in attr.significance} - {None}
    if not tests:
        return ""
    return f"{' / '.join(tests)}; {', '.join(sorted(corr)) or 'no'} correction across groups"


PROXY_RULE = ("a proxy candidate has η ≥ {eta:g} and ranks in the top {k} overall or within a group, is a denial "
              "reason for ≥ {share:.0%} of a group's denied applicants, or is a top-3 driver of a group's gap. A "
              "feature that encodes a minority status moves only that minority's scores, so its overall rank can "
              "be low")
PROXY_RULE_OLD = ("a proxy candidate has η ≥ 0.2 and ranks in the top 10 by overall importance (the rule of the "
                  "deepaudit that wrote this run; reliance within groups was not measured)")


def _proxies(rows: list[dict[str, Any]], policy: dict[str, Any] | None = None) -> dict[str, Any]:
    keep = [r for r in rows if r.get("proxy_candidate")]
    rest = sorted((r for r in rows if not r.get("proxy_candidate")), key=lambda r: (-(r["eta"] or 0), r["feature"]))
    keep = sorted(keep, key=lambda r: (-(r["eta"] or 0), r["attribute"], r["feature"])) + rest[:PROXY_TOP]
    cols = ("attribute", "feature", "label", "eta", "p_value", "importance_rank", "importance_share",
            "group_rank", "group_rank_group", "reason_share", "reason_share_group", "gap_rank", "gap_rank_group",
            "evidence", "n_known", "n_unknown", "proxy_candidate")
    policy = policy or {}
    rule = (PROXY_RULE.format(eta=policy["proxy_eta_min"], k=policy.get("proxy_top_k", 10),
                              share=policy.get("proxy_reason_share_min", 0.1))
            if "proxy_eta_min" in policy else PROXY_RULE_OLD)
    return {"n_pairs": len(rows), "n_candidates": sum(bool(r.get("proxy_candidate")) for r in rows),
            "rule": rule, "rows": [{k: _finite_or_none(r.get(k)) for k in cols} for r in keep]}


def _finite_or_none(v: Any) -> Any:
    """NaN (a criterion not evaluated, e.g. in runs before it existed) as None, which the template shows as —."""
    return None if isinstance(v, float) and v != v else v


#: Drivers shown per group in "what drives the gap".
GAP_DRIVERS = 3


def gap_view(gap: dict[str, Any], proxy_rows: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Per group: its gaps to the reference and the largest drivers (rank 1.. in the direction of the gap)."""
    flagged = {(r["attribute"], str(r["feature"]).removesuffix("_missing"))
               for r in proxy_rows or [] if r.get("proxy_candidate")}
    by_group: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in gap.get("table", []):
        by_group.setdefault((r["attribute"], r["group"]), []).append(r)
    groups = []
    for s in gap.get("summary", []):
        rows = sorted(by_group.get((s["attribute"], s["group"]), []), key=lambda r: r["rank"])[:GAP_DRIVERS]
        total = s.get("sum_of_contributions")
        groups.append({**{k: s.get(k) for k in ("attribute", "group", "reference", "n", "small_group", "gap",
                                                 "rate_gap", "completeness_residual")},
                       # the contributions' sum against the gap shown (older runs: against the pairs' gap)
                       "residual": (total - s["gap"]) if total is not None and s.get("gap") is not None
                       else s.get("completeness_residual"),
                       "sampled": s.get("all_rows") is False,
                       "drivers": [{k: r[k] for k in ("feature", "label", "contribution", "lo", "hi")}
                                   | {"proxy": (s["attribute"], r["feature"]) in flagged} for r in rows]})
    residuals = [abs(g["residual"]) for g in groups if g["residual"] is not None]
    return {"method": gap.get("method", ""), "params": gap.get("params", {}), "groups": groups,
            "max_residual": max(residuals) if residuals else None, "any_sampled": any(g["sampled"] for g in groups),
            "skipped": gap.get("skipped", [])}


def _mitigation(m: dict[str, Any]) -> dict[str, Any]:
    out = []
    for attr, rows in m["by_attribute"].items():
        if isinstance(rows, dict):  # {"skipped": why}
            out.append({"attribute": attr, "skipped": rows["skipped"], "rows": [], "groups": []})
            continue
        groups = sorted({k[len("selection_rate_"):] for r in rows for k in r if k.startswith("selection_rate_")})
        out.append({"attribute": attr, "skipped": None, "groups": groups, "rows": [
            {"setting": r["setting"], "tol": r.get("tol"), "accuracy": r["accuracy"],
             "accuracy_change": r.get("accuracy_change"), "selection_rate": r.get("selection_rate"),
             "min_impact_ratio": r.get("min_impact_ratio"), "impact_ratio_change": r.get("impact_ratio_change"),
             "group_rates": [r.get(f"selection_rate_{g}") for g in groups]} for r in rows]})
    return {"method": m["method"], "attributes": out}


def _counterfactual(cf: dict[str, Any]) -> dict[str, Any]:
    """The NLP counterfactual probe: every group, and the largest paired differences per attribute."""
    pairs: dict[str, list[dict[str, Any]]] = {}
    for p in cf.get("pairs", []):
        pairs.setdefault(p["attribute"], []).append(p)
    top = [p for rows in pairs.values()
           for p in sorted(rows, key=lambda p: (-abs(p["mean_diff"]), p["group_a"], p["group_b"]))[:CF_PAIRS]]
    gcols = ("attribute", "group", "n", "n_words", "mean_prob", "lo", "hi", "pred_favorable_share", "oov_share",
             "token_attr_share")
    pcols = ("attribute", "group_a", "group_b", "mean_diff", "lo", "hi", "n_templates", "flip_share", "word_flip_share")
    settings = cf.get("settings", {})
    return {"groups": [{k: g.get(k) for k in gcols} for g in cf.get("groups", [])],
            "pairs": [{k: p.get(k) for k in pcols} for p in top], "n_pairs": len(cf.get("pairs", [])),
            "method": (cf.get("groups") or [{}])[0].get("method", ""), "notes": cf.get("notes", []),
            "citations": settings.get("citations", {}),
            "settings": {k: v for k, v in settings.items() if k != "citations"}}


def fairness_section(run: AuditResult) -> dict[str, Any]:
    """The report's fairness section (status, per-attribute tables, probes)."""
    fair = run.fairness
    # With a favourable class the engine's rates are of that outcome (one-vs-rest beyond two classes), so the
    # tables are outcome rates whatever the number of classes; without one they are accuracy per cohort.
    binary = run.model.favorable_label is not None
    attrs = [attribute_section(a, binary=binary, checks=run.checks) for a in fair.attributes]
    probes = fair.probes
    return {
        "status": fair.status, "note": fair.extra.get("note", ""), "outcome": fair.outcome,
        "binary": binary, "reference_rule": fair.reference_rule, "policy": fair.policy,
        "attributes": attrs,
        "proxy": _proxies(probes["proxy"], fair.policy) if probes.get("proxy") else None,
        "gap": gap_view(probes["gap"], probes.get("proxy")) if probes.get("gap") else None,
        "mitigation": _mitigation(probes["mitigation"]) if probes.get("mitigation") else None,
        "counterfactual": _counterfactual(probes["counterfactual"]) if probes.get("counterfactual") else None,
    }
