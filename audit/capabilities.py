"""What an audit can compute for a target, from what the target provides, not from its ``domain`` label.

``domain`` ("finance", "vision", ...) is a descriptive label a reader sees. What runs is chosen from the data
kind and the target's parts:

==================  =====================================================================================
data kind           how it is known
==================  =====================================================================================
``text``            a tokenizer or an embedding layer (token ids in, attributions per token)
``image``           inputs shaped (N, C, H, W) or (N, H, W)
``tabular``         inputs shaped (N, features): one row per sample
``other``           anything else: predictions, performance and fairness only
==================  =====================================================================================

A target may also say it: ``AuditTarget(data_kind="tabular", ...)``. Then, per capability (see
:func:`capabilities`): reason codes, the proxy table and what drives a group's gap need tabular rows with
feature names and a favourable label; the what-if editor also needs the raw rows and ``preprocess``;
counterfactual identity probes need a tokenizer and a favourable label; Grad-CAM needs an image model with a
convolution; artifact (shortcut) probes need the target's ``artifact_probes``. Each capability that is off says
why, and the run records it (``result["model"]["capabilities"]``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KINDS = ("tabular", "image", "text", "other")
#: The data kind of runs written before kinds were recorded, from their domain label.
KIND_OF_DOMAIN = {"finance": "tabular", "other": "tabular", "vision": "image", "nlp": "text"}
BAD_KIND = "target {name!r}: data_kind {kind!r} is not one of {kinds}. Fix: use one of them, or leave it unset."
KIND_MISMATCH = ("target {name!r}: data_kind {kind!r} does not match its inputs of shape {shape}: {why}. "
                 "Fix: {fix}.")

#: Explanation methods run by default, per data kind.
DEFAULT_METHODS = {
    "image": ["integrated_gradients", "saliency", "grad_cam"],
    "text": ["integrated_gradients", "saliency"],
    "tabular": ["integrated_gradients", "deeplift", "shap"],
    "other": ["integrated_gradients", "saliency"],
}
#: Samples explained by default (None = all): the cost of IG grows with the size of an input.
DEFAULT_SAMPLES = {"image": 100, "text": 40, "tabular": None, "other": None}


def infer_kind(target: Any) -> str:
    """The data kind of ``target`` (its ``data_kind`` when set, else from its parts and input shape)."""
    declared = getattr(target, "data_kind", None)
    if declared:
        return declared
    if getattr(target, "tokenizer", None) is not None or getattr(target, "embedding_layer", None):
        return "text"
    inputs = getattr(getattr(target, "eval_data", None), "inputs", None)
    dim = getattr(inputs, "ndim", None)
    if dim in (3, 4):
        return "image"
    if dim == 2:
        return "tabular"
    return "other"


def check_kind(target: Any) -> None:
    """Raise ValueError when a declared ``data_kind`` is unknown or contradicts the inputs' shape."""
    kind = getattr(target, "data_kind", None)
    if kind is None:
        return
    name = getattr(target, "name", "?")
    if kind not in KINDS:
        raise ValueError(BAD_KIND.format(name=name, kind=kind, kinds=list(KINDS)))
    shape = tuple(getattr(target.eval_data.inputs, "shape", ()))
    if kind == "image" and len(shape) not in (3, 4):
        raise ValueError(KIND_MISMATCH.format(name=name, kind=kind, shape=shape, why="images are (N, C, H, W)",
                                              fix="give images as an (N, C, H, W) tensor"))
    if kind == "tabular" and len(shape) != 2:
        raise ValueError(KIND_MISMATCH.format(name=name, kind=kind, shape=shape, why="rows are (N, features)",
                                              fix="give one row per sample, (N, features)"))
    if kind == "text" and target.tokenizer is None and not target.embedding_layer:
        raise ValueError(KIND_MISMATCH.format(
            name=name, kind=kind, shape=shape, why="a text target needs its tokenizer or its embedding layer",
            fix="pass tokenizer=... and/or embedding_layer='name.of.embedding'"))


@dataclass(frozen=True)
class Capabilities:
    """What the audit computes for one target; ``reasons`` says why each capability that is off is off."""

    kind: str
    reason_codes: bool = False
    proxy: bool = False
    gap: bool = False
    what_if: bool = False
    counterfactual: bool = False
    grad_cam: bool = False
    artifact_probes: bool = False
    reasons: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        on = [k for k in ("reason_codes", "proxy", "gap", "what_if", "counterfactual", "grad_cam", "artifact_probes")
              if getattr(self, k)]
        return {"kind": self.kind, "enabled": on, "not_applicable": dict(self.reasons)}


def capabilities(target: Any) -> Capabilities:
    """What ``target`` provides, as capabilities (see the module docstring)."""
    kind = infer_kind(target)
    fav = getattr(target, "favorable_label", None) is not None
    names = bool(getattr(target, "feature_names", None))
    sensitive = bool(getattr(target, "sensitive_columns", None))
    raw = getattr(getattr(target, "eval_data", None), "raw", None)
    why: dict[str, str] = {}

    def need(cap: str, ok: bool, reason: str) -> bool:
        if not ok:
            why[cap] = reason
        return ok

    tabular = kind == "tabular"
    rows_why = ("the inputs are not tabular rows" if not tabular else
                "the target has no feature_names" if not names else "the target has no favourable label")
    two = len(getattr(target, "class_names", []) or []) == 2
    reason_codes = need("reason_codes", tabular and names and fav and two,
                        rows_why if not (tabular and names and fav) else
                        "adverse-action reasons explain a two-outcome decision; this model has "
                        f"{len(target.class_names)} classes")
    proxy = need("proxy", tabular and names and fav and sensitive,
                 rows_why if not (tabular and names and fav) else "the target declares no sensitive column")
    gap = need("gap", proxy, why.get("proxy", ""))
    rows_ok = tabular and names and fav
    what_if = need("what_if", rows_ok and raw is not None and getattr(target, "preprocess", None) is not None,
                   rows_why if not rows_ok else
                   "the target gives no raw rows (eval_data.raw) and preprocess function to rescore edited rows")
    text = kind == "text" and getattr(target, "tokenizer", None) is not None
    counterfactual = need("counterfactual", text and fav,
                          "the target has no tokenizer to swap words with" if not text else
                          "the target has no favourable label")
    grad_cam = need("grad_cam", kind == "image" and bool(getattr(target, "gradcam_layer", None)),
                    "Grad-CAM explains image models only" if kind != "image" else
                    "the model has no convolution layer for Grad-CAM (and the target names none)")
    artifacts = need("artifact_probes", bool(getattr(target, "artifact_probes", None)),
                     "the target declares no artifact probes")
    return Capabilities(kind=kind, reason_codes=reason_codes, proxy=proxy, gap=gap, what_if=what_if,
                        counterfactual=counterfactual, grad_cam=grad_cam, artifact_probes=artifacts, reasons=why)


def last_conv_layer(model: Any) -> str | None:
    """The dotted name of the model's last 2-D convolution (Grad-CAM's usual layer), or None."""
    import torch.nn as nn

    found = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            found = name
    return found


def kind_of_run(model: Any) -> str:
    """The data kind a stored run records (``model.kind``), or the one its domain implies for older runs."""
    get = model.get if isinstance(model, dict) else (lambda k, d=None: getattr(model, k, d))
    caps = get("capabilities")
    kind = get("kind") or (caps.get("kind") if isinstance(caps, dict) else None)
    if kind in KINDS:
        return kind
    return KIND_OF_DOMAIN.get(str(get("domain", "")), "other")
