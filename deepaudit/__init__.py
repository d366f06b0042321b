"""deepaudit's public Python API: one import place for notebooks and scripts.

>>> import deepaudit as da
>>> target = da.load_target("mortgage")                      # or build your own da.AuditTarget
>>> result = da.audit(target, samples=50)                    # -> da.AuditResult (typed, in memory)
>>> result.checks_frame()                                    # every check with family/subject/group
>>> stored = result.save("deepaudit-runs")                   # atomically into a run store
>>> da.write_reports(stored, "reports", formats="html,json")  # the same reports the CLI writes

Names load on first use (PEP 562), so ``import deepaudit`` is cheap. The
implementation lives in the ``audit`` package; these names are the supported
surface, documented in the README ("Python API") and docs/architecture.md.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    # targets
    "AuditTarget": "audit.target", "EvalData": "audit.target", "load_target": "audit.target",
    "list_targets": "audit.target", "resolve_device": "audit.device",
    # running an audit and its result
    "RunConfig": "audit.runner", "AuditResult": "audit.result", "Check": "audit.schema",
    "RESULT_SCHEMA": "audit.schema", "SCHEMA_VERSION": "audit.schema", "validate_result": "audit.schema",
    "migrate": "audit.migrate",
    # the run store
    "RunStore": "audit.store",
    # explainers
    "Explainer": "audit.explain", "make_explainer": "audit.explain", "list_explainers": "audit.explain",
    "register_explainer": "audit.explain", "method_label": "audit.explain", "Tokenizer": "audit.tokenizer",
    # fairness statistics (fairlearn-compatible definitions, count-based intervals)
    "group_metrics": "audit.fairness", "disparities": "audit.fairness", "significance_tests": "audit.fairness",
    "calibration_error": "audit.fairness", "calibration_curves": "audit.fairness",
    "wilson_interval": "audit.fairness", "Policy": "audit.fairness", "load_policy": "audit.fairness",
    # reports
    "write_reports": "audit.report", "build_report": "audit.report",
}
__all__ = sorted([*_LAZY, "audit", "open_store", "fairness"])


def __getattr__(name: str) -> Any:
    if name == "fairness":
        return importlib.import_module("audit.fairness")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'deepaudit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__


def audit(target: Any, *, samples: int | None = None, seed: int = 0, methods: list[str] | None = None,
          policy: Any = None, quality_samples: int = 16, device: str = "auto", store: Any = None,
          progress: bool = False) -> Any:
    """Audit one model: explanations, explanation-quality checks, fairness statistics and policy checks.

    Parameters
    ----------
    target : AuditTarget or str
        A target object, or a spec (bundled name, ``deepaudit.targets`` entry
        point, ``path/to/file.py:factory``) loaded onto ``device``.
    samples, seed, methods, policy, quality_samples
        As the ``deepaudit run`` flags (None: the per-domain defaults).
    store : RunStore or path, optional
        Write the run there as well; the returned result then has a ``path``.

    Returns
    -------
    AuditResult
    """
    from audit.runner import RunConfig, audit_target
    from audit.store import RunStore
    from audit.target import load_target

    spec = target if isinstance(target, str) else None
    if spec is not None:
        target = load_target(spec, device=device)
    config = RunConfig(samples=samples, seed=seed, methods=methods, device=device, quality_samples=quality_samples,
                       progress=progress, policy=policy)
    if store is not None and not isinstance(store, RunStore):
        store = RunStore(store)
    if store is not None:
        store.check_writable()
    return audit_target(target, config, store=store, spec=spec)


def open_store(root: Any) -> Any:
    """The run store at ``root`` (created on first write): ``list_runs()``, ``load(run_id)``."""
    from audit.store import RunStore

    return RunStore(root)
