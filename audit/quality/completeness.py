"""Completeness: attributions that add up to the change in the explained logit.

Integrated Gradients (Sundararajan et al. 2017): IG's attributions of one input
sum to ``F(x) - F(path start)``, where ``F`` is the explained class's logit, up
to the error of the path integral's quadrature. A large relative error means
too few steps (or a model whose gradients the quadrature cannot follow), so the
attributions should not be read as a decomposition of the prediction
(:func:`ig_completeness`, which also picks the step count).

Other methods with a completeness identity (:func:`attribution_completeness`,
:data:`COMPLETENESS_IDENTITIES`):

- DeepLIFT, rescale rule (Shrikumar et al. 2017): summation-to-delta,
  ``sum(attr) = F(x) - F(baseline)`` exactly where the rule covers every
  nonlinearity (ReLU, sigmoid, tanh modules; max-pooling approximately, about
  0.1% on mnist_cnn). A failure means the model holds operations DeepLIFT's
  rules do not cover (functional calls, unsupported layers), so its numbers are
  gradients times inputs, not a decomposition.
- SHAP on images and rows (expected gradients) and GradientSHAP: Monte-Carlo
  estimators whose expectation is ``F(x) - mean_b F(b)`` over the explainer's
  background rows ``b`` (draws of ``b`` are uniform, so the expectation is the
  background's plain mean); GradientSHAP on text: ``F(x) - F(path start)`` as
  IG's. One explanation averages ``K`` draws, so its sum misses the identity
  by a Monte-Carlo error of standard deviation ``SE = sd(draw) / sqrt(K)``.
  ``SE`` is estimated from ``K`` fresh draws per sample (seeded, independent of
  the published ones) and a sample is within tolerance when
  ``|error| <= tol * max(|delta|, floor) + z * SE`` (``z = 4``: a correct
  estimator leaves this band for well under 1% of samples, so one sample out
  of a 16-sample subset fails the default 95% requirement only rarely, while
  an attribution that does not estimate the identity leaves it on every
  sample whose ``|delta|`` is a few ``SE``).
- SHAP on text (shap's partition explainer, Owen values): efficiency,
  ``sum(attr) = F(x) - F(every token masked)`` exactly; masked tokens are
  removed, so the reference is the empty text.

Methods without one (:data:`COMPLETENESS_UNDEFINED`) are reported as not
applicable, with the reason.
"""
from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from deepaudit.audit.capabilities import infer_kind
from deepaudit.audit.explain.base import MAX_BATCH_ELEMENTS, NEEDS_LAYER, make_explainer
from deepaudit.audit.quality._common import (
    QualityResult,
    baseline_like,
    plain,
    quantiles,
    resolve_classes,
    validate_attributions,
    validate_inputs,
)
from deepaudit.audit.quality.coverage import COMPLETENESS_UNDEFINED  # noqa: F401  re-exported
from deepaudit.audit.schema import Check
from deepaudit.audit.target import AuditTarget
from deepaudit.audit.tokenizer import PAD_ID

BAD_STEPS = ("start_steps={start} and max_steps={max} are invalid. "
             "Fix: pass integers with 1 <= start_steps <= max_steps.")
BAD_FRACTION = "{what}={value!r} is outside (0, 1]. Fix: pass a fraction such as 0.05 or 0.95."

# Floor on |F(x) - F(path start)|: 1% of the mean change over the evaluated
# samples (and never below 1e-6). A sample the model scores almost the same as
# the baseline (a sentiment review with logit 0.007 vs 0.003 at the baseline)
# would otherwise be judged by float32 summation noise divided by ~0.01.
MIN_DELTA = 1e-6
FLOOR_SHARE = 0.01
# Tolerance of completeness: relative to |F(x) - F(reference)| (IG's quadrature, float rounding) and, for
# Monte-Carlo estimators, in standard errors of the estimate (see the module docstring).
TOLERANCE = 0.05
ESTIMATOR_Z = 4.0

#: What each method's attributions sum to (``F`` = the explained class's logit): images and rows, then text.
COMPLETENESS_IDENTITIES = {
    "integrated_gradients": ("sum = F(x) - F(baseline), up to the quadrature error of the path integral",
                             "sum = F(x) - F(padding embeddings), up to the quadrature error of the path integral"),
    "deeplift": ("sum = F(x) - F(baseline) exactly (summation-to-delta of the rescale rule)",) * 2,
    "shap": ("sum = F(x) - mean F(background) in expectation (expected gradients, a Monte-Carlo estimate)",
             "sum = F(x) - F(empty text) exactly (efficiency of the partition explainer's Owen values)"),
    "gradient_shap": ("sum = F(x) - mean F(background) in expectation (a Monte-Carlo estimate)",
                      "sum = F(x) - F(padding embeddings) in expectation (a Monte-Carlo estimate)"),
}
UNKNOWN_IDENTITY = ("Completeness is not checked for {method}: deepaudit knows no completeness identity for this "
                    "method, so there is no total its attributions must reach")
