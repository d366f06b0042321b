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

_LAZY = {name: f"deepaudit.audit.{module}" for name, module in {
    # targets
    "AuditTarget": "target", "EvalData": "target", "load_target": "target",
    "list_targets": "target", "resolve_device": "device", "from_huggingface": "huggingface",
    # running an audit and its result
    "RunConfig": "runner", "AuditResult": "result", "Check": "schema",
    "RESULT_SCHEMA": "schema", "SCHEMA_VERSION": "schema", "validate_result": "schema",
    "migrate": "migrate",
    # the run store
    "RunStore": "store",
    # explainers
    "Explainer": "explain", "make_explainer": "explain", "list_explainers": "explain",
    "register_explainer": "explain", "method_label": "explain", "Tokenizer": "tokenizer",
    # fairness statistics (fairlearn-compatible definitions, count-based intervals)
    "group_metrics": "fairness", "disparities": "fairness", "significance_tests": "fairness",
    "calibration_error": "fairness", "calibration_curves": "fairness",
    "wilson_interval": "fairness", "Policy": "fairness", "load_policy": "fairness",
    # reports
    "write_reports": "report", "build_report": "report",
}.items()}
__all__ = sorted([*_LAZY, "audit", "open_store", "fairness"])


def __getattr__(name: str) -> Any:
    if name == "fairness":
        return importlib.import_module("deepaudit.audit.fairness")
    if name == "audit":   # the implementation package; calling it runs an audit (deepaudit._api.run_audit)
        return importlib.import_module("deepaudit.audit")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'deepaudit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__


def open_store(root: Any) -> Any:
    """The run store at ``root`` (created on first write): ``list_runs()``, ``load(run_id)``."""
    from deepaudit.audit.store import RunStore

    return RunStore(root)
