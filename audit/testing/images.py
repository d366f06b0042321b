"""Image references for quality tests: a model-blind fake explainer and a tiny CNN target.

:class:`EdgeDetectorExplainer` returns an edge map of the input and never
looks at the model, the failure mode that Adebayo et al. (2018) showed some
saliency methods approach: an explanation that survives randomising the
model's weights is explaining the image, not the model. The randomization
sanity check must flag it.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from deepaudit.audit.target import AuditTarget, EvalData

NOT_IMAGES = "EdgeDetectorExplainer takes images shaped (N, C, H, W), got shape {shape}. Fix: pass image tensors."

_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


class EdgeDetectorExplainer:
    """A fake explainer: the Sobel gradient magnitude of each channel, model ignored.

    Parameters
    ----------
    audit_target : AuditTarget, optional
        Accepted (and ignored) so that it can stand in wherever an explainer
        factory is called with a target.

    Examples
    --------
    >>> edges = EdgeDetectorExplainer().attribute(torch.zeros(2, 1, 8, 8))
    >>> edges.shape
    torch.Size([2, 1, 8, 8])
    """

    name = "edge_detector"

    def __init__(self, audit_target: AuditTarget | None = None, **_: Any) -> None:
        self.audit_target = audit_target

    def attribute(self, inputs: torch.Tensor, *, target: Any = None, **_: Any) -> torch.Tensor:
        """Edge magnitude shaped like ``inputs`` (float32, CPU); ``target`` is ignored on purpose."""
        if inputs.dim() != 4:
            raise ValueError(NOT_IMAGES.format(shape=tuple(inputs.shape)))
        x = inputs.detach().float().cpu()
        c = x.shape[1]
        kernels = torch.stack([_SOBEL_X, _SOBEL_X.T])[:, None].repeat(c, 1, 1, 1)  # (2C, 1, 3, 3)
        g = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernels, groups=c)
        return g.view(len(x), c, 2, *x.shape[-2:]).pow(2).sum(2).sqrt()


def tiny_image_target(n_samples: int = 16, *, size: int = 8, n_classes: int = 3, seed: int = 0) -> AuditTarget:
    """A validated vision target with an untrained two-conv CNN on random images.

    For tests that need a real convolutional model (several parametrised
    layers, Grad-CAM layer, image shapes) but not a meaningful one, at a
    fraction of the bundled models' cost. Weights and data depend only on ``seed``.
    """
    g = torch.Generator().manual_seed(seed)
    torch_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(1, 4, 3, padding=1)), ("relu1", nn.ReLU()),
            ("conv2", nn.Conv2d(4, 4, 3, padding=1)), ("relu2", nn.ReLU()),
            ("flatten", nn.Flatten()), ("fc", nn.Linear(4 * size * size, n_classes)),
        ]))
    finally:
        # Building the reference must not shift the caller's random stream.
        torch.random.set_rng_state(torch_state)
    x = torch.rand(n_samples, 1, size, size, generator=g)
    with torch.no_grad():
        labels = model(x).argmax(1).numpy()
    groups = pd.DataFrame({"group": np.where(np.arange(n_samples) % 2 == 0, "a", "b")})
    target = AuditTarget(
        name="tiny_image_reference", domain="vision", task="untrained CNN for tests",
        class_names=[str(i) for i in range(n_classes)], favorable_label=None, model=model,
        eval_data=EvalData(inputs=x, labels=labels, groups=groups), baseline=torch.zeros(1, size, size),
        gradcam_layer="conv2", provenance={"recipe": "random init, not trained"})
    return target.validate()
