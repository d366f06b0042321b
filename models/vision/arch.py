"""A small CNN for 28x28 grey-scale digits (inputs scaled to [0, 1])."""
from __future__ import annotations

from collections import OrderedDict

from torch import nn


class MnistCNN(nn.Module):
    """Two conv blocks and an MLP head; ~118k parameters.

    Every ReLU is its own module (not reused, not in-place) so that
    DeepLift-style explainers can hook each one. ``features.conv4`` is the last
    convolution, the layer Grad-CAM uses.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(1, 16, 3, padding=1)), ("relu1", nn.ReLU()),
            ("conv2", nn.Conv2d(16, 16, 3, padding=1)), ("relu2", nn.ReLU()),
            ("pool1", nn.MaxPool2d(2)),
            ("conv3", nn.Conv2d(16, 32, 3, padding=1)), ("relu3", nn.ReLU()),
            ("conv4", nn.Conv2d(32, 32, 3, padding=1)), ("relu4", nn.ReLU()),
            ("pool2", nn.MaxPool2d(2)),
        ]))
        self.classifier = nn.Sequential(OrderedDict([
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(32 * 7 * 7, 64)), ("relu5", nn.ReLU()),
            ("dropout", nn.Dropout(0.25)),
            ("fc2", nn.Linear(64, num_classes)),
        ]))

    def forward(self, x):
        return self.classifier(self.features(x))
