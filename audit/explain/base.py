"""The explainer interface and its registry.

Every method, whichever library computes it, is an :class:`Explainer`:
``Explainer(audit_target, **options).attribute(inputs, target=classes)`` returns
a float tensor shaped like ``inputs`` on the CPU. Text targets are the one
exception to "shaped like the inputs" that is still shaped like the inputs:
token-id inputs ``(N, L)`` get one attribution per token position ``(N, L)``,
computed on the embedding layer and summed over the embedding dimension.

Constructors only store arguments; the work happens in :meth:`attribute`,
which cuts the inputs into bounded chunks (so long inputs never run out of
memory) and moves each chunk to the model's device.
"""
from __future__ import annotations

import math
from typing import Any, ClassVar, Sequence

import numpy as np
import torch

from audit.target import AuditTarget

UNKNOWN_METHOD = "unknown explanation method {name!r}. Fix: use one of {known}."
WRONG_DOMAIN = ("method {name!r} does not apply to {domain} target {target!r}: it supports {domains}. "
                "Fix: pick one of {usable} (deepaudit run --methods ...).")
TARGET_RANGE = ("target class {bad!r} is out of range for {n} classes {classes}. "
                "Fix: pass class indices in [0, {n}) (or None for the predicted class).")
TARGET_LENGTH = "target has {got} entries for {n} inputs. Fix: pass one class index per input, or a single int."
NON_FINITE = ("inputs to explain hold {count} non-finite values (NaN or inf). "
              "Fix: clean or impute them before explaining.")
EMPTY_INPUTS = "no inputs to explain (0 samples). Fix: pass at least one sample."
NEEDS_LAYER = ("method {name!r} needs the target's {what} (AuditTarget.{what}), which {target!r} does not set. "
               "Fix: set it to the dotted name of the layer, e.g. 'features.conv4'.")

# Bound on the input elements one internal forward/backward batch may hold
# (inputs times steps); keeps memory flat on long texts and large images.
# Activations are a multiple of this (mnist_cnn's first conv: 16x), so 2M
# input elements keep peak memory of `deepaudit run --all` near 1 GB.
MAX_BATCH_ELEMENTS = 1 << 21

_REGISTRY: dict[str, type["Explainer"]] = {}


