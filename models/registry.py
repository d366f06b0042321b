"""Model registry modelled on torchvision's ``register_model`` / ``get_model`` / ``list_models``.

Each entry couples an architecture builder with one weights file (safetensors)
and its JSON metadata, a factory for the audit target, an evaluation function
that reproduces the held-out metrics, and the module that trains it.
"""
from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch
from torch import nn

from deepaudit.audit.device import resolve_device
from deepaudit.audit.weights import load_state_dict_checked, read_state_dict

if TYPE_CHECKING:
    from deepaudit.audit.target import AuditTarget

UNKNOWN_MODEL = ("unknown model {name!r}. Available models: {available}. Fix: use one of these names "
                 "(`deepaudit models` lists them), or give your own target as path/to/file.py:factory "
                 "(README, 'Audit your own model').")
DUPLICATE_MODEL = "a model named {name!r} is already registered. Fix: choose another name."
META_MISSING = ("metadata file {path} for model {name!r} is missing. Fix: reinstall deepaudit, or re-train with "
                "`deepaudit train {name}`.")
REQUIRED_META_KEYS = (
    "name", "domain", "task", "dataset", "class_names", "favorable_label", "sensitive_attributes",
    "cohorts", "num_params", "metrics", "recipe", "sha256", "data_sha256", "source_sha256", "architecture",
    "card",
)


@dataclass(frozen=True)
class Weights:
    """A weights file and its JSON metadata (``<file>.json`` beside it)."""

    model_name: str
    path: Path

    @property
    def meta_path(self) -> Path:
        return self.path.with_suffix(".json")

    @cached_property
    def meta(self) -> dict[str, Any]:
        if not self.meta_path.is_file():
            raise FileNotFoundError(META_MISSING.format(path=self.meta_path, name=self.model_name))
        return json.loads(self.meta_path.read_text())

    @property
    def fix(self) -> str:
        return f"reinstall deepaudit, or re-train with `deepaudit train {self.model_name}`."

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Read the tensors, verifying the recorded sha256 first."""
        return read_state_dict(self.path, expected_sha256=self.meta["sha256"], fix=self.fix)


@dataclass(frozen=True)
class ModelEntry:
    name: str
    domain: str
    builder: Callable[[dict[str, Any]], nn.Module]
    weights: Weights
    target_factory: Callable[..., "AuditTarget"]
    evaluate: Callable[[nn.Module, torch.device], dict[str, Any]]
    train_module: str


_REGISTRY: dict[str, ModelEntry] = {}
#: Importing a domain package registers its models (as torchvision does); done on first use of the registry.
DOMAIN_PACKAGES = ("deepaudit.models.finance", "deepaudit.models.nlp", "deepaudit.models.vision")


def _load_bundled() -> None:
    for package in DOMAIN_PACKAGES:
        importlib.import_module(package)


def register_model(name: str, *, domain: str, weights: str | Path, target: Callable[..., "AuditTarget"],
                   evaluate: Callable[[nn.Module, torch.device], dict[str, Any]], train: str):
    """Decorator registering an architecture builder ``fn(meta) -> nn.Module``.

    Parameters
    ----------
    name : str
        Registry name (``deepaudit run NAME``).
    domain : str
        vision | nlp | finance | other.
    weights : path
        The ``.safetensors`` file; its metadata lies beside it as ``.json``.
    target : callable
        ``target(entry, device=...) -> AuditTarget``.
    evaluate : callable
        ``evaluate(model, device) -> metrics`` on the fixed held-out split.
    train : str
        Module with ``main(argv)`` that re-trains the weights.
    """

    def wrap(builder):
        if name in _REGISTRY:
            raise ValueError(DUPLICATE_MODEL.format(name=name))
        _REGISTRY[name] = ModelEntry(name, domain, builder, Weights(name, Path(weights)), target, evaluate, train)
        return builder

    return wrap


def list_models(domain: str | None = None) -> list[str]:
    """Sorted names of registered models, optionally of one domain."""
    _load_bundled()
    return sorted(n for n, e in _REGISTRY.items() if domain is None or e.domain == domain)


def get_entry(name: str) -> ModelEntry:
    _load_bundled()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(UNKNOWN_MODEL.format(name=name, available=", ".join(list_models()))) from None


def get_weights(name: str) -> Weights:
    return get_entry(name).weights


def get_model(name: str, *, weights: bool = True, device: str | torch.device = "auto") -> nn.Module:
    """Build a registered model (with its shipped weights by default) in eval mode on ``device``."""
    entry = get_entry(name)
    model = entry.builder(entry.weights.meta)
    if weights:
        load_state_dict_checked(model, entry.weights.state_dict(), source=f"file {entry.weights.path}",
                                fix=entry.weights.fix)
    return model.to(resolve_device(device)).eval()


def run_card(meta: dict[str, Any]) -> dict[str, Any]:
    """The model card a target carries in ``provenance["card"]``: the card of the metadata plus the
    architecture and training data, so a run stores everything its report shows (the report never reads
    this registry)."""
    card = dict(meta["card"]) | {"architecture": meta.get("architecture"), "training_data": meta.get("dataset")}
    if meta.get("excluded_columns"):   # inputs deliberately left out, by reason (a validator asks)
        card["excluded_inputs"] = meta["excluded_columns"]
    return card


def get_target(name: str, *, device: str | torch.device = "auto") -> "AuditTarget":
    """The validated audit target of a registered model."""
    entry = get_entry(name)
    return entry.target_factory(entry, device=resolve_device(device)).validate()
