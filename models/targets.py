"""Audit-target factories of the bundled models, installed as ``deepaudit.targets`` entry points.

pyproject.toml names each one (``mortgage = "deepaudit.models.targets:mortgage"``), exactly as a user's package
names its own factory, so ``deepaudit run mortgage`` resolves the way ``deepaudit run my_model`` does and
:mod:`audit` needs no knowledge of this package. Each factory takes the ``device`` keyword and returns
the validated :class:`deepaudit.audit.target.AuditTarget` of :func:`deepaudit.models.registry.get_target`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from deepaudit.audit.target import AuditTarget

__all__ = ["mnist_cnn", "mnist_cnn_shortcut", "mortgage", "sentiment", "sentiment_bert"]


def _target(name: str, device: "str | torch.device") -> "AuditTarget":
    from deepaudit.models.registry import get_target

    return get_target(name, device=device)


def mnist_cnn(*, device: "str | torch.device" = "auto") -> "AuditTarget":
    """The MNIST digit CNN."""
    return _target("mnist_cnn", device)


def mnist_cnn_shortcut(*, device: "str | torch.device" = "auto") -> "AuditTarget":
    """The deliberately flawed MNIST canary (a planted corner-mark shortcut)."""
    return _target("mnist_cnn_shortcut", device)


def mortgage(*, device: "str | torch.device" = "auto") -> "AuditTarget":
    """The mortgage-approval MLP over Boston HMDA applications."""
    return _target("mortgage", device)


def sentiment(*, device: "str | torch.device" = "auto") -> "AuditTarget":
    """The movie-review sentiment text CNN."""
    return _target("sentiment", device)


def sentiment_bert(*, device: "str | torch.device" = "auto") -> "AuditTarget":
    """The movie-review sentiment BERT (a Hugging Face model, audited through from_huggingface)."""
    return _target("sentiment_bert", device)
