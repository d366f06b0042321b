"""deepaudit's computation package: targets, devices, weights, explainers, quality checks, fairness
statistics, the run store and reports.

The names below load on first use (PEP 562), so that commands which only read a run store (``deepaudit
list``, ``report``) start without importing torch. This package never imports :mod:`dashboard`.
"""
from __future__ import annotations

from typing import Any

__all__ = ["AuditTarget", "EvalData", "load_target", "resolve_device"]
__version__ = "0.1.0"

_LAZY = {"AuditTarget": "audit.target", "EvalData": "audit.target", "load_target": "audit.target",
         "resolve_device": "audit.device"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'audit' has no attribute {name!r}")
