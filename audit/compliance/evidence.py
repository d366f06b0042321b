"""The evidence a profile requirement can name: functions of the run and its report.

Each function takes the :class:`Context` and the requirement and returns ``(status, detail, table)``:
``status`` one of ``covered``, ``not covered``, ``needs input``; ``detail`` one or two sentences saying what
the run holds (or lacks) and where; ``table`` None or ``{"id", "title", "columns": [[key, label], ...],
"rows": [...], "note"}`` rendered under the checklist. Numbers come from the run's stored tables and report
(the fairness engine's group tables, the policy checks); nothing is recomputed from a model.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

COVERED, NOT_COVERED, NEEDS_INPUT = "covered", "not covered", "needs input"
SMALL_SHARE = 0.02   # LL144: a category under 2% of the data may be excluded from the impact ratios


@dataclass
class Context:
    run: Any
    report: dict[str, Any]
    profile: Any

    def fairness_attributes(self) -> list[dict[str, Any]]:
        return list(self.report.get("fairness", {}).get("attributes") or [])

    def sensitive(self) -> list[dict[str, Any]]:
        return [a for a in self.fairness_attributes() if a.get("kind") == "sensitive"]

    def category_columns(self) -> dict[str, str | None]:
        """Profile category (``sex``, ``race_ethnicity``) -> the run's sensitive column for it, or None."""
        names = {a["name"] for a in self.sensitive() if not a.get("intersection")}
        return {cat: next((c for c in cols if c in names), None) for cat, cols in self.profile.categories.items()}

    def table(self, name: str) -> Any:
        try:
            return self.run.table(name)
        except KeyError:
            return None


Evidence = Callable[[Context, Any], tuple[str, str, dict[str, Any] | None]]
EVIDENCE: dict[str, Evidence] = {}


def evidence(name: str) -> Callable[[Evidence], Evidence]:
    def register(fn: Evidence) -> Evidence:
        EVIDENCE[name] = fn
        return fn
    return register


@evidence("human")
def _human(ctx: Context, item: Any):
    return NEEDS_INPUT, item.ask or "Only a person can supply this; the run cannot.", None


# -- the model and its data --------------------------------------------------------------------------------------
@evidence("intended_use")
def _intended_use(ctx: Context, item: Any):
    iu = ctx.report.get("intended_use", {})
    if iu.get("intended_use") and iu.get("out_of_scope"):
        return COVERED, "Model card: intended use and out-of-scope uses (report section 1).", None
    return NEEDS_INPUT, ("The model card states no intended use or out-of-scope uses: add them to the target's "
                         "card."), None


@evidence("architecture")
def _architecture(ctx: Context, item: Any):
    m = ctx.report.get("model", {})
    if m.get("architecture"):
        return COVERED, (f"Architecture, {m.get('num_params'):,} parameters, classes and training recipe (report "
                         "section 2)."), None
    return NEEDS_INPUT, "The model card records no architecture: add card['architecture'].", None


@evidence("training_data")
def _training_data(ctx: Context, item: Any):
    m, d = ctx.report.get("model", {}), ctx.report.get("data", {})
    have = [x for x in (m.get("training_data") and "training data", d.get("name") and "evaluation data") if x]
    if m.get("training_data"):
        return COVERED, (f"Training data: {m['training_data']}. Evaluation data: {d.get('name')}, "
                         f"{d.get('n_samples'):,} rows, sha256 {str(d.get('sha256'))[:12]}… (report section 3)."), None
    return NEEDS_INPUT, (f"Only {', '.join(have) or 'nothing'} is recorded: describe the training data in "
                         "card['training_data'] (source, period, size, label definition)."), None


@evidence("data_description")
def _data_description(ctx: Context, item: Any):
    d = ctx.report.get("data", {})
    attrs = d.get("attributes") or []
    unknown = ", ".join(f"{a['name']} {a.get('n_unknown', 0)}" for a in attrs)
    return COVERED, (f"{d.get('n_samples', 0):,} evaluation rows; group sizes and shares for {len(attrs)} "
                     f"attribute(s); unknown values counted ({unknown or 'none declared'}) (report section 3)."), None


@evidence("excluded_inputs")
def _excluded_inputs(ctx: Context, item: Any):
    excluded = (ctx.run.model.card or {}).get("excluded_inputs")
    if excluded:
        parts = excluded.items() if isinstance(excluded, dict) else [("excluded", excluded)]
        text = "; ".join(f"{k.replace('_', ' ')}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
                         for k, v in parts)
        return COVERED, f"Inputs left out, by reason (model card): {text}.", None
    return NEEDS_INPUT, ("The run does not record which inputs were left out and why: add "
                         "card['excluded_inputs'] = {reason: [columns]} to the target."), None