NOISY_INPUTS = ("Completeness is not checked for GradientSHAP with stdevs={stdevs}: its attributions explain "
                "F at noisy copies of x, so their sum has no identity in F(x)")
NO_IDENTITY = ("method {method!r} has no completeness identity. Fix: check a method of {known} "
               "(deepaudit.audit.quality.completeness.completeness_not_applicable says why another does not apply).")


def ig_completeness(audit_target: AuditTarget, inputs: torch.Tensor,
                    target: int | Sequence[int] | torch.Tensor | None = None, *, start_steps: int = 16,
                    max_steps: int = 512, tol: float = 0.05, share: float = 0.95,
                    batch_size: int = 64,
                    attribute: Callable[..., torch.Tensor] | None = None) -> QualityResult:
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
    attribute : callable, optional
        ``attribute(explainer, inputs, classes, n_steps=...)`` instead of ``explainer.attribute`` (a run's
        executor, :mod:`deepaudit.audit.executor`, spreads the chunks over workers).

    Returns
    -------
    QualityResult
        Summary: ``n_steps``, ``steps_tried`` (step count and share within
        ``tol`` of each try), ``share_within_tol``, relative-error
        median/p95/mean. Table ``errors``: one row per sample. Check
        ``completeness_ig``: share within ``tol`` >= ``share``.

    Examples
    --------
    >>> from deepaudit.audit.testing import linear_target
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
        attr = explainer.attribute(inputs, target=classes, n_steps=n_steps) if attribute is None else \
            attribute(explainer, inputs, classes, n_steps=n_steps)
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
                  family="completeness_ig", method="integrated_gradients", subject="integrated_gradients",
                  policy_key="completeness_share_min",
                  params={"n_steps": int(n_steps), "tolerance": float(tol), "max_steps": int(max_steps)})
    return QualityResult("completeness", plain(summary), {"errors": errors}, [check], attributions=attr)


def _picked(logits: torch.Tensor, classes: torch.Tensor) -> np.ndarray:
    return logits.double().gather(1, classes[:, None]).squeeze(1).numpy()


def _path_start_logits(audit_target: AuditTarget, inputs: torch.Tensor, *, batch_size: int) -> torch.Tensor:
    """Logits at the start of IG's path (see :func:`ig_completeness` for text)."""
    base = baseline_like(audit_target, inputs)
    if infer_kind(audit_target) != "text":
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


def completeness_not_applicable(method: str, audit_target: AuditTarget, explainer: Any = None) -> str | None:
    """Why ``method``'s attributions have no completeness identity to check here, or None when they have one."""
    if method in COMPLETENESS_UNDEFINED:
        return COMPLETENESS_UNDEFINED[method]
    if method not in COMPLETENESS_IDENTITIES:
        return UNKNOWN_IDENTITY.format(method=method)
    if method == "gradient_shap" and explainer is not None and infer_kind(audit_target) != "text":
        stdevs = _option(explainer, "stdevs", None)
        if stdevs:
            return NOISY_INPUTS.format(stdevs=stdevs)
    return None


