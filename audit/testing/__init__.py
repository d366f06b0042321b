"""Reference targets and fake explainers with known answers, for deepaudit's own tests.

- :func:`linear_target`: IG = w * (x - baseline) exactly, completeness error 0.
- :class:`EdgeDetectorExplainer`: ignores the model; must fail the
  model-randomization sanity check.
- :func:`tiny_image_target`: a small untrained CNN target for fast tests.
"""
from deepaudit.audit.testing.images import EdgeDetectorExplainer, tiny_image_target
from deepaudit.audit.testing.linear import linear_target, linear_weights

__all__ = ["EdgeDetectorExplainer", "linear_target", "linear_weights", "tiny_image_target"]
