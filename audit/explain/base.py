"""The explainer interface and its registry.

Every method, whichever library computes it, is an :class:`Explainer`:
``Explainer(audit_target, **options).attribute(inputs, target=classes)`` returns
a float tensor shaped like ``inputs`` on the CPU. Text targets are the one
exception to "shaped like the inputs" that is still shaped like the inputs:
token-id inputs ``(N, L)`` get one attribution per token position ``(N, L)``,
computed on the embedding layer and summed over the embedding dimension.

Constructors only store (and check) arguments; the work happens in
:meth:`attribute`, which cuts the inputs into bounded chunks (so long inputs
never run out of memory) and moves each chunk to the model's device. A method's
options are the keyword-only parameters of its ``_attribute``; any other option
is an error. Stochastic methods draw from local generators seeded from
``seed`` and leave the global torch/numpy RNG states as they were (shap, which
only reads the global numpy RNG, seeds it under a lock and restores it).

Registry: the built-in methods register first (on first use of the registry or
of :func:`register_explainer`), then installed packages' ``deepaudit.explainers``
entry points (each names an :class:`Explainer` subclass whose ``name`` equals
the entry point's name) when the registry is first consulted. A name is
registered once; replacing it takes ``replace=True``.
"""
from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import logging
import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from deepaudit.audit.capabilities import KIND_OF_DOMAIN, KINDS, infer_kind
from deepaudit.audit.target import AuditTarget
from deepaudit.audit.tokenizer import PAD_ID

log = logging.getLogger(__name__)

UNKNOWN_METHOD = "unknown explanation method {name!r}. Fix: use one of {known}."
UNKNOWN_OPTION = ("unknown option{s} {bad} for {name}; valid options: {valid}. "
                  "Fix: {hint}pass only the options listed (see the method's docstring).")
DUPLICATE = ("explainer name {name!r} is already registered by {existing}; {new} cannot take it. "
             "Fix: give {cls} another name, or pass replace=True to register_explainer to replace it on purpose.")
BROKEN_PLUGIN = ("explainer plugin {ep!r} ({value}, entry point group {group!r}) could not be registered: {error}. "
                 "Fix: repair or uninstall the package that provides it ({dist}).")
WRONG_KIND = ("method {name!r} does not apply to {kind} target {target!r} (domain {domain!r}): it explains {kinds} "
              "data. Fix: pick one of {usable} (deepaudit run --methods ...).")
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

ENTRY_POINT_GROUP = "deepaudit.explainers"
_BUILTIN_MODULES = ("deepaudit.audit.explain.captum_methods", "deepaudit.audit.explain.shap_methods")
# Per-chunk arguments the base class passes to ``_attribute`` itself; never user options.
_CALL_ARGUMENTS = frozenset({"seed", "texts"})

