"""deepaudit's computation package: targets, devices, weights, explainers, quality checks, fairness
statistics, the run store and reports. Installed as ``deepaudit.audit`` (the folder keeps its name; see
pyproject.toml), so a user's own ``audit`` package never shadows it.

The package is also the public function ``deepaudit.audit(target, ...)``: calling the module runs an audit
(:func:`deepaudit._api.run_audit`). One name serves both because importing any ``deepaudit.audit.*`` module
binds ``deepaudit.audit`` to this package.

The names below load on first use (PEP 562), so that commands which only read a run store (``deepaudit
list``, ``report``) start without importing torch. This package never imports :mod:`deepaudit.dashboard`.
"""
from __future__ import annotations

import sys
import types
from typing import Any

__all__ = ["AuditTarget", "EvalData", "load_target", "resolve_device"]
__version__ = "0.1.0"

_LAZY = {"AuditTarget": "deepaudit.audit.target", "EvalData": "deepaudit.audit.target",
         "load_target": "deepaudit.audit.target", "resolve_device": "deepaudit.audit.device"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'deepaudit.audit' has no attribute {name!r}")


class _CallablePackage(types.ModuleType):
    def __call__(self, target: Any, **options: Any) -> Any:
        """``deepaudit.audit(target, samples=None, seed=0, methods=None, policy=None, quality_samples=16,
        device="auto", store=None, progress=False)``: see :func:`deepaudit._api.run_audit`."""
        from deepaudit._api import run_audit

        return run_audit(target, **options)


sys.modules[__name__].__class__ = _CallablePackage