@evidence("limitations")
def _limitations(ctx: Context, item: Any):
    lim = ctx.report.get("limitations", {})
    n_items, n_recs = len(lim.get("items") or []), len(lim.get("recommendations") or [])
    return COVERED, (f"{n_items} limitation(s) from the card and the failed checks, {n_recs} recommendation(s) "
                     "(report section 8)."), None


@evidence("run_record")
def _run_record(ctx: Context, item: Any):
    md = ctx.report.get("metadata", {})
    return COVERED, (f"Run {md.get('run_id')} of {md.get('created_at')}: weights sha256 "
                     f"{str(md.get('weights_sha256'))[:12]}…, data sha256 {str(md.get('data_sha256'))[:12]}…, seed "
                     f"{md.get('seed')}, packages and run time (report section 0)."), None


# -- outcomes ------------------------------------------------------------------------------------------------------
@evidence("performance_intervals")
def _performance_intervals(ctx: Context, item: Any):
    rows = ctx.report.get("performance", {}).get("overall") or []
    with_ci = [r["metric"] for r in rows if r.get("lo") is not None and r.get("hi") is not None]
    if with_ci:
        return COVERED, (f"{', '.join(with_ci)} with 95% intervals on {rows[0].get('n')} held-out rows "
                         "(section 4)."), None
    return NOT_COVERED, "No overall metric with an interval is stored in this run.", None


@evidence("performance_by_group")
def _performance_by_group(ctx: Context, item: Any):
    by = ctx.report.get("performance", {}).get("by_group") or []
    if by:
        return COVERED, (f"Accuracy, TPR, FPR and PPV with Wilson intervals for each group of "
                         f"{', '.join(b['attribute'] for b in by)} (section 4)."), None
    return NOT_COVERED, "The run has no group or cohort column, so no metric by group: declare sensitive_columns.", None


@evidence("calibration")
def _calibration(ctx: Context, item: Any):
    cal = ctx.report.get("performance", {}).get("calibration") or []
    if cal:
        return COVERED, (f"Expected calibration error and reliability curves for {len(cal)} attribute(s) "
                         "(section 4)."), None
    return NOT_COVERED, "No calibration is stored (a classifier with probabilities and groups gets one).", None


@evidence("group_fairness")
def _group_fairness(ctx: Context, item: Any):
    attrs = ctx.sensitive()
    if not attrs:
        return NOT_COVERED, ("No sensitive attribute was declared, so potentially discriminatory impacts were not "
                             "measured: declare sensitive_columns."), None
    flagged = sum(bool(c.get("four_fifths_flag")) for a in attrs for c in a.get("comparisons") or [])
    return COVERED, (f"Selection rates, TPR/FPR, ratios and differences with intervals and tests for "
                     f"{', '.join(a['name'] for a in attrs)}; {flagged} comparison(s) below four-fifths "
                     "(section 5)."), None


# -- sensitivity and stability -------------------------------------------------------------------------------------
@evidence("explanation_quality")
def _explanation_quality(ctx: Context, item: Any):
    checks = [c for c in ctx.run.checks if str(c.family).startswith(
        ("completeness", "deletion", "insertion", "sanity", "infidelity", "max_sensitivity"))]
    if not checks:
        return NOT_COVERED, "No explanation-quality check is stored in this run.", None
    failed = [c.id for c in checks if not c.passed]
    return COVERED, (f"{len(checks)} explanation-quality checks (completeness, deletion/insertion, randomization, "
                     f"robustness): {len(failed)} failed{': ' + ', '.join(failed[:5]) if failed else ''} "
                     "(section 6)."), None


@evidence("robustness")
def _robustness(ctx: Context, item: Any):
    rob = ctx.report.get("quality", {}).get("robustness") or {}
    if rob:
        return COVERED, "Infidelity and max-sensitivity of the explanations under input perturbation (section 6).", None
    return NOT_COVERED, ("No perturbation robustness is stored (not defined for text inputs); the randomization "
                         "check still shows whether explanations depend on the weights."), None


@evidence("run_comparison")
def _run_comparison(ctx: Context, item: Any):
    path = getattr(ctx.run, "path", None)
    if path is None:
        return NEEDS_INPUT, "The run is not in a store: compare it with another run of the same model by hand.", None
    others = [d.name for d in Path(path).parent.iterdir() if d.is_dir() and d.name != ctx.run.run_id
              and d.name.split("-")[1:-1] == ctx.run.run_id.split("-")[1:-1]]
    if others:
        return COVERED, (f"{len(others)} other run(s) of {ctx.run.model.name} in the store: the dashboard's Runs tab "
                         "compares every check between runs."), None
    return NEEDS_INPUT, (f"This is the only run of {ctx.run.model.name} in its store: run the audit again (another "
                         "seed or data period) to show stability."), None