_REGISTRY: dict[str, type[Explainer]] = {}
_SOURCES: dict[str, str] = {}  # name -> where its class came from, for error messages
_BROKEN: dict[str, str] = {}  # entry-point name -> why it could not be registered
_LOADED = {"builtin": False, "plugins": False}
_LOADING: set[str] = set()  # what the thread holding _LOCK is loading now
_LOCK = threading.RLock()


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
        Method options (``n_steps``, ``n_samples``, ``window`` ...); see
        :meth:`valid_options`. Others raise ValueError.
    """

    name: ClassVar[str] = ""
    # Display name ("Integrated Gradients"); :func:`method_label` falls back to the name.
    label: ClassVar[str] = ""
    # The data kinds it explains (deepaudit.audit.capabilities.KINDS). ``domains`` is the older spelling, in domain
    # labels;
    # a plugin that sets only ``domains`` is read through deepaudit.audit.capabilities.KIND_OF_DOMAIN.
    kinds: ClassVar[tuple[str, ...]] = ("tabular", "image", "text", "other")
    domains: ClassVar[tuple[str, ...]] = ("vision", "nlp", "finance", "other")
    needs_baseline: ClassVar[bool] = False
    has_convergence_delta: ClassVar[bool] = False
    # Whether results depend on ``seed`` (drawn from local generators, see ``_attribute``).
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
        self.check_options(options)
        self.options = options

    @classmethod
    def valid_options(cls) -> tuple[str, ...] | None:
        """Option names the method accepts (keyword-only parameters of ``_attribute``); None: any."""
        params = _parameters(cls._attribute)
        if any(kind is inspect.Parameter.VAR_KEYWORD for kind in params.values()):
            return None
        return tuple(sorted(n for n, kind in params.items()
                            if kind is inspect.Parameter.KEYWORD_ONLY and n not in _CALL_ARGUMENTS))

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        """Raise ValueError naming the options the method does not accept, and the valid ones."""
        valid = cls.valid_options()
        if valid is None:
            return
        bad = sorted(k for k in options if k not in valid)
        if not bad:
            return
        close = [m for k in bad for m in difflib.get_close_matches(k, valid, n=1)]
        hint = f"did you mean {', '.join(repr(m) for m in close)}? " if close else ""
        raise ValueError(UNKNOWN_OPTION.format(s="s" if len(bad) > 1 else "", bad=", ".join(repr(b) for b in bad),
                                               name=cls.name or cls.__name__, valid=", ".join(valid) or "none",
                                               hint=hint))

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
        return self._attribute_chunks(inputs, target, kw)

    def _attribute_chunks(self, inputs: torch.Tensor, target: Any, kw: Mapping[str, Any],
                          per_sample: Mapping[str, Sequence[Any]] | None = None) -> torch.Tensor:
        """:meth:`attribute`'s work. ``per_sample``: sequences sliced per chunk and passed to ``_attribute``
        by keyword (e.g. SHAP's ``texts``); an ``_attribute`` taking ``seed`` gets the seed + chunk start."""
        t = self.audit_target
        _check_applies(type(self), t)
        if len(inputs) == 0:
            raise ValueError(EMPTY_INPUTS)
        if inputs.is_floating_point() and not torch.isfinite(inputs).all():
            raise ValueError(NON_FINITE.format(count=int((~torch.isfinite(inputs)).sum())))
        opts = {**self.options, **kw}
        self.check_options(opts)  # also catches options set on .options after construction
        classes = self.resolve_target(inputs, target)
        chunk = self.chunk_size(inputs, opts)
        takes_seed = "seed" in _parameters(type(self)._attribute)
        out = []
        device = t.device
        t.model.eval()
        for start in range(0, len(inputs), chunk):
            x = inputs[start:start + chunk].to(device)
            y = classes[start:start + chunk].to(device)
            extra = {k: v[start:start + chunk] for k, v in (per_sample or {}).items()}
            if takes_seed:
                # Seed per chunk so a sample's attribution does not depend on what ran before.
                extra["seed"] = self.seed + start
            a = self._attribute(x, y, **extra, **opts)
            if self.is_text():
                # Padding is not part of the text: it cannot be removed or
                # changed, so it carries no attribution whatever the method says.
                a = a * (x != PAD_ID)
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
        if isinstance(target, torch.Tensor):   # a CUDA tensor too (numpy cannot read device memory)
            target = target.detach().cpu()
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
        if self.is_text() and self.audit_target.embedding_layer:
            per_sample *= self.audit_target.submodule(self.audit_target.embedding_layer).embedding_dim
        passes = int(opts.get(self.passes_option, self.default_passes)) if self.passes_option else 1
        return max(1, min(self.batch_size, MAX_BATCH_ELEMENTS // (per_sample * max(1, passes))))

    # -- helpers for subclasses -------------------------------------------
    def resolved_options(self) -> dict[str, Any]:
        """Every option of the method with the value a call uses: the constructor's, else the default."""
        out = {}
        for name, p in inspect.signature(self._attribute).parameters.items():
            if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in _CALL_ARGUMENTS:
                out[name] = self.options.get(name, None if p.default is inspect.Parameter.empty else p.default)
        return out

    def baseline_record(self) -> dict[str, Any] | None:
        """The baseline as data (None for a method without one): shape, SHA-256 of its float32 bytes, the
        values themselves when small (<= 256 numbers), and the target's description of it."""
        if not self.needs_baseline:
            return None
        import hashlib

        b = self.audit_target.baseline
        desc = self.audit_target.provenance.get("baseline_description", "")
        if b is None:
            return {"kind": "zeros", "description": desc or "all-zero input", "shape": None, "sha256": None,
                    "values": None}
        arr = b.detach().float().cpu().contiguous().numpy()
        return {"kind": "target baseline", "description": desc or "AuditTarget.baseline",
                "shape": list(arr.shape), "sha256": hashlib.sha256(arr.tobytes()).hexdigest(),
                "values": arr.reshape(-1).tolist() if arr.size <= 256 else None}

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
        return infer_kind(self.audit_target) == "text"

    def generator(self, seed: int) -> torch.Generator:
        """A CPU torch generator seeded with ``seed`` (draw on the CPU, then move: same numbers on any device)."""
        return torch.Generator().manual_seed(int(seed) % (2 ** 63))

    def _attribute(self, x: torch.Tensor, y: torch.Tensor, **opts: Any) -> torch.Tensor:
        """Attributions of one chunk. Keyword-only parameters are the method's options; a parameter named
        ``seed`` receives the chunk's seed."""
        raise NotImplementedError


@functools.cache
def _parameters(func: Any) -> dict[str, Any]:
    """Parameter name -> kind of ``func`` (cached: checked on every attribute call)."""
    return {n: p.kind for n, p in inspect.signature(func).parameters.items()}


def register_explainer(cls: type[Explainer] | None = None, *, replace: bool = False) -> Any:
    """Class decorator: make ``cls`` available under ``cls.name``.

    ``@register_explainer`` or ``@register_explainer(replace=True)``. A name
    already taken (by a built-in, a plugin or earlier code) raises ValueError
    naming who holds it, unless ``replace=True``.
    """
    if cls is None:
        return lambda c: register_explainer(c, replace=replace)
    if not (isinstance(cls, type) and issubclass(cls, Explainer)):
        raise TypeError(f"register_explainer expects an Explainer subclass, got {cls!r}")
    if cls.__module__ in _BUILTIN_MODULES:
        source = f"built-in {cls.__module__}.{cls.__qualname__}"
    else:
        _ensure_builtin()  # built-ins first, so a later import can never shadow this class
        source = f"{cls.__module__}.{cls.__qualname__}"
    _add(cls, source, replace=replace)
    return cls


def _add(cls: type[Explainer], source: str, *, replace: bool) -> None:
    if not cls.name:
        raise ValueError(f"explainer class {cls.__name__} sets no name")
    with _LOCK:
        old = _REGISTRY.get(cls.name)
        # The same definition again (a module re-imported or reloaded) is not a conflict.
        same = old is cls or (old is not None and "<locals>" not in cls.__qualname__
                              and (old.__module__, old.__qualname__) == (cls.__module__, cls.__qualname__))
        if old is not None and not (replace or same):
            raise ValueError(DUPLICATE.format(name=cls.name, existing=_SOURCES[cls.name], new=source,
                                              cls=cls.__name__))
        _REGISTRY[cls.name] = cls
        _SOURCES[cls.name] = source
        _BROKEN.pop(cls.name, None)


def explainer_kinds(cls: type[Explainer]) -> tuple[str, ...]:
    """The data kinds ``cls`` explains: its ``kinds``, or for a plugin that only sets ``domains``, theirs."""
    if cls.kinds != Explainer.kinds or cls.domains == Explainer.domains:
        return tuple(cls.kinds)
    return tuple(dict.fromkeys(KIND_OF_DOMAIN.get(d, d) for d in cls.domains))


def list_explainers(kind: str | None = None) -> list[str]:
    """Registered method names, optionally only those that explain data of ``kind`` (a data kind, or a domain
    label read as its kind: "finance" -> "tabular")."""
    _ensure_loaded()
    if kind is not None and kind not in KINDS:
        kind = KIND_OF_DOMAIN.get(kind, kind)
    return sorted(n for n, c in list(_REGISTRY.items()) if kind is None or kind in explainer_kinds(c))


def _check_applies(cls: type[Explainer], audit_target: AuditTarget) -> None:
    kind = infer_kind(audit_target)
    if kind not in explainer_kinds(cls):
        raise ValueError(WRONG_KIND.format(name=cls.name, kind=kind, target=audit_target.name,
                                           domain=audit_target.domain, kinds=" or ".join(explainer_kinds(cls)),
                                           usable=list_explainers(kind)))


def get_explainer(name: str) -> type[Explainer]:
    """The explainer class registered under ``name``."""
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        if name in _BROKEN:
            raise ValueError(_BROKEN[name]) from None
        raise ValueError(UNKNOWN_METHOD.format(name=name, known=sorted(_REGISTRY))) from None


def make_explainer(name: str, audit_target: AuditTarget, **options: Any) -> Explainer:
    """Build the explainer ``name`` for ``audit_target`` (checks the domain and the options now)."""
    cls = get_explainer(name)
    _check_applies(cls, audit_target)
    return cls(audit_target, **options)


def method_label(name: str) -> str:
    """Display name of method ``name``: its class's ``label``, else the name made readable."""
    try:
        cls = get_explainer(name)
    except ValueError:
        cls = None
    return (cls.label if cls is not None and cls.label else None) or str(name).replace("_", " ").capitalize()


def _ensure_loaded() -> None:
    _ensure_builtin()
    _load_once("plugins", _load_plugins)


def _ensure_builtin() -> None:
    _load_once("builtin", lambda: [importlib.import_module(m) for m in _BUILTIN_MODULES])


def _load_once(what: str, load: Any) -> None:
    """Run ``load`` once; other threads wait for it, a nested call from the loading thread returns at once."""
    if _LOADED[what]:
        return
    with _LOCK:
        if _LOADED[what] or what in _LOADING:
            return
        _LOADING.add(what)
        try:
            load()
            _LOADED[what] = True
        finally:
            _LOADING.discard(what)


def _entry_points() -> Sequence[Any]:
    from importlib.metadata import entry_points

    return list(entry_points(group=ENTRY_POINT_GROUP))


def _load_plugins() -> None:
    """Register every ``deepaudit.explainers`` entry point; a broken one is recorded (and logged), not raised."""
    try:
        eps = _entry_points()
    except Exception as exc:  # noqa: BLE001 - broken package metadata must not take the built-ins down
        log.warning("could not list %s entry points: %s", ENTRY_POINT_GROUP, exc)
        return
    for ep in eps:
        dist = getattr(getattr(ep, "dist", None), "name", None) or "unknown package"
        source = f"plugin {ep.name!r} ({ep.value}, from {dist})"
        try:
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, Explainer)):
                raise TypeError(f"it loads {cls!r}, not an deepaudit.audit.explain.Explainer subclass")
            if cls.name != ep.name:
                raise ValueError(f"its class {cls.__name__} is named {cls.name!r}; "
                                 f"the entry point must carry the class's name")
            _add(cls, source, replace=False)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not take the built-ins down
            msg = BROKEN_PLUGIN.format(ep=ep.name, value=ep.value, group=ENTRY_POINT_GROUP,
                                       error=f"{type(exc).__name__}: {exc}", dist=dist)
            if ep.name not in _REGISTRY:
                _BROKEN[ep.name] = msg
            log.warning("%s", msg)
