"""model x dataset -> result: the stages of one audit run.

Stages: load and validate the target; predict on all evaluation data
(performance); explain a seeded subset with each method (local arrays and
global views); explanation-quality checks; shortcut probes; fairness statistics,
domain probes and policy checks (:mod:`deepaudit.audit.fairness.section`); write the
run atomically to the store.

Which class is explained: for a binary model with a favourable outcome, the
favourable class for every sample (so attributions read "towards approval /
positive sentiment" and corpus-level token rankings have one sign
convention); otherwise the predicted class.
"""
from __future__ import annotations

import logging
import platform
import subprocess
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import torch

from deepaudit.audit.capabilities import DEFAULT_METHODS, DEFAULT_SAMPLES, capabilities, infer_kind
from deepaudit.audit.display import ARRAY_NAME as DISPLAY_ARRAY
from deepaudit.audit.display import display_arrays
from deepaudit.audit.executor import probabilities
from deepaudit.audit.explain import make_explainer, views
from deepaudit.audit.explain.shortcut import run_probe
from deepaudit.audit.fairness.policy import load_policy
from deepaudit.audit.features import Codebook
from deepaudit.audit.performance import performance
from deepaudit.audit.result import AuditResult
from deepaudit.audit.sampling import (
    BAD_PRECISION,
    DEFAULT_MIN_ROWS,
    DEFAULT_PILOT,
    achieved_precision,
    size_for_precision,
    strata_codes,
    stratified_order,
)
from deepaudit.audit.schema import SCHEMA_VERSION, Check
from deepaudit.audit.store import RunStore, new_run_id, to_jsonable
from deepaudit.audit.target import AuditTarget, group_sizes, load_target

log = logging.getLogger(__name__)
#: Provenance keys AuditTarget.validate() sets that a run records (result["provenance"]["target_notes"]).
TARGET_NOTES = ("gradcam_layer_found", "inputs_cast")

BAD_SAMPLES = "--samples must be a positive integer, got {value!r}."
BAD_SEED = "--seed must be an integer in [0, 2**32 - 1], got {value!r}. Fix: pass e.g. --seed 0."


@dataclass
class RunConfig:
    """Options of one run (CLI flags map onto these)."""

    samples: int | None = None
    seed: int = 0
    #: with ``samples`` None on a kind explained in full by default (tabular): the explanation sample is sized so
    #: every feature's mean |attribution| is known within this share of the top feature's (audit/sampling.py)
    precision: float = 0.05
    #: the most rows explained when sizing for ``precision``
    max_explained: int = 20_000
    #: where prediction and explanation batches run: "local" or "ray" (audit/executor.py)
    executor: str = "local"
    ray_address: str | None = None
    ray_workers: int | None = None
    methods: list[str] | None = None
    device: str = "auto"
    quality_samples: int = 16
    progress: bool = True
    policy: str | Path | None = None


class _Stages:
    """Per-stage progress bars with ETA (tqdm on stderr) and wall-clock timings."""

    def __init__(self, model: str, enabled: bool) -> None:
        self.model = model
        self.enabled = enabled
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str, total: int = 1) -> Iterator[Callable[[int], None]]:
        from tqdm import tqdm

        bar = tqdm(total=total, desc=f"{self.model}: {name}", disable=not self.enabled, leave=False,
                   bar_format="{desc:<48} {percentage:3.0f}%|{bar:20}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]")
        t0 = time.perf_counter()
        try:
            yield bar.update
        finally:
            bar.close()
            self.timings[name] = round(time.perf_counter() - t0, 3)


def _git_commit() -> dict[str, Any] | None:
    """The deepaudit source commit, only when the package itself is a git checkout.

    A non-editable install inside someone else's repository must not record
    that repository's commit; uncommitted changes are recorded as ``dirty``.
    """
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5, cwd=root)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != root:
        return None
    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status)} if commit else None


def _packages() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for p in ("deepaudit", "torch", "captum", "shap", "fairlearn", "numpy", "pandas", "scipy", "scikit-learn"):
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            out[p] = "not installed"
    return out


def explained_classes(target: AuditTarget, pred: torch.Tensor) -> tuple[torch.Tensor, str]:
    """The class explained per sample and a sentence saying which (see module docstring)."""
    if target.favorable_label is not None and len(target.class_names) == 2:
        fav = target.class_names.index(target.favorable_label)
        return torch.full_like(pred, fav), f"the favorable class {target.favorable_label!r} for every sample"
    return pred.clone(), "the predicted class of each sample"


