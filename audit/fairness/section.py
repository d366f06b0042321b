"""The ``fairness`` section of a run and its policy checks.

What is computed depends on the target:

- Targets with a favourable outcome (binary or one-vs-rest): for every
  sensitive attribute (and, as cohorts, every cohort column) group rates with
  Wilson intervals, differences and ratios against the reference group (the
  largest known group) with stratified-bootstrap intervals, impact ratios with
  the four-fifths flag, the LL144 scoring rate, two-proportion z / Fisher tests
  with the policy's correction, and per-group calibration (ECE).
- Targets without one (digit recognition): accuracy per cohort. A sample's
  correctness is its "outcome", so the selection-rate machinery gives accuracy
  per cohort with the same intervals and tests.
- Tabular targets with a favourable class (named float features): what
  drives each group's gap to the reference (:mod:`deepaudit.audit.fairness.gap`) and
  proxies judged within groups (:mod:`deepaudit.audit.fairness.proxy`, one check per
  sensitive attribute).
- Domain probes: reason codes and the mitigation what-if (finance);
  counterfactual substitutions (NLP); the accuracy gap of each cohort, which
  for the shortcut canary is the gap between images with and without the
  mark (vision).

Policy checks (``deepaudit.audit.fairness.policy``) are emitted for sensitive
attributes, and also for cohorts when the policy says ``attributes = "all"``;
cohort accuracy gaps are always checked.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

from deepaudit.audit.capabilities import capabilities, infer_kind
from deepaudit.audit.fairness.calibration import calibration_curves, calibration_error
from deepaudit.audit.fairness.checks import cohort_gap_check, policy_checks
from deepaudit.audit.fairness.comparisons import disparities
from deepaudit.audit.fairness.counts import Prepared, merge_counts
from deepaudit.audit.fairness.groups import encode_groups
from deepaudit.audit.fairness.metrics import group_metrics
from deepaudit.audit.fairness.policy import Policy
from deepaudit.audit.fairness.significance import significance_tests
from deepaudit.audit.schema import Check
from deepaudit.audit.target import AuditTarget
from deepaudit.audit.threads import Beside

Stage = Callable[..., Any]

#: The one reference rule of a run, stored in its fairness section and stated by every view.
REFERENCE_RULE = ("differences and ratios against the largest group other than 'unknown'; impact ratios against "
                  "the highest favourable rate among known groups with at least {share:.0%} of the data")
REFERENCE_RULE_ALL = ("differences and ratios against the largest group other than 'unknown'; impact ratios against "
                      "the highest favourable rate among known groups")


def _group_rows(y_true, y_pred, y_score, column: pd.Series, *, policy: Policy, pos_label: Any,
                prepared: Prepared | None = None) -> pd.DataFrame:
    """The ``groups`` table of one attribute: rates per group, the reference group and the small groups.
    ``prepared``: the attribute's cell counts merged from partitions (:func:`merged_counts`), used instead of
    counting the rows."""
    if prepared is not None:
        return group_metrics(None, None, sensitive=None, prepared=prepared, min_share=policy.min_group_share)
    return group_metrics(y_true, y_pred, y_score=y_score, sensitive=column.rename(column.name), pos_label=pos_label,
                         min_share=policy.min_group_share)


def _attribute_tables(y_true, y_pred, y_score, column: pd.Series, *, policy: Policy, seed: int,
                      pos_label: Any, groups: pd.DataFrame | None = None,
                      prepared: Prepared | None = None) -> dict[str, pd.DataFrame]:
    """Every table of one attribute; ``groups``: its :func:`_group_rows`, when already computed; ``prepared``: as
    there (the group table and the comparisons are computed from counts; the tests and calibration read rows)."""
    kw = dict(sensitive=column.rename(column.name), pos_label=pos_label, min_share=policy.min_group_share)
    if groups is None:
        groups = _group_rows(y_true, y_pred, y_score, column, policy=policy, pos_label=pos_label, prepared=prepared)
    rows_or_counts = ({"sensitive": None, "prepared": prepared, "min_share": policy.min_group_share}
                      if prepared is not None else {"y_score": y_score, **kw})
    out = {"groups": groups,
           "disparities": disparities(None if prepared is not None else y_true,
                                      None if prepared is not None else y_pred, n_boot=policy.n_boot, seed=seed,
                                      four_fifths=policy.impact_ratio_min,
                                      exclude_small=policy.exclude_small_groups, **rows_or_counts),
           "significance": significance_tests(y_true, y_pred, y_score=y_score, correction=policy.correction,
                                              **kw)}
    if y_score is not None:
        out["calibration"] = calibration_error(y_true, y_score, n_boot=policy.n_boot, seed=seed, **kw)
        out["reliability"] = calibration_curves(y_true, y_score, **{k: v for k, v in kw.items()
                                                                    if k != "min_share"})
    return out


#: ``counter(attributes, favorable=, median=)``: per-partition cell counts from where the rows were predicted
#: (:meth:`deepaudit.audit.executor.RayExecutor.group_counts`), or None to count the rows here.
Counter = Callable[..., Any]


def merged_counts(counter: Counter | None, groups: pd.DataFrame, columns: list[str], score: np.ndarray,
                  fav: int) -> dict[str, Prepared]:
    """Each column's cell counts, added up from the partitions ``counter`` returns; {} when it returns None.

    The groups are encoded here on every row (labels and sizes only; cheap) and each partition counts its rows
    in that encoding; :func:`~deepaudit.audit.fairness.counts.merge_counts` checks every group adds up."""
    if counter is None or not columns:
        return {}
    encoded = [encode_groups(groups[c].rename(c), len(groups))[0] for c in columns]
    median = float(np.median(np.asarray(score, dtype=float)))
    parts = counter([([c], g.labels) for c, g in zip(columns, encoded)], favorable=fav, median=median)
    if parts is None:
        return {}
    merged = merge_counts(parts, encoded, median=median)
    return {c: merged.only(i) for i, c in enumerate(columns)}


def build_fairness(target: AuditTarget, probs: np.ndarray, pred: np.ndarray, *, policy: Policy, seed: int,
                   importance: pd.DataFrame | None, stage: Stage, ig_steps: int = 64,
                   attributions: tuple[np.ndarray, np.ndarray] | None = None,
                   reason_rows: np.ndarray | None = None,
                   counter: Counter | None = None) -> tuple[dict[str, Any], list[Check]]:
    """Fairness section and checks for one run. ``stage(name)`` is the runner's progress context;
    ``attributions`` are the primary method's published attributions and the rows they explain;
    ``reason_rows``: give reason codes only to the denied applicants among these rows (a run sized its
    explanation sample for a large data set), else to every denied applicant; ``counter``: per-partition
    cell counts (a distributed run, :func:`merged_counts`), from which the group tables and comparisons are
    computed instead of from the rows."""
    data = target.eval_data
    y = np.asarray(data.labels)
    sensitive = list(target.sensitive_columns)
    cohorts = [c for c in dict.fromkeys(list(target.cohort_columns) + list(data.groups.columns)) if c not in sensitive]
    # A cohort column with no value at all has no group to compare: skipped with the reason, never fatal (a
    # declared sensitive column that is all missing stays an error: the audit was asked to judge it).
    skipped = [{"column": str(c), "reason": f"every one of its {len(data.groups)} values is missing"}
               for c in cohorts if data.groups[c].isna().all()]
    cohorts = [c for c in cohorts if not data.groups[c].isna().all()]
    checks: list[Check] = []
    attributes: list[dict[str, Any]] = []
    fav = target.class_names.index(target.favorable_label) if target.favorable_label is not None else None
    section: dict[str, Any] = {"status": "computed", "policy": policy.as_dict(),
                               "favorable_label": target.favorable_label,
                               "reference_rule": REFERENCE_RULE.format(share=policy.min_group_share)
                               if policy.exclude_small_groups else REFERENCE_RULE_ALL,
                               "attributes": attributes, "probes": {}}
    if skipped:
        section["skipped_columns"] = skipped
    gap: Beside | None = None
    try:
        if fav is not None:
            section["outcome"] = f"predicted {target.favorable_label!r} (argmax of the model's probabilities)"
            score = probs[:, fav]
            counts: dict[str, Prepared] = {}
            if counter is not None:
                with stage("fairness: group counts from the workers"):
                    counts = merged_counts(counter, data.groups, sensitive + cohorts, score, fav)
            with stage("fairness: group statistics", total=len(sensitive) + len(cohorts)) as tick:
                rows = {col: _group_rows(y, pred, score, data.groups[col], policy=policy, pos_label=fav,
                                         prepared=counts.get(col)) for col in sensitive + cohorts}
                if _tabular(target, fav) and sensitive:
                    # The group rows name each attribute's reference and small groups, all that the gap
                    # decomposition needs: it starts now and runs beside the rest of this section.
                    gap = _start_gap(target, pred, fav, sensitive, references=_references(rows), small=_small(rows),
                                     seed=seed, stage=stage)
                for col in sensitive + cohorts:
                    kind = "sensitive" if col in sensitive else "cohort"
                    tables = _attribute_tables(y, pred, score, data.groups[col], policy=policy, seed=seed,
                                               pos_label=fav, groups=rows[col], prepared=counts.get(col))
                    attributes.append({"name": col, "kind": kind, **tables})
                    if kind == "sensitive" or policy.attributes == "all":
                        checks.extend(policy_checks(col, tables, policy))
                    tick(1)
        else:
            section["outcome"] = "correct prediction (no favourable class): rates below are accuracy per cohort"
            correct = (pred == y).astype(int)
            with stage("fairness: cohort accuracy", total=len(sensitive) + len(cohorts)) as tick:
                for col in sensitive + cohorts:
                    kw = dict(sensitive=data.groups[col], pos_label=1, min_share=policy.min_group_share)
                    tables = {"groups": _accuracy_groups(correct, kw),
                              "disparities": disparities(correct, correct, n_boot=policy.n_boot, seed=seed,
                                                         exclude_small=policy.exclude_small_groups, **kw),
                              "significance": significance_tests(correct, correct, metrics=["selection_rate"],
                                                                 correction=policy.correction, **kw)}
                    attributes.append({"name": col, "kind": "sensitive" if col in sensitive else "cohort",
                                       "rate_meaning": "accuracy", **tables})
                    # a cohort that is the true class itself (the digit of a digit recogniser) is per-class
                    # accuracy, reported under performance; its gap is not a cohort disparity to check
                    if not _is_the_label(data.groups[col], y):
                        checks.append(cohort_gap_check(col, tables["groups"], policy))
                    tick(1)
        if fav is not None:
            checks.append(favourable_outcome_check(pred, fav, target.favorable_label))
        groups = {a["name"]: a["groups"] for a in attributes}
        checks.extend(_probes(target, probs, fav, section["probes"], policy=policy, seed=seed,
                              importance=importance, stage=stage, ig_steps=ig_steps, attributions=attributions,
                              small=_small(groups), gap=gap, reason_rows=reason_rows))
    finally:
        if gap is not None:
            gap.close()   # joins the worker even when this section failed
    return section, checks


def _references(groups: dict[str, pd.DataFrame]) -> dict[str, str]:
    """The reference group of each attribute whose ``groups`` table marks one."""
    refs = {name: next((str(g) for g, r in zip(t["group"], t["is_reference"]) if r), None)
            for name, t in groups.items() if "is_reference" in t}
    return {k: v for k, v in refs.items() if v is not None}


def _small(groups: dict[str, pd.DataFrame]) -> dict[str, set]:
    """The groups under the minimum share, per attribute."""
    return {name: {str(g) for g, s in zip(t["group"], t["small_group"]) if s} for name, t in groups.items()}


NO_FAVOURABLE = ("no one receives the favourable outcome: none of the {n} evaluated samples is predicted {fav!r}. "
                 "Every parity check then passes trivially (every group's rate is 0), which says nothing about "
                 "fairness; check the model, its decision rule and the favourable label.")


def favourable_outcome_check(pred: np.ndarray, fav: int, label: Any) -> Check:
    """A finding of its own: the model gives the favourable outcome to at least one evaluated sample."""
    pred = np.asarray(pred)
    n_fav = int((pred == fav).sum())
    note = (NO_FAVOURABLE.format(n=len(pred), fav=label) if n_fav == 0 else
            f"{n_fav} of {len(pred)} evaluated samples ({n_fav / max(1, len(pred)):.1%}) predicted {label!r}")
    return Check("fairness.favourable_outcome_given",
                 f"the model gives the favourable outcome ({label!r}) to at least one evaluated sample",
                 float(n_fav), 1.0, ">=", note=note, family="fairness.favourable_outcome_given", subject=str(label),
                 params={"n_samples": int(len(pred))})


def _accuracy_groups(correct: np.ndarray, kw: dict[str, Any]) -> pd.DataFrame:
    """Per-cohort accuracy of a model without a favourable class: "correct" is the outcome, every sample's
    truth is "correct", so selection rate and accuracy are both the cohort's accuracy (with Wilson
    intervals). TPR / FPR / PPV have no meaning here and are left empty."""
    groups = group_metrics(np.ones_like(correct), correct, **kw)
    for m in ("tpr", "fpr", "ppv"):
        groups[[m, f"{m}_lo", f"{m}_hi"]] = np.nan
    if "undefined" in groups:  # those rates are not reported here, so "FPR undefined: no negatives" is noise
        groups["undefined"] = ""
    return groups


def _is_the_label(column: pd.Series, y: np.ndarray) -> bool:
    """Whether every known group of ``column`` holds one true class and no two groups share one: the column
    restates the label."""
    known = column.notna().to_numpy()
    if not known.any():
        return False
    pairs = pd.DataFrame({"g": column[known].astype(str).to_numpy(), "y": np.asarray(y)[known]}).drop_duplicates()
    return bool(pairs["g"].is_unique and pairs["y"].is_unique)


def _tabular(target: AuditTarget, fav: int | None) -> bool:
    """Rows of named float features with a favourable class: what the gap decomposition and proxies need."""
    x = target.eval_data.inputs
    return bool(fav is not None and target.feature_names and x.dim() == 2 and x.is_floating_point()
                and len(target.feature_names) == x.shape[1])


def _feature_labels(target: AuditTarget) -> dict[str, str]:
    """Each input feature's label from the target's codebook."""
    from deepaudit.audit.features import Codebook

    return Codebook.from_provenance(target.provenance).label_map(list(target.feature_names or []))


def _start_gap(target: AuditTarget, pred: np.ndarray, fav: int, attributes: list[str], *,
               references: dict[str, str], small: dict[str, set], seed: int, stage: Stage) -> Beside:
    """What drives each group's gap (:mod:`deepaudit.audit.fairness.gap`), started on a worker thread (:class:`Beside`).

    The decomposition is batched IG, nearly all of it in torch kernels, and needs nothing the rest of
    the section computes, so the group statistics, reason codes and mitigation what-if run meanwhile.
    It gets its own copy of the model: the caller's stages use the target's model at the same time, and
    explainers may register hooks on it. The copy's numbers are the model's (same parameters, eval mode);
    the decomposition draws only from its own seeded generator.
    """
    import copy

    import torch

    from deepaudit.audit.fairness.gap import gap_decomposition

    data = target.eval_data
    labels = _feature_labels(target)
    model, device = copy.deepcopy(target.model), target.device

    def forward(z: torch.Tensor) -> torch.Tensor:
        return torch.softmax(model(z.to(device)).float(), 1)[:, fav].cpu()

    def run() -> dict[str, Any]:
        with stage("fairness: what drives each gap", total=1) as tick:
            gap = gap_decomposition(forward, data.inputs, pred == fav, data.groups, attributes, target.feature_names,
                                    references=references, labels=labels, seed=seed, small=small)
            tick(1)
        return gap

    return Beside(run)


def _gap_and_proxy(target: AuditTarget, out: dict[str, Any], gap_job: Beside, *, policy: Policy,
                   importance: pd.DataFrame | None, attributions: tuple[np.ndarray, np.ndarray] | None,
                   stage: Stage, attributes: list[str], small: dict[str, set] | None = None) -> list[Check]:
    """The gap decomposition's result (``gap_job``, :func:`_start_gap`), then proxies judged within groups."""
    from deepaudit.audit.fairness.checks import proxy_check
    from deepaudit.audit.fairness.gap import method_text
    from deepaudit.audit.fairness.proxy import proxy_table

    data = target.eval_data
    labels = _feature_labels(target)
    gap = gap_job.result()
    out["gap"] = {"method": method_text(gap["params"]), "params": gap["params"],
                  "summary": gap["summary"], "table": gap["table"], "skipped": gap["skipped"]}
    # proxy evidence from a group's gap only for groups large enough to be compared (as the policy checks)
    big = [(r.attribute, r.group) for r in gap["summary"].itertuples() if not r.small_group] if len(
        gap["summary"]) else []
    gap_table = gap["table"][[(a, g) in set(big) for a, g in zip(gap["table"]["attribute"], gap["table"]["group"])]]
    if importance is None:
        return []
    reasons = out.get("reason_codes", {}).get("table")
    attr, rows = attributions if attributions is not None else (None, None)
    with stage("fairness: proxy analysis"):
        out["proxy"] = proxy_table(data.inputs.cpu().numpy(), target.feature_names, data.groups, attributes,
                                   importance, labels=labels, min_eta=policy.proxy_eta_min, top_k=policy.proxy_top_k,
                                   reason_share_min=policy.proxy_reason_share_min, attributions=attr,
                                   attribution_rows=rows, reasons=reasons, sample_ids=data.sample_ids,
                                   gap=gap_table, small=small)
    return [proxy_check(a, out["proxy"], policy) for a in attributes]


