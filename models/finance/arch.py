"""A 64-32 MLP over standardised application features; 2 logits (denied, approved)."""
from __future__ import annotations

from collections import OrderedDict

from torch import nn


class MortgageMLP(nn.Module):
    def __init__(self, in_features: int, hidden=(64, 32), num_classes: int = 2, dropout: float = 0.2) -> None:
        super().__init__()
        layers: list[tuple[str, nn.Module]] = []
        width = in_features
        for i, h in enumerate(hidden, start=1):
            layers += [(f"fc{i}", nn.Linear(width, h)), (f"relu{i}", nn.ReLU()), (f"drop{i}", nn.Dropout(dropout))]
            width = h
        layers.append(("out", nn.Linear(width, num_classes)))
        self.net = nn.Sequential(OrderedDict(layers))

    def forward(self, x):
        return self.net(x)