def attribution_completeness(audit_target: AuditTarget, method: str, inputs: torch.Tensor,
                             attributions: torch.Tensor, target: int | Sequence[int] | torch.Tensor | None = None,
                             *, explainer: Any = None, tol: float = TOLERANCE, share: float = 0.95,
                             z: float = ESTIMATOR_Z, seed: int = 0, batch_size: int = 64) -> QualityResult:
    """Completeness of published DeepLIFT, SHAP or GradientSHAP attributions (see the module docstring).

    Judges the given ``attributions`` (they are not recomputed): per sample the
    error ``sum(attr) - (F(x) - F(reference))`` against the tolerance
    ``tol * max(|delta|, floor) + z * SE``, with ``floor`` as in
    :func:`ig_completeness` and ``SE`` the Monte-Carlo standard error of an
    estimator's sum (0 for the exact identities of DeepLIFT and text SHAP).

    Parameters
    ----------
    audit_target : AuditTarget
        The model and its baseline (and tokenizer / embedding layer for text).
    method : str
        ``deeplift``, ``shap`` or ``gradient_shap`` (:data:`COMPLETENESS_IDENTITIES`).
    inputs : Tensor
        Model-ready inputs, first dimension = samples.
    attributions : Tensor
        The method's attributions of ``inputs`` for ``target``.
    target : int, sequence of int, Tensor or None
        Class per input; None uses the predicted class.
    explainer : Explainer, optional
        The explainer that produced the attributions (SHAP and GradientSHAP: its
        background sample, draw count and options); default ``make_explainer(method, audit_target, seed=seed)``.
    tol : float
        Relative tolerance, as IG's.
    share : float
        Share of samples that must be within tolerance; the check's threshold.
    z : float
        Standard errors an estimator's sum may miss the identity by.
    seed : int
        Seeds the fresh draws that estimate ``SE``.
    batch_size : int
        Inputs per forward pass.

    Returns
    -------
    QualityResult
        ``name`` ``"completeness"``; summary ``method``, ``identity``,
        ``estimator`` (bool), ``n_draws``, ``z``, ``tol``, ``share_required``,
        ``share_within_tol``, relative-error median/p95/mean and the median
        relative standard error. Table ``errors``: one row per sample
        (``logit``, ``reference_logit``, ``attribution_sum``, ``abs_error``,
        ``standard_error``, ``allowed_error``, ``relative_error``, ``within``).
        Check ``completeness_<method>`` (family ``completeness``): share within
        tolerance >= ``share``.

    Examples
    --------
    >>> from deepaudit.audit.testing import linear_target
    >>> from deepaudit.audit.explain import make_explainer
    >>> t = linear_target()
    >>> x = t.eval_data.inputs[:8]
    >>> a = make_explainer("deeplift", t).attribute(x, target=1)
    >>> attribution_completeness(t, "deeplift", x, a, 1).checks[0].passed
    True
    """
    if method not in COMPLETENESS_IDENTITIES or method == "integrated_gradients":
        known = sorted(set(COMPLETENESS_IDENTITIES) - {"integrated_gradients"})
        raise ValueError(NO_IDENTITY.format(method=method, known=known))
    for what, value in (("tol", tol), ("share", share)):
        if not 0 < value <= 1:
            raise ValueError(BAD_FRACTION.format(what=what, value=value))
    validate_inputs(audit_target, inputs)
    attributions = validate_attributions(attributions, inputs)
    classes = resolve_classes(audit_target, inputs, target)
    explainer = explainer if explainer is not None else make_explainer(method, audit_target, seed=seed)
    is_text = infer_kind(audit_target) == "text"
    logit = _picked(audit_target.logits(inputs, batch_size=batch_size), classes)
    n = len(inputs)
    draws: np.ndarray | None = None
    if method == "deeplift":
        # captum's DeepLift and LayerDeepLift both take the model's output on the baseline inputs as reference.
        reference = _picked(audit_target.logits(baseline_like(audit_target, inputs), batch_size=batch_size), classes)
        ref_text = "F(baseline)"
    elif method == "shap" and is_text and getattr(audit_target.tokenizer, "mask_token", None):
        # Every token replaced by the tokenizer's mask token (what shap's masker does with such a tokenizer).
        tok = audit_target.tokenizer
        masked = torch.where(inputs != PAD_ID, torch.as_tensor(tok.stoi[tok.mask_token]), inputs)
        reference = _picked(audit_target.logits(masked, batch_size=batch_size), classes)
        ref_text = f"F(every token {tok.mask_token})"
    elif method == "shap" and is_text:
        empty = audit_target.tokenizer.encode([""])
        ref = audit_target.logits(empty, batch_size=batch_size).double()[0]
        reference = ref[classes].numpy()
        ref_text = "F(empty text)"
    elif is_text:  # gradient_shap on text: the path starts at the padding embeddings, as IG's
        reference = _picked(_path_start_logits(audit_target, inputs, batch_size=batch_size), classes)
        draws = _single_draw_sums(explainer, inputs, classes, int(_option(explainer, "n_samples", 25)), seed)
        ref_text = "F(padding embeddings)"
    else:
        k = int(_option(explainer, "n_samples", type(explainer).default_passes))
        background = explainer.background(int(_option(explainer, "n_background", 32)), torch.device("cpu"))
        fb = audit_target.logits(background, batch_size=batch_size).double()
        reference = fb[:, classes].mean(0).numpy()
        draws = _expected_gradient_draws(audit_target, inputs, classes, background, k, seed)
        ref_text = f"mean F(background) over {len(background)} rows"
    delta = logit - reference
    total = attributions.reshape(n, -1).double().sum(1).numpy()
    if draws is not None:
        n_draws = draws.shape[1]
        se = draws.std(1, ddof=1) / np.sqrt(n_draws) if n_draws > 1 else np.zeros(n)
    else:
        n_draws, se = 0, np.zeros(n)
    floor = max(MIN_DELTA, FLOOR_SHARE * float(np.mean(np.abs(delta))))
    scale = np.maximum(np.abs(delta), floor)
    abs_err = np.abs(total - delta)
    allowed = tol * scale + z * se
    within = abs_err <= allowed
    rel_err = abs_err / scale
    share_within = float(np.mean(within))
    stats = quantiles(rel_err)
    estimator = draws is not None
    summary = {"method": method, "identity": COMPLETENESS_IDENTITIES[method][int(is_text)], "reference": ref_text,
               "estimator": estimator, "n_draws": int(n_draws), "z": float(z) if estimator else None,
               "tol": tol, "delta_floor": floor, "share_required": share, "share_within_tol": share_within,
               "n_samples": n, "median_relative_error": stats["median"], "p95_relative_error": stats["p95"],
               "mean_relative_error": stats["mean"],
               "median_relative_standard_error": float(np.median(se / scale)) if estimator else 0.0}
    errors = pd.DataFrame({"sample": np.arange(n), "target": classes.numpy(), "logit": logit,
                           "reference_logit": reference, "attribution_sum": total, "abs_error": abs_err,
                           "standard_error": se, "allowed_error": allowed, "relative_error": rel_err,
                           "within": within})
    rule = (f"within {tol:.0%} of |F(x) - {ref_text}| + {z:g} Monte-Carlo standard errors ({n_draws} draws)"
            if estimator else f"within {tol:.0%}")
    label = getattr(explainer, "label", "") or method
    check = Check(f"completeness_{method}",
                  f"{label} completeness: share of samples whose attributions sum to F(x) - {ref_text} {rule}",
                  share_within, share, ">=", family="completeness", subject=method, method=method,
                  policy_key="completeness_share_min",
                  params={"tolerance": float(tol), "z": float(z) if estimator else None, "n_draws": int(n_draws),
                          "reference": ref_text})
    return QualityResult("completeness", plain(summary), {"errors": errors}, [check])