def _probes(target: AuditTarget, probs: np.ndarray, fav: int | None, out: dict[str, Any], *,
            policy: Policy, seed: int, importance: pd.DataFrame | None, stage: Stage,
            ig_steps: int, attributions: tuple[np.ndarray, np.ndarray] | None = None,
            small: dict[str, set] | None = None, gap: Beside | None = None,
            reason_rows: np.ndarray | None = None) -> list[Check]:
    """Domain probes; ``gap``: the gap decomposition under way (:func:`_start_gap`), for tabular targets."""
    checks: list[Check] = []
    data = target.eval_data
    caps = capabilities(target)
    if caps.kind == "tabular" and fav is not None and target.feature_names:
        from deepaudit.audit.fairness.checks import reason_faithfulness_check
        from deepaudit.audit.fairness.mitigation import threshold_what_if
        from deepaudit.audit.fairness.reasons import (
            adverse_action_reasons,
            reason_code_params,
            reason_faithfulness,
            reason_summary,
        )

        # Adverse-action reasons explain approve / deny; with more than two classes there is no single denial.
        if caps.reason_codes:
            with stage("fairness: reason codes"):
                # Never more reasons than features; the same IG step count as the published attributions.
                params = reason_code_params(n_steps=ig_steps, max_reasons=min(4, len(target.feature_names)))
                # the denied applicants among the explained rows (every row unless the run explained a sample)
                explained = reason_rows
                reasons = adverse_action_reasons(target, **params, rows=explained)
            out["reason_codes"] = {
                "reference": target.provenance.get("baseline_description", "the target's baseline"),
                # prose for display; ``params`` is what a reader (the dashboard's what-if) uses
                "method": f"integrated_gradients toward the favourable class, n_steps={ig_steps}; features "
                          "merged with their missing indicator; at most 4 reasons, toward denial only",
                "params": params, "table": reasons, "summary": reason_summary(reasons),
                "scope": "every denied applicant" if explained is None else
                         f"the denied applicants among the {len(explained)} explained rows (a stratified sample)"}
            with stage("fairness: reason-code faithfulness"):
                faith = reason_faithfulness(target, reasons, seed=seed)
            out["reason_codes"]["faithfulness"] = faith
            if faith["summary"]["n_denied_with_reasons"]:
                checks.append(reason_faithfulness_check(faith["summary"], target.favorable_label, policy))
        with stage("fairness: mitigation what-if", total=len(target.sensitive_columns)) as tick:
            what_if = {}
            for col in target.sensitive_columns:
                try:
                    what_if[col] = threshold_what_if(data.labels == fav, probs[:, fav], sensitive=data.groups[col],
                                                     seed=seed, min_share=policy.min_group_share)
                except ValueError as e:
                    what_if[col] = {"skipped": str(e)}
                tick(1)
        out["mitigation"] = {"method": "Per-group randomised thresholds (fairlearn ThresholdOptimizer's "
                                       "algorithm), 2-fold cross-fitted on the evaluation data; a what-if, not applied",
                             "by_attribute": what_if}
    if gap is not None:
        checks.extend(_gap_and_proxy(target, out, gap, policy=policy, importance=importance,
                                     attributions=attributions, stage=stage,
                                     attributes=list(target.sensitive_columns), small=small))
    if infer_kind(target) == "text" and fav is not None and target.tokenizer is not None:
        from deepaudit.audit.fairness.counterfactual import counterfactual_checks, counterfactual_probe

        with stage("fairness: counterfactual substitutions"):
            cf = counterfactual_probe(target, seed=seed, n_boot=policy.n_boot)
        out["counterfactual"] = cf.to_dict()
        checks.extend(counterfactual_checks(cf, max_abs_diff=policy.counterfactual_max_abs_diff,
                                            max_flip_share=policy.counterfactual_max_flip_share))
    return checks

