"""Infidelity and max-sensitivity (Yeh et al. 2019), via ``captum.metrics``.

Both are made unit-free so that one threshold means the same on every model:

- *Relative infidelity*: captum's infidelity with ``normalize=True`` (the
  explanation rescaled by its best factor) divided by the infidelity of an
  all-zero explanation on the same perturbations, ``E[(f(x) - f(x - I))^2]``.
  It equals ``1 - cos^2`` between the vectors ``(I_k . attr)_k`` and
  ``(f(x) - f(x - I_k))_k`` over the perturbations ``I_k``: 0 when the
  explanation predicts every output change (up to scale), 1 when it predicts
  nothing.
- *Max-sensitivity*: the largest ``||attr(x + d) - attr(x)|| / ||attr(x)||``
  over perturbations ``d`` (captum's, already relative).

Noise is relative to the data's spread: ``scale`` is the per-feature standard
deviation of ``eval_data.inputs`` for tabular rows and the pixel standard
deviation over the whole data for images (a per-pixel one is zero on the
always-black border and would freeze it). Infidelity perturbs with
``I ~ N(0, (radius * scale)^2)``, max-sensitivity with
``d ~ U(-radius * scale, radius * scale)``.

An explanation unrelated to the model scores ``1 - 1/n_perturb`` on average
(the best rescaling of a random direction explains ``1/n`` of ``n`` output
changes): 0.89 measured for seeded Gaussian noise at ``n_perturb=10`` on
both models. The infidelity check therefore passes below
``0.8 * (1 - 1/n_perturb)`` (0.72 at the default): the explanation must do
clearly better than chance. Max-sensitivity passes at <= 0.5: a nudge of
``radius`` times the data's spread may change at most half the explanation
(noise explanations: 1.5).

Measured on 64 samples (``radius=0.1``, ``n_perturb=10``, seed 0), mean
relative infidelity / mean max-sensitivity:

=========  ====================  ===========  ================  ============
model      integrated_gradients  saliency     input_x_gradient  random noise
=========  ====================  ===========  ================  ============
mortgage   0.63 / 0.13           0.87 / 0.15  0.02 / 0.21       0.89 / 1.57
mnist_cnn  0.46 / 0.12           0.76 / 0.33  0.45 / 0.16       0.89 / 1.46
=========  ====================  ===========  ================  ============

Saliency (the *absolute* gradient) fails infidelity on both by design of the
metric: without signs it cannot say whether a perturbation raises or lowers
the output. It is stable, so it passes max-sensitivity.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

import deepaudit.audit.captum_import  # noqa: F401  first: captum's plotting module (matplotlib.pyplot) loads only if used

# isort: split
from captum.metrics import infidelity, sensitivity_max

from deepaudit.audit.capabilities import infer_kind
from deepaudit.audit.quality._common import (
    QualityResult,
    baseline_like,
    plain,
    quantiles,
    resolve_classes,
    validate_inputs,
)
from deepaudit.audit.quality.coverage import NOT_APPLICABLE_TEXT
from deepaudit.audit.schema import Check
from deepaudit.audit.target import AuditTarget

BAD_RADIUS = "radius={value!r} must be a positive number (a fraction of the data's spread). Fix: pass e.g. 0.1."
BAD_PERTURB = ("n_perturb={value!r} must be an integer >= 2 (one perturbation fits any explanation). "
               "Fix: pass e.g. 10.")

# Methods whose attributions are (x - reference) times a slope, and their reference. Expected gradients (SHAP,
# GradientSHAP) average (x - b) times a slope over background rows b, so their reference is the mean of the
# explainer's background sample: mortgage, 8 samples, relative infidelity of shap 0.51 with it, 0.86 when read
# as a slope (no reference), 0.75 with the target's baseline; integrated_gradients 0.56.
MULTIPLIED_BY_INPUTS = {"integrated_gradients": "baseline", "deeplift": "baseline", "occlusion": "baseline",
                        "input_x_gradient": "zero", "shap": "background", "gradient_shap": "background"}

# Fraction of the chance level (1 - 1/n_perturb) below which infidelity passes.
INFIDELITY_FRACTION_OF_CHANCE = 0.8
SENSITIVITY_THRESHOLD = 0.5
MAX_EXAMPLES_PER_BATCH = 256
# A spread this small means the feature is constant; noise is not added there.
MIN_SCALE = 1e-12


def infidelity_and_sensitivity(audit_target: AuditTarget, explainer: Any, inputs: torch.Tensor,
                               target: int | Sequence[int] | torch.Tensor | None = None, *, n_perturb: int = 10,
                               radius: float = 0.1, seed: int = 0,
                               multiply_by_inputs: bool | None = None) -> QualityResult:
    """Relative infidelity and max-sensitivity of ``explainer`` on ``inputs``.

    Parameters
    ----------
    audit_target : AuditTarget
        The model and its evaluation data (which sets the noise scale).
    explainer : object
        Has ``.attribute(inputs, target=classes)`` returning a tensor shaped
        like ``inputs`` (an :class:`deepaudit.audit.explain.base.Explainer`); its
        ``name`` attribute, if any, names the checks.
    inputs : Tensor
        Model-ready continuous inputs, first dimension = samples.
    target : int, sequence of int, Tensor or None
        Class per input; None uses the predicted class.
    n_perturb : int
        Perturbations per input for each metric.
    radius : float
        Noise size as a fraction of the data's spread (see the module docstring).
    seed : int
        Seeds the perturbations; repeated calls give identical numbers.
    multiply_by_inputs : bool, optional
        Whether the attributions are scaled by ``x - reference`` (IG,
        DeepLift, occlusion: the target's baseline; input x gradient: zero;
        SHAP and GradientSHAP: the mean of the explainer's background sample).
        Then infidelity weighs the perturbation by ``I / (x - reference)``
        (captum's ``infidelity_perturb_func_decorator`` convention), so that
        the comparison is with the slope the method implies. None: inferred
        from the method's name (:data:`MULTIPLIED_BY_INPUTS`).

    Returns
    -------
    QualityResult
        Summary: ``relative_infidelity`` and ``max_sensitivity`` (mean, median,
        p95 over samples), ``noise_scale``. Table ``per_sample``. Checks
        ``infidelity_<method>`` (mean <= 0.8 x chance level) and
        ``max_sensitivity_<method>`` (mean <= 0.5). Text targets: summary ``{"applicable": False, "reason": ...}``,
        no checks.
    """
    method = str(getattr(explainer, "name", "") or type(explainer).__name__).lower()
    if infer_kind(audit_target) == "text" or not inputs.is_floating_point():
        return QualityResult("robustness", {"applicable": False, "reason": NOT_APPLICABLE_TEXT, "method": method})
    if not isinstance(radius, (int, float)) or not radius > 0:
        raise ValueError(BAD_RADIUS.format(value=radius))
    if not isinstance(n_perturb, int) or n_perturb < 2:
        raise ValueError(BAD_PERTURB.format(value=n_perturb))
    validate_inputs(audit_target, inputs)
    classes = resolve_classes(audit_target, inputs, target)
    device = audit_target.device
    x = inputs.detach().float().to(device)
    y = classes.to(device)
    scale = _noise_scale(audit_target.eval_data.inputs, x).to(device)
    std = radius * scale

    if multiply_by_inputs is None:
        multiply_by_inputs = method in MULTIPLIED_BY_INPUTS
    reference, reference_kind = None, None
    if multiply_by_inputs:
        reference_kind = MULTIPLIED_BY_INPUTS.get(method, "baseline")
        if reference_kind == "zero":
            reference = torch.zeros_like(x[:1])
        elif reference_kind == "background" and callable(getattr(explainer, "background", None)):
            reference = _background_mean(explainer, x)
        else:
            reference_kind = "baseline"
            reference = baseline_like(audit_target, x[:1])

    def perturb_gaussian(inp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Drawn from the CPU generator (seeded below), then moved: the same perturbations on every device.
        noise = torch.randn(inp.shape, dtype=inp.dtype).to(inp.device) * std
        if reference is None:
            return noise, inp - noise
        # Where x equals the reference the attribution is 0 whatever the weight.
        d = inp - reference
        return torch.where(d != 0, noise / torch.where(d != 0, d, 1.0), 0.0), inp - noise

    def perturb_uniform(inp: torch.Tensor) -> torch.Tensor:
        return inp + (2 * torch.rand(inp.shape, dtype=inp.dtype).to(inp.device) - 1) * std

    def explain(inp: torch.Tensor | tuple[torch.Tensor], target: torch.Tensor) -> tuple[torch.Tensor]:
        # captum passes and (for sensitivity_max's reference explanation) expects its tuple form.
        inp = inp[0] if isinstance(inp, tuple) else inp
        return (explainer.attribute(inp, target=target).to(device),)

    model = audit_target.model
    model.eval()
    with warnings.catch_warnings():
        # captum warns on every call that inputs did not require gradients.
        warnings.simplefilter("ignore", UserWarning)
        torch.manual_seed(seed)
        (attr,) = explain(x, y)
        with torch.no_grad():
            torch.manual_seed(seed)
            infid = infidelity(model, perturb_gaussian, x, attr, target=y, n_perturb_samples=n_perturb,
                               max_examples_per_batch=MAX_EXAMPLES_PER_BATCH, normalize=True)
            # Same seed, same perturbations: the all-zero explanation's infidelity.
            torch.manual_seed(seed)
            zero = infidelity(model, perturb_gaussian, x, torch.zeros_like(attr), target=y,
                              n_perturb_samples=n_perturb, max_examples_per_batch=MAX_EXAMPLES_PER_BATCH)
        torch.manual_seed(seed)
        sens = sensitivity_max(explain, x, perturb_func=perturb_uniform, n_perturb_samples=n_perturb,
                               max_examples_per_batch=MAX_EXAMPLES_PER_BATCH, target=y)
    infid, zero, sens = (t.detach().double().cpu().numpy() for t in (infid, zero, sens))
    # A model flat under the noise gives 0/0: nothing to explain, so no infidelity.
    rel = np.where(zero > 0, infid / np.maximum(zero, 1e-300), 0.0)

    rel_stats, sens_stats = quantiles(rel), quantiles(sens)
    chance = 1 - 1 / n_perturb
    summary = {"applicable": True, "method": method, "multiply_by_inputs": bool(multiply_by_inputs),
               "reference": reference_kind,
               "n_samples": len(x), "n_perturb": n_perturb,
               "radius": float(radius), "seed": seed, "noise_scale": float(scale.mean()),
               "relative_infidelity": rel_stats, "chance_relative_infidelity": chance,
               "max_sensitivity": sens_stats}
    table = pd.DataFrame({"sample": np.arange(len(x)), "target": classes.numpy(), "relative_infidelity": rel,
                          "infidelity": infid, "zero_explanation_infidelity": zero, "max_sensitivity": sens})
    checks = [
        Check(f"infidelity_{method}",
              f"{method}: mean relative infidelity (captum infidelity, normalised, / that of an all-zero "
              f"explanation) under N(0, ({radius} x data spread)^2) noise; 0 = explains every change",
              rel_stats["mean"], INFIDELITY_FRACTION_OF_CHANCE * chance, "<=",
              note=f"an explanation unrelated to the model scores about {chance:.2f}", family="infidelity",
              method=method, subject=method, policy_key="infidelity_max",
              params={"radius": float(radius), "n_perturb": int(n_perturb), "chance": float(chance)}),
        Check(f"max_sensitivity_{method}",
              f"{method}: mean max-sensitivity ||attr(x+d) - attr(x)|| / ||attr(x)|| for |d| <= {radius} x "
              f"data spread", sens_stats["mean"], SENSITIVITY_THRESHOLD, "<=", family="max_sensitivity",
              method=method, subject=method, policy_key="max_sensitivity_max",
              params={"radius": float(radius), "n_perturb": int(n_perturb)}),
    ]
    return QualityResult("robustness", plain(summary), {"per_sample": table}, checks)


def _background_mean(explainer: Any, like: torch.Tensor) -> torch.Tensor:
    """Mean of the background rows an expected-gradients explainer draws from, shaped like one input."""
    from deepaudit.audit.quality.completeness import _option

    n = int(_option(explainer, "n_background", 32))
    return explainer.background(n, like.device).float().mean(0, keepdim=True).to(like.device)


def _noise_scale(data: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Noise scale broadcastable to one input: per-feature std (tabular) or one pixel std (images)."""
    if hasattr(data, "std") and hasattr(data, "batches"):       # a RowSource: statistics read in batches
        s = data.std(per_feature=data.dim() < 3)
        s = s.reshape([1] * (like.dim() - 1)) if data.dim() >= 3 else s
        return torch.where(s > MIN_SCALE, s, torch.zeros_like(s))
    data = data.detach().float().cpu()
    if data.dim() >= 3:
        s = data.std().reshape([1] * (like.dim() - 1))
    else:
        s = data.std(0)
    return torch.where(s > MIN_SCALE, s, torch.zeros_like(s))