# -- monitoring, integrity, sign-off -------------------------------------------------------------------------------
@evidence("monitoring_plan")
def _monitoring_plan(ctx: Context, item: Any):
    checks = ctx.report.get("policy", {}).get("checks") or []
    rows = [{"check": c["id"], "what": c["description"], "threshold": f"{c['comparison']} {c['threshold']:.4g}",
             "now": "–" if c.get("value") is None else f"{c['value']:.4g}", "status": "pass" if c["passed"] else "FAIL"}
            for c in checks]
    table = {"id": "monitoring_plan", "title": "Ongoing monitoring: the policy's thresholds, re-checked on every run",
             "columns": [["check", "Check"], ["what", "What it measures"], ["threshold", "Trigger unless"],
                         ["now", "This run"], ["status", "Status"]], "rows": rows,
             "note": ("Re-run the audit on fresh data at a set frequency; a FAIL is the trigger for review. The "
                      "frequency, the data feed and the owner need a person.")}
    if not rows:
        return NEEDS_INPUT, "The policy has no checks to monitor: give the audit a policy file.", None
    return COVERED, (f"A plan drawn from the policy ({ctx.report['policy'].get('source', 'default')}): "
                     f"{len(rows)} thresholds with this run's values; frequency and owner need input."), table


def _integrity(ctx: Context) -> dict[str, Any]:
    return ctx.report.get("metadata", {}).get("integrity") or {}


@evidence("signed_run")
def _signed_run(ctx: Context, item: Any):
    ig = _integrity(ctx)
    sig = ig.get("signature") or {}
    md = ctx.report.get("metadata", {})
    if sig.get("status") == "valid":
        return COVERED, (f"Run dated {md.get('created_at')}, manifest sha256 {str(ig.get('manifest_sha256'))[:12]}…, "
                         f"signed (Ed25519, key {sig.get('key_fingerprint')}, {sig.get('signed_at')}); "
                         "`deepaudit verify --public-key` checks it."), None
    if sig.get("status") == "invalid":
        return NOT_COVERED, f"The run's signature is invalid: {sig.get('reason')}.", None
    return NEEDS_INPUT, (f"Run dated {md.get('created_at')} with manifest sha256 "
                         f"{str(ig.get('manifest_sha256'))[:12]}…, not yet signed: `deepaudit sign RUN --key "
                         "FILE`."), None


@evidence("signoff")
def _signoff(ctx: Context, item: Any):
    offs = ctx.report.get("metadata", {}).get("signoffs") or []
    if offs:
        last = offs[-1]
        return COVERED, (f"{len(offs)} sign-off(s) recorded; latest: {last['decision'].replace('_', ' ')} by "
                         f"{last['reviewer']} on {last['recorded_at'][:10]}."), None
    return NEEDS_INPUT, "No reviewer sign-off is recorded: `deepaudit signoff RUN ...` or the dashboard.", None


# -- NYC Local Law 144 -----------------------------------------------------------------------------------------------
@evidence("ll144_categories")
def _ll144_categories(ctx: Context, item: Any):
    cols = ctx.category_columns()
    missing = [c for c, col in cols.items() if col is None]
    if missing:
        return NOT_COVERED, (f"No sensitive column for {', '.join(missing)} (looked for "
                             f"{', '.join(f'{c}: {list(ctx.profile.categories[c])}' for c in missing)}): declare it, "
                             "or map its column in a copy of this profile."), None
    return COVERED, "Categories: " + ", ".join(f"{c} = column {col!r}" for c, col in cols.items()) + ".", None


def _intersection(ctx: Context, cols: dict[str, str | None]) -> dict[str, Any] | None:
    want = {c for c in cols.values() if c}
    for a in ctx.sensitive():
        if a.get("intersection") and len(want) == 2 and all(c in a["name"] for c in want):
            return a
    return None