def _sample_record(n_rows: int, idx: np.ndarray, *, strata: str, seed: int,
                   sizing: dict[str, Any] | None) -> dict[str, Any]:
    if len(idx) == n_rows:
        how = "every row"
    elif sizing is not None:
        how = (f"stratified sample sized so every feature's mean |attribution| is within "
               f"{sizing['precision']:.0%} of the top feature's (95% interval), from a pilot of {sizing['pilot']} rows"
               + (f"; capped at {sizing['max_rows']} rows" if sizing["required"] > sizing["max_rows"] else "")
               + (f"; raised to the floor of {sizing['min_rows']} rows" if sizing["required"] < sizing["min_rows"]
                  else ""))
    else:
        how = f"stratified sample of {len(idx)} rows (--samples)"
    return {"n_rows": int(n_rows), "n_explained": int(len(idx)), "how": how, "strata": strata, "seed": int(seed),
            "sizing": sizing, "achieved_precision": None}




def _global_views(target: AuditTarget, method: str, attr: torch.Tensor, x: torch.Tensor,
                  classes: torch.Tensor) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    tables: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    if infer_kind(target) == "text" and target.tokenizer is not None:
        tables["top_tokens"] = views.token_ranking(attr, x, target.tokenizer.itos)
    elif attr.dim() == 2 and target.feature_names:
        labels = Codebook.from_provenance(target.provenance).label_map(target.feature_names)
        tables["feature_importance"] = views.feature_importance(attr, x, target.feature_names, labels=labels)
        tables["feature_group_share"] = views.group_share(attr, views.feature_groups(target.feature_names))
    elif attr.dim() == 4:
        maps, counts = views.class_average_maps(attr, classes, target.class_names)
        arrays["class_maps"] = maps
        tables["class_map_counts"] = counts
        tables["region_share"] = views.group_share(attr.sum(1), views.grid_regions(*attr.shape[-2:]))
    return tables, arrays


def audit_target(target: AuditTarget, config: RunConfig | None = None, *, store: RunStore | None = None,
                 spec: str | None = None) -> AuditResult:
    """Audit one target; write it to ``store`` when given. The same :class:`AuditResult` type either way."""
    with warnings.catch_warnings():
        # captum warns on every call that it set requires_grad / hooks; that is expected here.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"captum\..*")
        warnings.filterwarnings("ignore", message=".*required_grads has been set automatically.*")
        warnings.filterwarnings("ignore", message=".*Setting forward, backward hooks.*")
        return _run_target(target, config or RunConfig(), store=store, spec=spec)


def run_target(target: AuditTarget, config: RunConfig, *, store: RunStore | None = None,
               spec: str | None = None) -> tuple[dict[str, Any], pd.DataFrame, dict[str, dict[str, np.ndarray]]]:
    """:func:`audit_target` as (JSON document, predictions, arrays), the same types with or without a store."""
    res = audit_target(target, config, store=store, spec=spec)
    return res.result, res.predictions(), {name: res.arrays(name) for name in res.array_names()}


def _run_target(target: AuditTarget, config: RunConfig, *, store: RunStore | None,
                spec: str | None) -> AuditResult:
    from deepaudit.audit.executor import EXECUTORS, make_executor

    if config.executor not in EXECUTORS:
        make_executor(config.executor, target)   # raises, naming the executors
    if config.samples is not None and (not isinstance(config.samples, int) or config.samples < 1):
        raise ValueError(BAD_SAMPLES.format(value=config.samples))
    if not isinstance(config.seed, int) or not 0 <= config.seed < 2 ** 32:
        raise ValueError(BAD_SEED.format(value=config.seed))
    if not isinstance(config.precision, (int, float)) or not 0 < config.precision < 1:
        raise ValueError(BAD_PRECISION.format(value=config.precision))
    policy = load_policy(config.policy)
    t_start = time.perf_counter()
    executor = make_executor(config.executor, target, address=config.ray_address, workers=config.ray_workers)
    try:
        return _audit(target, config, store=store, spec=spec, policy=policy, executor=executor, t_start=t_start)
    finally:
        executor.close()