def _option(explainer: Any, name: str, default: Any) -> Any:
    """The explainer's value of option ``name``: set on it, else its ``_attribute``'s default."""
    options = getattr(explainer, "options", {}) or {}
    if name in options:
        return options[name]
    attribute = getattr(type(explainer), "_attribute", None)
    param = inspect.signature(attribute).parameters.get(name) if attribute is not None else None
    if param is not None and param.default is not inspect.Parameter.empty:
        return param.default
    return default


def _expected_gradient_draws(audit_target: AuditTarget, inputs: torch.Tensor, classes: torch.Tensor,
                             background: torch.Tensor, k: int, seed: int) -> np.ndarray:
    """(N, k) single-draw estimates ``grad F(b + t (x - b)) . (x - b)``, ``b`` uniform over ``background``,
    ``t ~ U(0, 1)``: the terms whose mean is an expected-gradients sum (drawn afresh, seeded)."""
    g = torch.Generator().manual_seed(int(seed) % (2 ** 63))
    n = len(inputs)
    index = torch.randint(len(background), (n, k), generator=g)
    alphas = torch.rand(n, k, generator=g)
    model, device = audit_target.model, audit_target.device
    model.eval()
    per_sample = max(1, inputs[0].numel())
    chunk = max(1, MAX_BATCH_ELEMENTS // (per_sample * k))
    out = np.empty((n, k))
    for lo in range(0, n, chunk):
        x = inputs[lo:lo + chunk].detach().float().to(device)
        c = len(x)
        base = background[index[lo:lo + chunk]].float().to(device)                    # (c, k, *shape)
        t = alphas[lo:lo + chunk].to(device).view((c, k) + (1,) * (x.dim() - 1))
        diff = x.unsqueeze(1) - base
        points = (base + t * diff).reshape((-1,) + tuple(x.shape[1:])).detach()
        with torch.enable_grad():
            points.requires_grad_(True)
            picked = model(points).gather(1, classes[lo:lo + chunk].to(device).repeat_interleave(k)[:, None]).sum()
            (grad,) = torch.autograd.grad(picked, points)
        out[lo:lo + c] = (grad.reshape(c, k, -1).double() * diff.reshape(c, k, -1).double()).sum(-1).cpu().numpy()
    return out


def _single_draw_sums(explainer: Any, inputs: torch.Tensor, classes: torch.Tensor, k: int, seed: int) -> np.ndarray:
    """(N, k) attribution sums of ``k`` one-draw explanations with fresh seeds (the method's own code draws)."""
    cls = type(explainer)
    options = {**getattr(explainer, "options", {}), "n_samples": 1}
    out = np.empty((len(inputs), k))
    for j in range(k):
        # Seeds far apart: each call seeds its chunks with seed + chunk start.
        one = cls(explainer.audit_target, batch_size=explainer.batch_size, seed=seed + (j + 1) * 1_000_003, **options)
        out[:, j] = one.attribute(inputs, target=classes).reshape(len(inputs), -1).double().sum(1).numpy()
    return out
