"""Explanation quality: can an explanation be trusted? (docs/statistics.md, "Explanation quality").

Each function measures one property and returns a :class:`QualityResult`
(summary scalars, tidy tables for figures, pass/fail checks):

- :func:`ig_completeness`: IG attributions add up to the logit difference.
- :func:`attribution_completeness`: DeepLIFT, SHAP and GradientSHAP attributions
  add up to theirs (exactly, or within an estimator's Monte-Carlo error).
- :func:`deletion_insertion`: removing top-ranked features changes the
  prediction faster than removing random ones.
- :func:`infidelity_and_sensitivity`: explanations predict the effect of small
  perturbations and do not jump under them.
- :func:`randomization_check`: explanations change when the model's weights
  are randomised.

:func:`deepaudit.audit.quality.suite.method_quality` runs every family that applies on
every method a run publishes and records why the others do not apply.
"""
from __future__ import annotations

import importlib
from typing import Any

# Loaded on first use: readers of a stored run (report, dashboard) import deepaudit.audit.quality.coverage, which must
# not
# load torch and captum through this package.
_WHERE = {"QualityResult": "_common", "attribution_completeness": "completeness", "ig_completeness": "completeness",
          "deletion_insertion": "curves", "randomization_check": "randomization",
          "infidelity_and_sensitivity": "robustness"}

__all__ = ["QualityResult", "attribution_completeness", "deletion_insertion", "ig_completeness",
           "infidelity_and_sensitivity", "randomization_check"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"deepaudit.audit.quality.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
