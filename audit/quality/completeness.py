"""Integrated Gradients completeness (Sundararajan et al. 2017).

IG's attributions of one input sum to ``F(x) - F(path start)``, where ``F`` is
the explained class's logit, up to the error of the path integral's
quadrature. A large relative error means too few steps (or a model whose
gradients the quadrature cannot follow), so the attributions should not be
read as a decomposition of the prediction.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from audit.explain.base import NEEDS_LAYER, make_explainer
from audit.quality._common import (
    QualityResult,
    baseline_like,
    plain,
    quantiles,
    resolve_classes,
    validate_inputs,
)
from audit.schema import Check
from audit.target import AuditTarget

BAD_STEPS = ("start_steps={start} and max_steps={max} are invalid. "
             "Fix: pass integers with 1 <= start_steps <= max_steps.")
BAD_FRACTION = "{what}={value!r} is outside (0, 1]. Fix: pass a fraction such as 0.05 or 0.95."

# Floor on |F(x) - F(path start)|: 1% of the mean change over the evaluated
# samples (and never below 1e-6). A sample the model scores almost the same as
# the baseline (a sentiment review with logit 0.007 vs 0.003 at the baseline)
# would otherwise be judged by float32 summation noise divided by ~0.01.
MIN_DELTA = 1e-6
FLOOR_SHARE = 0.01


def ig_completeness(audit_target: AuditTarget, inputs: torch.Tensor,
                    target: int | Sequence[int] | torch.Tensor | None = None, *, start_steps: int = 16,
                    max_steps: int = 512, tol: float = 0.05, share: float = 0.95,
                    batch_size: int = 64) -> QualityResult:
    """Raise IG's step count until its attributions add up to the logit difference.

    The step count doubles from ``start_steps`` until at least ``share`` of the
    samples have a relative completeness error of at most ``tol``, or until
    ``max_steps``; each doubling recomputes every sample, so the returned
    ``attributions`` all use the final step count and are exactly the ones
    judged (a run publishes them as its IG attributions). The relative error
    of a sample is ``|sum(attr) - (F(x) - F(s))| / max(|F(x) - F(s)|, floor)``
    with ``floor`` 1% of the mean ``|F(x) - F(s)|`` over the samples, ``F`` the
    target-class logit and ``s`` the start of IG's path: the baseline for
    images and tabular rows. For text, IG runs on the embedding layer, so the
    path starts at the real token ids with the embedding layer's output
    replaced by the embedding of the baseline ids (the padding mask stays that
    of the real text, unlike a forward pass on the baseline ids).

    Parameters
    ----------
    audit_target : AuditTarget
        The model and its baseline (and embedding layer for text).
    inputs : Tensor
        Model-ready inputs, first dimension = samples.
    target : int, sequence of int, Tensor or None
        Class to explain per input; None explains the predicted class.
    start_steps, max_steps : int
        First and largest IG step count.
    tol : float
        Largest relative error that counts as complete.
    share : float
        Share of samples that must be within ``tol``; also the check's threshold.
    batch_size : int
        Inputs per IG chunk.

    Returns
    -------
    QualityResult
        Summary: ``n_steps``, ``steps_tried`` (step count and share within
        ``tol`` of each try), ``share_within_tol``, relative-error
        median/p95/mean. Table ``errors``: one row per sample. Check
        ``completeness_ig``: share within ``tol`` >= ``share``.

    Examples
    --------
    >>> from audit.testing import linear_target
    >>> t = linear_target()
    >>> ig_completeness(t, t.eval_data.inputs[:8]).checks[0].passed
    True
    """
    if not (isinstance(start_steps, int) and isinstance(max_steps, int) and 1 <= start_steps <= max_steps):
        raise ValueError(BAD_STEPS.format(start=start_steps, max=max_steps))
    for what, value in (("tol", tol), ("share", share)):
        if not 0 < value <= 1:
            raise ValueError(BAD_FRACTION.format(what=what, value=value))
    validate_inputs(audit_target, inputs)
    classes = resolve_classes(audit_target, inputs, target)
    logit = _picked(audit_target.logits(inputs, batch_size=batch_size), classes)
    start = _picked(_path_start_logits(audit_target, inputs, batch_size=batch_size), classes)
    delta = logit - start
    explainer = make_explainer("integrated_gradients", audit_target, batch_size=batch_size)

    floor = max(MIN_DELTA, FLOOR_SHARE * float(np.mean(np.abs(delta))))
    tried: list[dict[str, float]] = []
    n_steps = start_steps
    while True:
        attr = explainer.attribute(inputs, target=classes, n_steps=n_steps)
        total = attr.reshape(len(attr), -1).double().sum(1).numpy()
        abs_err = np.abs(total - delta)
        rel_err = abs_err / np.maximum(np.abs(delta), floor)
        within = float(np.mean(rel_err <= tol))
        tried.append({"n_steps": n_steps, "share_within_tol": within})
        if within >= share or n_steps >= max_steps:
            break
        n_steps = min(2 * n_steps, max_steps)

    stats = quantiles(rel_err)
    summary = {"n_steps": n_steps, "delta_floor": floor, "converged": within >= share, "steps_tried": tried, "tol": tol,
               "share_required": share, "share_within_tol": within, "n_samples": len(inputs),
               "median_relative_error": stats["median"], "p95_relative_error": stats["p95"],
               "mean_relative_error": stats["mean"]}
    errors = pd.DataFrame({"sample": np.arange(len(inputs)), "target": classes.numpy(), "logit": logit,
                           "path_start_logit": start, "attribution_sum": total, "abs_error": abs_err,
                           "relative_error": rel_err, "n_steps": n_steps})
    check = Check("completeness_ig",
                  f"Integrated Gradients completeness: share of samples whose attributions sum to "
                  f"F(x) - F(baseline) within {tol:.0%} (n_steps={n_steps})",
                  within, share, ">=",
                  note="" if within >= share else f"not reached at max_steps={max_steps}",
                  family="completeness_ig", method="integrated_gradients", policy_key="completeness_share_min",
                  params={"n_steps": int(n_steps), "tolerance": float(tol), "max_steps": int(max_steps)})
    return QualityResult("completeness", plain(summary), {"errors": errors}, [check], attributions=attr)


def _picked(logits: torch.Tensor, classes: torch.Tensor) -> np.ndarray:
    return logits.double().gather(1, classes[:, None]).squeeze(1).numpy()


def _path_start_logits(audit_target: AuditTarget, inputs: torch.Tensor, *, batch_size: int) -> torch.Tensor:
    """Logits at the start of IG's path (see :func:`ig_completeness` for text)."""
    base = baseline_like(audit_target, inputs)
    if audit_target.domain != "nlp":
        return audit_target.logits(base, batch_size=batch_size)
    if not audit_target.embedding_layer:
        raise ValueError(NEEDS_LAYER.format(name="integrated_gradients", what="embedding_layer",
                                            target=audit_target.name))
    layer = audit_target.submodule(audit_target.embedding_layer)
    model, device = audit_target.model, audit_target.device
    model.eval()
    out = []
    with torch.no_grad():
        for lo in range(0, len(inputs), batch_size):
            # Computed before the hook exists: calling the layer inside its own
            # hook would recurse.
            replacement = layer(base[lo:lo + batch_size].to(device))
            handle = layer.register_forward_hook(lambda _m, _i, _o, r=replacement: r)
            try:
                out.append(model(inputs[lo:lo + batch_size].to(device)).float().cpu())
            finally:
                handle.remove()
    return torch.cat(out)
