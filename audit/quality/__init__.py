"""Explanation quality: can an explanation be trusted? (docs/statistics.md, "Explanation quality").

Each function measures one property and returns a :class:`QualityResult`
(summary scalars, tidy tables for figures, pass/fail checks):

- :func:`ig_completeness`: IG attributions add up to the logit difference.
- :func:`deletion_insertion`: removing top-ranked features changes the
  prediction faster than removing random ones.
- :func:`infidelity_and_sensitivity`: explanations predict the effect of small
  perturbations and do not jump under them.
- :func:`randomization_check`: explanations change when the model's weights
  are randomised.
"""
from audit.quality._common import QualityResult
from audit.quality.completeness import ig_completeness
from audit.quality.curves import deletion_insertion
from audit.quality.randomization import randomization_check
from audit.quality.robustness import infidelity_and_sensitivity

__all__ = ["QualityResult", "deletion_insertion", "ig_completeness", "infidelity_and_sensitivity",
           "randomization_check"]
