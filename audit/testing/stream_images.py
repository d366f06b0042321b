"""A 50,000-image evaluation set at 224 x 224 that is never held in memory: the streaming scale case.

Each image is made on request from its index (a seeded 28 x 28 pattern of three channels, upsampled 8x to
224 x 224 as uint8), so the set costs no disk and no memory; a :class:`~deepaudit.audit.rows.RowSource`
reads it in batches and scales it to [0, 1]. Held as one float32 tensor it would take
``n * 3 * 224 * 224 * 4`` bytes (30 GB for 50,000). The model is a small untrained CNN (strided
convolutions): the benchmark measures the audit's memory and time, not accuracy.

    DEEPAUDIT_STREAM_IMAGES=50000 deepaudit run deepaudit/audit/testing/stream_images.py:factory
"""
from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np
import pandas as pd
import torch
from torch import nn

from deepaudit.audit.rows import RowSource
from deepaudit.audit.target import AuditTarget, EvalData

SIZE = 224


class GeneratedImages(torch.utils.data.Dataset):
    """Image ``i``: a seeded 3 x 28 x 28 uint8 pattern upsampled to 3 x 224 x 224; label ``i % 2``."""

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n, self.seed = n, seed

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> torch.Tensor:
        small = np.random.default_rng([self.seed, int(i)]).integers(0, 256, (3, 28, 28), dtype=np.uint8)
        return torch.from_numpy(small.repeat(8, axis=1).repeat(8, axis=2))


def _scale(batch: torch.Tensor) -> torch.Tensor:
    return batch.float() / 255.0


def model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(3, 8, 8, stride=8)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(8, 8, 4, stride=4)), ("relu2", nn.ReLU()),
        ("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(8, 2)),
    ])).eval()


def stream_target(n: int | None = None, *, seed: int = 0) -> AuditTarget:
    n = int(os.environ.get("DEEPAUDIT_STREAM_IMAGES", "50000")) if n is None else n
    labels = np.arange(n) % 2
    groups = pd.DataFrame({"site": np.where(np.arange(n) % 3 == 0, "north", "south")})
    return AuditTarget(
        name="stream_images", domain="vision", task="generated images (streaming benchmark)",
        class_names=["a", "b"], favorable_label=None, model=model(seed),
        eval_data=EvalData(inputs=RowSource(GeneratedImages(n, seed), transform=_scale, batch_size=256),
                           labels=labels, groups=groups),
        cohort_columns=["site"], baseline=torch.zeros(3, SIZE, SIZE), gradcam_layer="conv2",
        provenance={"recipe": "untrained, weights from a seed", "dataset": f"{n} generated images"},
    ).validate()


def factory() -> AuditTarget:
    return stream_target()
