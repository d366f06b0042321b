"""A linear reference target whose attributions are known in closed form.

For ``F_c(x) = w_c . x + b_c`` the gradient is the constant ``w_c``, so
Integrated Gradients from a baseline ``x0`` is exactly ``w_c * (x - x0)`` for
any step count, and its completeness error is zero up to float rounding.
Tests use it as an oracle for explainers and quality checks.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from deepaudit.audit.target import AuditTarget, EvalData

BAD_SIZE = "linear_target needs n_features >= 1 and n_samples >= 2, got {n_features} and {n_samples}."

# Distinct magnitudes and both signs, so that an attribution order is well defined.
_SCALE = 2.0


def linear_weights(n_features: int) -> torch.Tensor:
    """The (2, n_features) weight matrix of :func:`linear_target`: class 1 = -class 0.

    Magnitudes grow with the feature index and signs alternate, so every
    feature has a distinct, known importance.
    """
    j = torch.arange(n_features, dtype=torch.float32)
    w1 = _SCALE * (j + 1) / n_features * torch.where(j % 2 == 0, 1.0, -1.0)
    return torch.stack([-w1, w1])


def linear_target(n_features: int = 5, n_samples: int = 64, *, seed: int = 0) -> AuditTarget:
    """A validated ``AuditTarget`` around ``nn.Linear(n_features, 2)`` with known weights.

    Parameters
    ----------
    n_features : int
        Input width.
    n_samples : int
        Evaluation rows (standard normal, seeded).
    seed : int
        Seeds the evaluation data; the weights do not depend on it.

    Returns
    -------
    AuditTarget
        Domain ``"other"``, classes ``["no", "yes"]``, weights
        :func:`linear_weights`, biases ``(0.1, -0.1)``, a non-zero baseline
        ``0.5, -0.5, 0.5, ...`` (so tests see the ``x - baseline`` term), labels
        = the model's predictions, and a ``groups`` frame with column ``"group"``.

    Examples
    --------
    >>> t = linear_target()
    >>> t.model(t.eval_data.inputs[:2]).shape
    torch.Size([2, 2])
    """
    if n_features < 1 or n_samples < 2:
        raise ValueError(BAD_SIZE.format(n_features=n_features, n_samples=n_samples))
    model = nn.Linear(n_features, 2)
    with torch.no_grad():
        model.weight.copy_(linear_weights(n_features))
        model.bias.copy_(torch.tensor([0.1, -0.1]))
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_samples, n_features, generator=g)
    with torch.no_grad():
        labels = model(x).argmax(1).numpy()
    baseline = 0.5 * torch.where(torch.arange(n_features) % 2 == 0, 1.0, -1.0)
    groups = pd.DataFrame({"group": np.where(np.arange(n_samples) % 2 == 0, "a", "b")})
    target = AuditTarget(
        name="linear_reference", domain="other", task="linear oracle for tests", class_names=["no", "yes"],
        favorable_label="yes", model=model, eval_data=EvalData(inputs=x, labels=labels, groups=groups),
        sensitive_columns=["group"], feature_names=[f"x{i}" for i in range(n_features)], baseline=baseline,
        provenance={"recipe": "closed form, not trained"})
    return target.validate()