class Explainer:
    """Base class: subclasses set the class flags and implement :meth:`_attribute`.

    Parameters
    ----------
    audit_target : AuditTarget
        The model and its metadata (baseline, layers, tokenizer).
    batch_size : int
        Inputs per chunk handed to the underlying library.
    seed : int
        Seeds stochastic methods (GradientSHAP, SHAP) so that results repeat.
    **options
        Method options (``n_steps``, ``n_samples``, ``window`` ...).
    """

    name: ClassVar[str] = ""
    domains: ClassVar[tuple[str, ...]] = ("vision", "nlp", "finance", "other")
    needs_baseline: ClassVar[bool] = False
    has_convergence_delta: ClassVar[bool] = False
    stochastic: ClassVar[bool] = False
    # Whether the sign of an attribution carries meaning (IG, DeepLift, SHAP ...)
    # or only its size does (saliency, Grad-CAM after ReLU).
    signed: ClassVar[bool] = True
    # Forward/backward passes per input, used to size chunks (IG: n_steps).
    passes_option: ClassVar[str | None] = None
    default_passes: ClassVar[int] = 1

    def __init__(self, audit_target: AuditTarget, *, batch_size: int = 1024, seed: int = 0, **options: Any) -> None:
        self.audit_target = audit_target
        self.batch_size = batch_size
        self.seed = seed
        self.options = options

    # -- public -----------------------------------------------------------
    def attribute(self, inputs: torch.Tensor, *, target: int | Sequence[int] | torch.Tensor | None = None,
                  **kw: Any) -> torch.Tensor:
        """Attributions shaped like ``inputs`` (float32, on the CPU).

        Parameters
        ----------
        inputs : Tensor
            Model-ready inputs, first dimension = samples.
        target : int, sequence of int, Tensor or None
            Class to explain per input; None explains the predicted class.
        **kw
            Per-call overrides of the constructor's options.
        """
        t = self.audit_target
        if t.domain not in self.domains:
            raise ValueError(WRONG_DOMAIN.format(name=self.name, domain=t.domain, target=t.name,
                                                 domains=list(self.domains), usable=list_explainers(t.domain)))
        if len(inputs) == 0:
            raise ValueError(EMPTY_INPUTS)
        if inputs.is_floating_point() and not torch.isfinite(inputs).all():
            raise ValueError(NON_FINITE.format(count=int((~torch.isfinite(inputs)).sum())))
        classes = self.resolve_target(inputs, target)
        opts = {**self.options, **kw}
        chunk = self.chunk_size(inputs, opts)
        out = []
        device = t.device
        t.model.eval()
        for start in range(0, len(inputs), chunk):
            if self.stochastic:
                # Seed per chunk so a sample's attribution does not depend on what ran before.
                torch.manual_seed(self.seed + start)
                np.random.seed((self.seed + start) % (2 ** 32))
            x = inputs[start:start + chunk].to(device)
            y = classes[start:start + chunk].to(device)
            a = self._attribute(x, y, **opts)
            if self.is_text():
                # Padding (id 0) is not part of the text: it cannot be removed or
                # changed, so it carries no attribution whatever the method says.
                a = a * (x != 0)
            out.append(a.detach().float().cpu())
        result = torch.cat(out)
        expected = tuple(inputs.shape)
        if tuple(result.shape) != expected:
            raise RuntimeError(f"{self.name} returned shape {tuple(result.shape)} for inputs {expected}")
        return result

    def resolve_target(self, inputs: torch.Tensor, target: Any) -> torch.Tensor:
        """Class index per input as a CPU int64 tensor, checked against the class count."""
        n = len(self.audit_target.class_names)
        if target is None:
            return self.audit_target.logits(inputs).argmax(1)
        classes = torch.as_tensor(np.asarray(target), dtype=torch.long).reshape(-1)
        if classes.numel() == 1:
            classes = classes.expand(len(inputs)).clone()
        if len(classes) != len(inputs):
            raise ValueError(TARGET_LENGTH.format(got=len(classes), n=len(inputs)))
        bad = classes[(classes < 0) | (classes >= n)]
        if len(bad):
            raise ValueError(TARGET_RANGE.format(bad=int(bad[0]), n=n, classes=self.audit_target.class_names))
        return classes

    def chunk_size(self, inputs: torch.Tensor, opts: dict[str, Any]) -> int:
        """Inputs per chunk: ``batch_size``, shrunk so that inputs x passes x elements stays bounded."""
        per_sample = max(1, math.prod(inputs.shape[1:]))
        if self.audit_target.domain == "nlp" and self.audit_target.embedding_layer:
            per_sample *= self.audit_target.submodule(self.audit_target.embedding_layer).embedding_dim
        passes = int(opts.get(self.passes_option, self.default_passes)) if self.passes_option else 1
        return max(1, min(self.batch_size, MAX_BATCH_ELEMENTS // (per_sample * max(1, passes))))

    # -- helpers for subclasses -------------------------------------------
    def baseline_like(self, x: torch.Tensor) -> torch.Tensor:
        """The target's baseline broadcast to ``x`` (zeros where the target sets none)."""
        b = self.audit_target.baseline
        if b is None:
            return torch.zeros_like(x)
        return b.to(device=x.device, dtype=x.dtype).expand_as(x).contiguous()

    def layer(self, attr: str) -> torch.nn.Module:
        name = getattr(self.audit_target, attr)
        if not name:
            raise ValueError(NEEDS_LAYER.format(name=self.name, what=attr, target=self.audit_target.name))
        return self.audit_target.submodule(name)

    def is_text(self) -> bool:
        return self.audit_target.domain == "nlp"

    def _attribute(self, x: torch.Tensor, y: torch.Tensor, **opts: Any) -> torch.Tensor:
        raise NotImplementedError


def register_explainer(cls: type[Explainer]) -> type[Explainer]:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"explainer class {cls.__name__} sets no name")
    _REGISTRY[cls.name] = cls
    return cls


def list_explainers(domain: str | None = None) -> list[str]:
    """Registered method names, optionally only those that support ``domain``."""
    _load_builtin()
    return sorted(n for n, c in _REGISTRY.items() if domain is None or domain in c.domains)


def get_explainer(name: str) -> type[Explainer]:
    """The explainer class registered under ``name``."""
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(UNKNOWN_METHOD.format(name=name, known=sorted(_REGISTRY))) from None


def make_explainer(name: str, audit_target: AuditTarget, **options: Any) -> Explainer:
    """Build the explainer ``name`` for ``audit_target`` (checks the domain now, not at attribute time)."""
    cls = get_explainer(name)
    if audit_target.domain not in cls.domains:
        raise ValueError(WRONG_DOMAIN.format(name=name, domain=audit_target.domain, target=audit_target.name,
                                             domains=list(cls.domains), usable=list_explainers(audit_target.domain)))
    return cls(audit_target, **options)


def _load_builtin() -> None:
    # Importing the adapter modules registers their classes.
    from audit.explain import captum_methods, shap_methods  # noqa: F401
