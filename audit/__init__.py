"""deepaudit's computation package: targets, devices, weights (and, as issues land,
explainers, quality checks, fairness statistics, the run store and reports).

This package never imports :mod:`dashboard`.
"""
from audit.device import resolve_device
from audit.target import AuditTarget, EvalData, load_target

__all__ = ["AuditTarget", "EvalData", "load_target", "resolve_device"]
__version__ = "0.1.0"
