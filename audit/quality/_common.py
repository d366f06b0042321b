"""The result type shared by the explanation-quality checks, and their input validation."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from deepaudit.audit.capabilities import infer_kind
from deepaudit.audit.explain.base import EMPTY_INPUTS, NON_FINITE, Explainer
from deepaudit.audit.schema import Check
from deepaudit.audit.target import AuditTarget

TEXT_IDS = ("text target {name!r} takes token ids, got a {dtype} tensor. "
            "Fix: pass the (N, L) int64 token ids from eval_data.inputs, 0 = padding.")
ATTR_SHAPE = ("attributions of shape {got} do not match inputs of shape {want}. "
              "Fix: pass the explainer's output for exactly these inputs.")
NON_FINITE_ATTR = ("attributions hold {count} non-finite values (NaN or inf). "
                   "Fix: recompute them; a NaN attribution usually means NaN gradients in the model.")


@dataclass
class QualityResult:
    """One explanation-quality measurement.

    Attributes
    ----------
    name : str
        What was measured, e.g. ``"completeness"`` or ``"randomization"``.
    summary : dict
        JSON-serialisable scalars and lists (plain Python floats, ints, str, bool).
    tables : dict of str to DataFrame
        Tidy tables, one row per observation, ready for figures.
    checks : list of Check
        Pass/fail entries for the run's ``checks`` section.
    attributions : Tensor, optional
        The attributions the measurement judged, where a caller should publish
        exactly those (IG completeness).
    """

    name: str
    summary: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    attributions: torch.Tensor | None = None


def validate_inputs(audit_target: AuditTarget, inputs: torch.Tensor) -> None:
    """Raise ``ValueError`` for empty, non-finite or (for text) non-integer inputs."""
    if len(inputs) == 0:
        raise ValueError(EMPTY_INPUTS)
    if infer_kind(audit_target) == "text" and inputs.is_floating_point():
        raise ValueError(TEXT_IDS.format(name=audit_target.name, dtype=inputs.dtype))
    if inputs.is_floating_point() and not torch.isfinite(inputs).all():
        raise ValueError(NON_FINITE.format(count=int((~torch.isfinite(inputs)).sum())))


def validate_attributions(attributions: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """The attributions as a float CPU tensor, checked against the inputs' shape and for NaN."""
    attributions = torch.as_tensor(attributions).detach().float().cpu()
    if tuple(attributions.shape) != tuple(inputs.shape):
        raise ValueError(ATTR_SHAPE.format(got=tuple(attributions.shape), want=tuple(inputs.shape)))
    if not torch.isfinite(attributions).all():
        raise ValueError(NON_FINITE_ATTR.format(count=int((~torch.isfinite(attributions)).sum())))
    return attributions


def resolve_classes(audit_target: AuditTarget, inputs: torch.Tensor,
                    target: int | Sequence[int] | torch.Tensor | None) -> torch.Tensor:
    """Class index per input (int64, CPU); the explainers' own rules and error messages apply."""
    # The base class constructor only stores its arguments, so this is the
    # explainers' validation without running any method.
    return Explainer(audit_target).resolve_target(inputs, target)


def baseline_like(audit_target: AuditTarget, inputs: torch.Tensor) -> torch.Tensor:
    """The target's baseline broadcast to ``inputs`` (zeros where the target sets none)."""
    b = audit_target.baseline
    if b is None:
        return torch.zeros_like(inputs)
    return b.to(dtype=inputs.dtype, device=inputs.device).expand_as(inputs).contiguous()


def quantiles(values: np.ndarray) -> dict[str, float]:
    """Mean, median and 95th percentile as plain floats (NaN-free input assumed)."""
    return {"mean": float(np.mean(values)), "median": float(np.median(values)),
            "p95": float(np.percentile(values, 95))}


def plain(value: Any) -> Any:
    """Numpy/torch scalars to Python scalars, recursively, so that summaries are JSON-safe."""
    from deepaudit.audit.store import to_jsonable

    return to_jsonable(value)
