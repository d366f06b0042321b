"""Bundled deep models and the model registry.

>>> from models import list_models, get_model
>>> list_models()  # doctest: +SKIP
['mnist_cnn', 'mnist_cnn_shortcut', 'mortgage', 'sentiment']

The audit reaches these models the way it reaches a user's: through entry points
(``deepaudit.targets`` in pyproject.toml, see :mod:`deepaudit.models.targets`; the
``deepaudit models``, ``evaluate`` and ``train`` commands come from
:mod:`deepaudit.models.cli` through ``deepaudit.commands``). :mod:`audit` never imports
this package.

Importing it is cheap: the registry (torch) and the domain packages, whose import
registers their models as torchvision's do, load on first use. The command line
imports :mod:`deepaudit.models.cli` for every command, so this matters.
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Weights", "get_entry", "get_model", "get_target", "get_weights", "list_models", "register_model"]
_SUBPACKAGES = ("finance", "nlp", "vision", "registry")


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("deepaudit.models.registry"), name)
    if name in _SUBPACKAGES:
        return importlib.import_module(f"models.{name}")
    raise AttributeError(f"module 'models' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_SUBPACKAGES))