def _audit(target: AuditTarget, config: RunConfig, *, store: RunStore | None, spec: str | None, policy: Any,
           executor: Any, t_start: float) -> AuditResult:
    from deepaudit.audit.quality import ig_completeness
    from deepaudit.audit.quality.suite import method_quality

    started = datetime.now(timezone.utc).replace(microsecond=0)
    created = started.isoformat()
    stages = _Stages(target.name, config.progress)
    if executor.start_s:
        stages.timings["executor: start workers"] = executor.start_s
    torch.manual_seed(config.seed)
    caps = capabilities(target)  # what is computed follows from the data and the parts given, not the domain
    methods = list(config.methods or DEFAULT_METHODS[caps.kind])
    if not config.methods and not caps.grad_cam:
        methods = [m for m in methods if m != "grad_cam"]
    explainers = {m: make_explainer(m, target, seed=config.seed) for m in methods}
    data = target.eval_data

    with stages.stage("predict") as tick:
        logits = executor.logits()
        probs = probabilities(logits)
        pred = probs.argmax(1)
        tick(1)
    perf = performance(target, probs, pred)
    classes_all, explained_what = explained_classes(target, torch.from_numpy(pred))

    # Which rows are explained (audit/sampling.py): a seeded order whose every prefix is stratified by predicted
    # class and sensitive group; --samples takes a prefix, and where every row would be explained by default
    # (tabular) the prefix is sized from a pilot so global importance has the stated precision.
    samples = config.samples if config.samples is not None else DEFAULT_SAMPLES[caps.kind]
    strata_cols = [c for c in target.sensitive_columns if c in data.groups.columns]
    order = stratified_order(strata_codes(pred, data.groups, strata_cols), config.seed)
    strata = "predicted class" + "".join(f" x {c}" for c in strata_cols)
    primary = "integrated_gradients" if "integrated_gradients" in explainers else methods[0]
    chunk = 32
    ig_steps = 64
    # IG's completeness search calls the explainer on all rows at each step count; on Ray its chunks are spread
    # over the workers with the same boundaries (audit/executor.py).
    spread = None if executor.name == "local" else (
        lambda ex, rows, c, **kw: executor.attribute(ex, rows, c, chunk=ex.chunk_size(rows, {**ex.options, **kw}),
                                                     **kw))
    ig_start = 16
    pilot_res = None
    sizing = None
    if samples is None and config.samples is None and len(data) > DEFAULT_MIN_ROWS:
        pilot_idx = np.sort(order[:DEFAULT_PILOT])
        px, pcls = data.inputs[pilot_idx], classes_all[pilot_idx]
        with stages.stage("explain: pilot sample for the sample size"):
            if primary == "integrated_gradients":
                pilot_res = ig_completeness(target, px, pcls, share=policy.completeness_share_min, attribute=spread)
                pilot_attr = pilot_res.attributions
                ig_start = int(pilot_res.summary["n_steps"])
            else:
                pilot_attr = executor.attribute(explainers[primary], px, pcls, chunk=chunk)
        sizing = size_for_precision(pilot_attr.reshape(len(pilot_idx), -1).double().numpy(), len(data),
                                    precision=config.precision, max_rows=config.max_explained)
        samples = sizing["n"]
    idx = np.arange(len(data)) if samples is None or samples >= len(data) else np.sort(order[:samples])
    sample_record = _sample_record(len(data), idx, strata=strata, seed=config.seed, sizing=sizing)
    x, cls = data.inputs[idx], classes_all[idx]
    arrays: dict[str, dict[str, np.ndarray]] = {}
    methods_out: dict[str, Any] = {}
    quality: dict[str, Any] = {}
    for m, ex in explainers.items():
        if m == "integrated_gradients":
            # The published IG attributions are the ones the completeness check judged: the
            # step count doubles until >= 95% of the explained samples are within 5% (from the pilot's count).
            with stages.stage("explain integrated_gradients (steps doubled until complete)"):
                if pilot_res is not None and len(pilot_res.attributions) == len(idx):
                    res = pilot_res
                else:
                    res = ig_completeness(target, x, cls, share=policy.completeness_share_min, start_steps=ig_start,
                                          attribute=spread)
            quality[res.name] = res
            attr = res.attributions
            ig_steps = int(res.summary["n_steps"])
            ex.options["n_steps"] = ig_steps
        else:
            with stages.stage(f"explain {m}", total=-(-len(idx) // chunk)) as tick:
                attr = executor.attribute(ex, x, cls, chunk=chunk, tick=tick)
        tables, extra = _global_views(target, m, attr, x, cls)
        if m == primary:
            sample_record["achieved_precision"] = achieved_precision(tables.get("feature_importance"))
        arrays[f"attr_{m}"] = {"attributions": attr.numpy(), "sample_index": idx,
                               "sample_id": np.asarray(data.sample_ids)[idx], "explained_class": cls.numpy()}
        if extra:
            arrays[f"view_{m}"] = extra
        methods_out[m] = {"n_samples": int(len(idx)), "label": ex.label,
                          "array": f"arrays/attr_{m}.npz", "needs_baseline": ex.needs_baseline,
                          "options": {k: v for k, v in ex.options.items()}, "tables": tables,
                          # everything needed to recompute the attributions, as data
                          "params": {"options": ex.resolved_options(), "baseline": ex.baseline_record(),
                                     "explained_class": explained_what, "seed": config.seed,
                                     "output": "the explained class's logit"}}

    # What report and dashboard show of the inputs travels with the run; reading never loads the model.
    shown = display_arrays(target, idx)
    if shown is not None:
        arrays[DISPLAY_ARRAY] = shown

    checks: list[Check] = []
    q_idx = idx[: config.quality_samples]
    qx, qcls = data.inputs[q_idx], classes_all[q_idx]
    if "completeness" not in quality:
        # IG is not published, but the reason codes and counterfactual probes explain with it.
        with stages.stage("quality: IG completeness"):
            res = ig_completeness(target, qx, qcls, share=policy.completeness_share_min)
            quality[res.name] = res
    # Every published method gets every check family that applies to it (completeness on qx, the first len(qx)
    # explained samples; the checks that re-explain on 8 of them; deletion/insertion on all explained samples), and
    # a not_applicable row, with the reason, for each family that does not apply (audit/quality/suite.py).
    quality.update(method_quality(
        target, explainers, {m: torch.from_numpy(arrays[f"attr_{m}"]["attributions"]) for m in methods}, x, cls,
        primary=primary, n_quality=len(qx), n_small=8, seed=config.seed,
        completeness_share=policy.completeness_share_min, randomization_threshold=policy.randomization_similarity_max,
        seconds_per_input={m: stages.timings.get(f"explain {m}", 0.0) / max(1, len(idx)) for m in methods},
        stage=stages.stage))
    for res in quality.values():
        checks.extend(_with_policy(c, policy) for c in res.checks)

    probes: list[dict[str, Any]] = []
    for probe in target.artifact_probes:
        with stages.stage(f"shortcut probe {probe.name}"):
            summary, table, check = run_probe(target, probe, explainers[primary], x,
                                              threshold=policy.shortcut_ratio_max)
        probes.append({"summary": summary, "table": table})
        checks.append(check)

    from deepaudit.audit.fairness.section import build_fairness

    importance = methods_out.get(primary, {}).get("tables", {}).get("feature_importance")
    published = arrays.get(f"attr_{primary}", {})
    fairness, fairness_checks = build_fairness(
        target, probs, pred, policy=policy, seed=config.seed, importance=importance, stage=stages.stage,
        ig_steps=ig_steps, attributions=(published["attributions"], idx) if published else None,
        reason_rows=idx if sizing is not None and len(idx) < len(data) else None,
        # a distributed run: the workers count their rows, the tables come from the merged counts
        counter=None if executor.name == "local" else executor.group_counts)
    checks.extend(fairness_checks)

    preds = predictions_frame(target, probs, pred)
    if target.favorable_label is not None and len(target.class_names) == 2:
        # Per-group sorted scores of every stored attribute: the dashboard's threshold slider answers from these
        # without reading the predictions (audit/fairness/score_index.py).
        from deepaudit.audit.fairness.score_index import ARRAY_NAME as SCORE_INDEX
        from deepaudit.audit.fairness.score_index import build_indexes

        views = [(a["name"],) for a in fairness.get("attributes", []) if a.get("name") in preds.columns]
        if views:
            with stages.stage("fairness: score index for the dashboard"):
                arrays[SCORE_INDEX] = build_indexes(preds, views, target.class_names.index(target.favorable_label))
    stages.timings["total_s"] = round(time.perf_counter() - t_start, 3)
    run_id = new_run_id(target.name, started)  # stamped with the start time, like created_at
    result = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "model": {"name": target.name, "domain": target.domain, "kind": caps.kind,
                  "capabilities": caps.to_dict(), "task": target.task,
                  "class_names": list(target.class_names), "favorable_label": target.favorable_label,
                  "spec": spec or target.name, "num_params": int(sum(p.numel() for p in target.model.parameters())),
                  "feature_names": list(target.feature_names) if target.feature_names else None,
                  "card": target.provenance.get("card", {}),
                  "features": Codebook.from_provenance(target.provenance).to_dict() if target.feature_names else {},
                  # what one row is called in the dashboard's words ("applicant"); "case" when not said
                  "row_noun": str(target.provenance.get("row_noun") or "case")},
        "dataset": {"name": target.provenance.get("dataset", target.name), "n_samples": int(len(data)),
                    "sha256": target.provenance.get("data_sha256", ""), "groups": group_sizes(target),
                    "sensitive_columns": list(target.sensitive_columns),
                    "cohort_columns": list(target.cohort_columns)},
        "provenance": {"weights_sha256": target.provenance.get("weights_sha256", ""),
                       "data_sha256": target.provenance.get("data_sha256", ""),
                       "recipe": target.provenance.get("recipe", {}), "seed": config.seed,
                       "device": str(target.device), "packages": _packages(), "git_commit": _git_commit(),
                       "created_at": created, "timings": stages.timings,
                       # what validate() decided for the audit (Grad-CAM's layer when none was named, an input cast)
                       "target_notes": {k: str(target.provenance[k]) for k in TARGET_NOTES if k in target.provenance},
                       "config": {"samples": None if len(idx) == len(data) else int(len(idx)),
                                  "precision": config.precision, "max_explained": config.max_explained,
                                  "executor": executor.describe(),
                                  "methods": methods, "quality_samples": config.quality_samples,
                                  "policy": policy.source}},
        "performance": perf,
        "fairness": fairness,
        "explanations": {"methods": methods_out, "explained_class": explained_what, "sample": sample_record,
                         "sample_index": f"arrays/attr_{methods[0]}.npz", "shortcut_probes": probes},
        "quality": {k: {"name": v.name, "summary": v.summary, "tables": v.tables} for k, v in quality.items()},
        "checks": [c.to_dict() for c in checks],
    }
    if store is not None:
        return store.write_run(result, predictions=preds, arrays=arrays)
    return AuditResult.from_dict(to_jsonable(result), predictions=preds, arrays=arrays)


def _with_policy(check: Check, policy: Any) -> Check:
    """The policy's threshold for a check that names its policy key (explanation-quality values do not depend on it)."""
    import dataclasses

    if check.policy_key and hasattr(policy, check.policy_key):
        return dataclasses.replace(check, threshold=float(getattr(policy, check.policy_key)))
    return check


def predictions_frame(target: AuditTarget, probs: np.ndarray, pred: np.ndarray) -> pd.DataFrame:
    """One row per evaluated sample: id, y_true, y_pred, score, probabilities, sensitive/cohort columns.

    ``score`` is the probability of the favourable class where there is one,
    else of the predicted class.
    """
    data = target.eval_data
    if target.favorable_label is not None:
        score = probs[:, target.class_names.index(target.favorable_label)]
    else:
        score = probs[np.arange(len(pred)), pred]
    df = pd.DataFrame({"sample_id": np.asarray(data.sample_ids), "y_true": np.asarray(data.labels, dtype=np.int64),
                       "y_pred": pred.astype(np.int64), "score": score})
    for c, name in enumerate(target.class_names):
        df[f"prob_{name}"] = probs[:, c]
    for col in dict.fromkeys(list(target.sensitive_columns) + list(target.cohort_columns)
                             + list(data.groups.columns)):
        values = data.groups[col].reset_index(drop=True)
        df[col] = values.astype("object").where(values.notna(), None).map(lambda v: v if v is None else str(v))
    return df


def run_audit(specs: list[str], config: RunConfig, *, store: RunStore | None) -> list[AuditResult]:
    """Load each target by spec and audit it; one result per spec."""
    from deepaudit.audit.device import resolve_device

    device = resolve_device(config.device)
    results = []
    for spec in specs:
        target = load_target(spec, device=device)
        results.append(audit_target(target, config, store=store, spec=spec))
    return results
