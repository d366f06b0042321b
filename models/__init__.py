"""Bundled deep models and the model registry.

>>> from models import list_models, get_model
>>> list_models()  # doctest: +SKIP
['mnist_cnn', 'mnist_cnn_shortcut', 'mortgage', 'sentiment']
"""
from models.registry import (Weights, get_entry, get_model, get_target, get_weights, list_models,
                             register_model)

# Importing the domain packages registers their models (as torchvision does).
from models import finance, nlp, vision  # noqa: E402,F401  isort:skip

__all__ = ["Weights", "get_entry", "get_model", "get_target", "get_weights", "list_models", "register_model"]