def ll144_rows(ctx: Context) -> list[dict[str, Any]]:
    """Selection rate and impact ratio per category (sex, race/ethnicity, their intersection), from the fairness
    engine's stored group tables. Impact ratio = the category's rate / the highest rate among the categories
    kept; categories under 2% of the data are shown and excluded from that maximum and from the ratios."""
    cols = ctx.category_columns()
    attrs = [(cat, col) for cat, col in cols.items() if col]
    inter = _intersection(ctx, cols)
    if inter is not None:
        attrs.append(("intersection", inter["name"]))
    out = []
    for cat, col in attrs:
        groups = ctx.table(f"fairness/{col}/groups")
        if groups is None or groups.empty:
            continue
        n_all = float(groups["n"].sum())
        kept = groups[groups["n"] / n_all >= SMALL_SHARE]
        top = float(kept["selection_rate"].max()) if len(kept) else float("nan")
        for g in groups.itertuples():
            small = g.n / n_all < SMALL_SHARE
            out.append({"category": cat, "column": col, "group": str(g.group), "n": int(g.n),
                        "share": float(g.n / n_all), "selection_rate": float(g.selection_rate),
                        "impact_ratio": None if small or not top else float(g.selection_rate) / top,
                        "excluded": bool(small)})
    return out


@evidence("ll144_rates")
def _ll144_rates(ctx: Context, item: Any):
    rows = ll144_rows(ctx)
    if not rows:
        return NOT_COVERED, "No selection rates by sex or race/ethnicity are stored (see the categories item).", None
    fav = ctx.run.model.favorable_label
    table = {"id": "ll144_rates", "title": f"Selection rates ('{fav}') and impact ratios per category (LL144)",
             "columns": [["category", "Category"], ["group", "Group"], ["n", "Individuals"], ["share", "Share"],
                         ["selection_rate", "Selection rate"], ["impact_ratio", "Impact ratio"],
                         ["excluded", "Under 2%, excluded from ratios"]],
             "rows": rows,
             "note": ("Selection rate: share of the category given the favourable outcome by the model. Impact "
                      "ratio: that rate over the highest rate among the categories kept. Rates are the fairness "
                      "engine's (report section 5); the unknown category is counted in the next item.")}
    inter = any(r["category"] == "intersection" for r in rows)
    low = [f"{r['group']} {r['impact_ratio']:.2f}" for r in rows if r["impact_ratio"] is not None
           and r["impact_ratio"] < 0.8]
    return (COVERED if inter else NOT_COVERED), (
        f"{len(rows)} category rows{'' if inter else '; no intersection of sex and race/ethnicity is stored'}"
        f"{'; impact ratio below 0.8: ' + ', '.join(low) if low else ''}."), table


@evidence("ll144_scoring_rates")
def _ll144_scoring_rates(ctx: Context, item: Any):
    try:
        preds = ctx.run.predictions()
    except Exception:  # noqa: BLE001 - a run without predictions: say so
        preds = None
    cols = [c for c in ctx.category_columns().values() if c]
    if preds is None or "score" not in preds or not cols:
        return NOT_COVERED, "No stored scores or no category columns: scoring rates cannot be given.", None
    median = float(preds["score"].median())
    rows = []
    for col in cols:
        if col not in preds:
            continue
        above = (preds["score"] > median).groupby(preds[col].astype("string").fillna("unknown")).agg(["sum", "count"])
        rates = above["sum"] / above["count"]
        top = float(rates[above["count"] / len(preds) >= SMALL_SHARE].max())
        rows += [{"column": col, "group": str(g), "n": int(above.loc[g, "count"]), "scoring_rate": float(r),
                  "impact_ratio": float(r) / top if top else None} for g, r in rates.items()]
    table = {"id": "ll144_scoring",
             "title": "Scoring rates: share scoring above the sample median (LL144, scored tools)",
             "columns": [["column", "Category"], ["group", "Group"], ["n", "Individuals"],
                         ["scoring_rate", "Scoring rate"], ["impact_ratio", "Impact ratio"]],
             "rows": rows, "note": f"Median score of the sample: {median:.4f}."}
    return COVERED, f"Scoring rates above the median score ({median:.3f}) for {', '.join(cols)}.", table


@evidence("ll144_unknown")
def _ll144_unknown(ctx: Context, item: Any):
    cols = {c for c in ctx.category_columns().values() if c}
    attrs = [a for a in ctx.report.get("data", {}).get("attributes") or [] if a["name"] in cols]
    if not attrs:
        return NOT_COVERED, "No category columns, so no unknown category to count.", None
    return COVERED, ("Unknown category counted and shown: " + ", ".join(f"{a['name']} {a.get('n_unknown', 0)}"
                                                                        for a in attrs) + " (report section 3)."), None


@evidence("ll144_small_categories")
def _ll144_small(ctx: Context, item: Any):
    small = [f"{r['column']}: {r['group']} ({r['share']:.1%})" for r in ll144_rows(ctx) if r["excluded"]]
    why = ctx.profile.small_category_justification
    if not small:
        return COVERED, "No category is under 2% of the data; none is excluded from the impact ratios.", None
    if why:
        return COVERED, f"Excluded from the impact ratios (still shown): {', '.join(small)}. Justification: {why}", None
    return NEEDS_INPUT, (f"Categories under 2% ({', '.join(small)}) are excluded from the ratios: state the "
                         "justification (small_category_justification in the profile)."), None


@evidence("data_source")
def _data_source(ctx: Context, item: Any):
    d = ctx.report.get("data", {})
    return NEEDS_INPUT, (f"Source recorded: {d.get('name')} ({d.get('n_samples'):,} rows, sha256 "
                         f"{str(d.get('sha256'))[:12]}…). The period the data covers and whether it is historical or "
                         "test data are not recorded: state them."), None


# -- Reg B / adverse action --------------------------------------------------------------------------------------------
def _reasons(ctx: Context):
    return ctx.table("fairness/probes/reason_codes")


@evidence("regb_reason_codes")
def _regb_reason_codes(ctx: Context, item: Any):
    rc = _reasons(ctx)
    info = ctx.report.get("explainability", {}).get("reason_codes") or {}
    if rc is None or rc.empty:
        return NOT_COVERED, ("No reason codes are stored (they need a tabular target with feature names, two classes "
                             "and a favourable label)."), None
    n = rc["sample_id"].nunique()
    return COVERED, (f"Up to {int(rc['rank'].max())} principal reasons for each of {n} of {info.get('n_denied', n)} "
                     f"denied applicants ({info.get('method', 'attributions')})."), None


@evidence("regb_faithfulness")
def _regb_faithfulness(ctx: Context, item: Any):
    faith = (ctx.report.get("explainability", {}).get("reason_codes") or {}).get("faithfulness") or {}
    need = ctx.report.get("fairness", {}).get("policy", {}).get("reason_faithfulness_share_min", 0.9)
    share = faith.get("share_faithful")
    if share is None:
        return NOT_COVERED, "No faithfulness check of the stated reasons is stored.", None
    ok = share >= need
    return (COVERED if ok else NOT_COVERED), (f"{share:.0%} of denied applicants' first reason moves the score more "
                                              f"than a random unstated feature (policy: at least {need:.0%})."), None


@evidence("regb_readable")
def _regb_readable(ctx: Context, item: Any):
    rc = _reasons(ctx)
    if rc is None or rc.empty:
        return NOT_COVERED, "No reason codes are stored.", None
    raw = sorted({f for f, r in zip(rc["feature"], rc["reason"]) if str(r).strip() in ("", str(f))})
    if raw:
        return NOT_COVERED, (f"Reasons shown as raw column names: {', '.join(raw)}: give them readable labels "
                             "(provenance feature_labels)."), None
    return COVERED, f"All {rc['feature'].nunique()} stated reasons have readable texts and decoded values.", None


@evidence("regb_no_protected")
def _regb_no_protected(ctx: Context, item: Any):
    rc = _reasons(ctx)
    if rc is None or rc.empty:
        return NOT_COVERED, "No reason codes are stored.", None
    protected = set(ctx.run.dataset.sensitive_columns)
    proxy = ctx.table("fairness/probes/proxy")
    proxies = (set(proxy.loc[proxy["proxy_candidate"].astype(bool), "feature"])
               if proxy is not None and not proxy.empty and "proxy_candidate" in proxy else set())
    flags = ((ctx.run.model.features or {}).get("flags") or {})
    geographic = {f for f, flag in flags.items() if flag == "geographic"}
    stated = rc.groupby("feature")["sample_id"].nunique()
    n = rc["sample_id"].nunique()
    rows = [{"feature": f, "why": ", ".join(w for w, s in (("protected attribute", protected),
                                                          ("proxy candidate", proxies), ("geographic", geographic))
                                            if f in s),
             "applicants": int(stated[f]), "share": float(stated[f] / n)}
            for f in stated.index if f in protected | proxies | geographic]
    if not rows:
        return COVERED, (f"No protected attribute, proxy candidate or geographic input is among the stated reasons of "
                         f"{n} denied applicants."), None
    table = {"id": "regb_flagged_reasons", "title": "Stated reasons that are protected, proxies or geographic (Reg B)",
             "columns": [["feature", "Input"], ["why", "Flagged as"], ["applicants", "Applicants told"],
                         ["share", "Share of denied"]], "rows": rows,
             "note": "A reason that stands in for a protected attribute should not be given, nor used, without review."}
    return NOT_COVERED, ("Flagged inputs among the stated reasons: " + ", ".join(
        f"{r['feature']} ({r['why']}; {r['applicants']} applicants)" for r in rows) + "."), table
