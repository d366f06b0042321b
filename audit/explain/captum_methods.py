"""Adapters over captum's gradient and perturbation methods.

Continuous inputs (images, tabular rows) are attributed directly. Token-id
inputs cannot be differentiated, so text methods run on the embedding layer
(captum's ``Layer*`` variants) and the per-dimension attributions are reduced to
one number per token: summed for IG, DeepLift, GradientSHAP and
input x gradient (so that completeness still holds), the L2 norm of the
gradient for saliency. Occlusion on text removes windows of tokens (replaces
them with padding). GradientSHAP is computed here with local generators (captum's
draws from the global numpy and torch RNGs).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

import deepaudit.audit.captum_import  # noqa: F401  first: captum's plotting module (matplotlib.pyplot) loads only if used

# isort: split
from captum.attr import (
    DeepLift,
    FeatureAblation,
    InputXGradient,
    IntegratedGradients,
    LayerAttribution,
    LayerDeepLift,
    LayerGradCam,
    LayerGradientXActivation,
    LayerIntegratedGradients,
    Occlusion,
    Saliency,
)

from deepaudit.audit.explain.base import Explainer, register_explainer
from deepaudit.audit.tokenizer import PAD_ID

BAD_WINDOW = "occlusion window {window!r} does not fit inputs of shape {shape}. Fix: pass a smaller window."


def _sum_embedding(a: torch.Tensor) -> torch.Tensor:
    return a.sum(dim=-1)


class _SummedTarget(torch.nn.Module):
    """Sum over the batch of each row's target logit, as a 1-element tensor.

    Samples are independent in eval mode, so the gradient of the sum is every
    sample's own gradient; captum then takes one backward pass instead of
    unbinding the output into one scalar per path point (which costs Python
    time per row and dominated IG on small models).
    """

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.model(x).gather(1, target[:, None]).sum().reshape(1)


@register_explainer
class IntegratedGradientsExplainer(Explainer):
    """Integrated Gradients (Sundararajan et al. 2017) along the straight path from the baseline.

    Options: ``n_steps`` (default 50), ``method`` (captum's quadrature, default
    ``gausslegendre``). Text: layer IG on the embedding layer from the padding
    embedding (zero vectors).
    """

    name = "integrated_gradients"
    label = "Integrated Gradients"
    needs_baseline = True
    has_convergence_delta = True
    passes_option = "n_steps"
    default_passes = 50

    def _attribute(self, x, y, *, n_steps: int = 50, method: str = "gausslegendre"):
        forward = _SummedTarget(self.audit_target.model)
        # The chunk is already bounded by chunk_size; one internal batch per chunk.
        kw = dict(baselines=self.baseline_like(x), additional_forward_args=(y,), n_steps=n_steps, method=method,
                  internal_batch_size=len(x) * n_steps)
        if self.is_text():
            lig = LayerIntegratedGradients(forward, self.layer("embedding_layer"))
            return _sum_embedding(lig.attribute(x, **kw))
        if method == "gausslegendre":
            return _integrated_gradients(forward, x, y, self.baseline_like(x), n_steps)
        return IntegratedGradients(forward).attribute(x, **kw)


@lru_cache(maxsize=32)
def _gauss_legendre(n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes in [0, 1] and weights of n-point Gauss-Legendre quadrature (as captum maps them)."""
    roots, weights = np.polynomial.legendre.leggauss(n_steps)
    return 0.5 * (roots + 1.0), 0.5 * weights


def _integrated_gradients(forward: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, base: torch.Tensor,
                          n_steps: int) -> torch.Tensor:
    """IG with Gauss-Legendre quadrature in one batched forward/backward per chunk.

    The same computation as captum's ``IntegratedGradients(method="gausslegendre")``
    (the tests compare the two); done here because captum's per-call set-up
    (quadrature, input formatting, hooks) cost more than the passes themselves
    on small tabular models. Text keeps captum's layer IG.
    """
    nodes, weights = _gauss_legendre(n_steps)
    shape = (n_steps, 1) + (1,) * (x.dim() - 1)
    alphas = torch.as_tensor(nodes, dtype=x.dtype, device=x.device).view(shape)
    diff = x - base
    path = (base.unsqueeze(0) + alphas * diff.unsqueeze(0)).reshape((-1,) + tuple(x.shape[1:]))
    # Callers such as captum.metrics run explanations under no_grad.
    with torch.enable_grad():
        path.requires_grad_(True)
        (grad,) = torch.autograd.grad(forward(path, y.repeat(n_steps)), path)
    w = torch.as_tensor(weights, dtype=x.dtype, device=x.device).view(shape)
    return (grad.view((n_steps,) + tuple(x.shape)) * w).sum(0) * diff


@register_explainer
class SaliencyExplainer(Explainer):
    """Absolute gradient of the class logit (Simonyan et al. 2014); text: L2 norm per token."""

    name = "saliency"
    label = "Saliency"
    signed = False

    def _attribute(self, x, y):
        model = self.audit_target.model
        if self.is_text():
            g = LayerGradientXActivation(model, self.layer("embedding_layer"), multiply_by_inputs=False)
            return g.attribute(x, target=y).norm(dim=-1)
        return Saliency(model).attribute(x, target=y, abs=True)


@register_explainer
class InputXGradientExplainer(Explainer):
    """Input times gradient (Shrikumar et al. 2016); text: embedding x gradient summed per token."""

    name = "input_x_gradient"
    label = "Input × Gradient"

    def _attribute(self, x, y):
        model = self.audit_target.model
        if self.is_text():
            g = LayerGradientXActivation(model, self.layer("embedding_layer"), multiply_by_inputs=True)
            return _sum_embedding(g.attribute(x, target=y))
        return InputXGradient(model).attribute(x.clone().requires_grad_(True), target=y)


@register_explainer
class DeepLiftExplainer(Explainer):
    """DeepLift with the rescale rule (Shrikumar et al. 2017) against the target's baseline."""

    name = "deeplift"
    label = "DeepLIFT"
    needs_baseline = True
    has_convergence_delta = True

    def _attribute(self, x, y):
        model = self.audit_target.model
        if self.is_text():
            dl = LayerDeepLift(model, self.layer("embedding_layer"))
            return _sum_embedding(dl.attribute(x, baselines=self.baseline_like(x), target=y))
        return DeepLift(model).attribute(x, baselines=self.baseline_like(x), target=y)


@register_explainer
class GradientShapExplainer(Explainer):
    """GradientSHAP / expected gradients (Lundberg & Lee 2017; Erion et al. 2021).

    Each input gets ``n_samples`` (default 25) gradients at random points
    ``b + a (x' - b)`` between a baseline ``b`` drawn from a seeded sample of
    ``n_background`` evaluation inputs (default 32) and the input ``x'`` plus
    Gaussian noise of std ``stdevs`` (default 0); the attribution is the mean of
    gradient x ``(x' - b)``. Text: the same from the padding embedding along the
    embedding path. All draws come from generators seeded per chunk.
    """

    name = "gradient_shap"
    label = "GradientSHAP"
    needs_baseline = True
    stochastic = True
    passes_option = "n_samples"
    default_passes = 25

    def background(self, n_background: int, device: torch.device) -> torch.Tensor:
        """A seeded sample of ``n_background`` evaluation inputs (the same for every chunk)."""
        data = self.audit_target.eval_data.inputs
        idx = torch.randperm(len(data), generator=self.generator(self.seed))[:n_background]
        return data[idx].to(device)

    def _attribute(self, x, y, *, seed: int, n_samples: int = 25, stdevs: float | None = None,
                   n_background: int = 32):
        g = self.generator(seed)
        if self.is_text():
            return self._text(x, y, n_samples=n_samples, g=g)
        bg = self.background(n_background, x.device)
        n = len(x) * n_samples
        # Draw on the CPU in a fixed order, then move: the same numbers on any device.
        idx = torch.randint(len(bg), (n,), generator=g).to(x.device)
        shape = (n,) + (1,) * (x.dim() - 1)
        alphas = torch.rand(n, generator=g).to(device=x.device, dtype=x.dtype).view(shape)
        inp = x.repeat_interleave(n_samples, dim=0)
        if stdevs:
            inp = inp + (torch.randn(tuple(inp.shape), generator=g) * stdevs).to(device=x.device, dtype=x.dtype)
        base = bg[idx]
        path = (base + alphas * (inp - base)).detach()
        with torch.enable_grad():
            path.requires_grad_(True)
            out = _SummedTarget(self.audit_target.model)(path, y.repeat_interleave(n_samples))
            (grad,) = torch.autograd.grad(out, path)
        return (grad * (inp - base)).view((len(x), n_samples) + tuple(x.shape[1:])).mean(1)

    def _text(self, x: torch.Tensor, y: torch.Tensor, *, n_samples: int, g: torch.Generator) -> torch.Tensor:
        model = self.audit_target.model
        layer = self.layer("embedding_layer")
        alphas = torch.rand(len(x) * n_samples, generator=g).to(x.device)
        ids = x.repeat_interleave(n_samples, dim=0)
        with torch.no_grad():
            base = layer(self.baseline_like(x[:1]))
        saved: dict[str, torch.Tensor] = {}

        def hook(_module, _inputs, out):
            saved["out"] = out.detach()
            scaled = (base + alphas[:, None, None] * (out.detach() - base)).requires_grad_(True)
            saved["scaled"] = scaled
            return scaled

        handle = layer.register_forward_hook(hook)
        try:
            with torch.enable_grad():
                logits = model(ids)
                picked = logits.gather(1, y.repeat_interleave(n_samples)[:, None]).sum()
                (grad,) = torch.autograd.grad(picked, saved["scaled"])
        finally:
            handle.remove()
        attr = (grad * (saved["out"] - base)).sum(-1)
        return attr.view(len(x), n_samples, -1).mean(1)


@register_explainer
class OcclusionExplainer(Explainer):
    """Occlusion / feature ablation (Zeiler & Fergus 2014): drop in the class logit when a part is removed.

    Images: a sliding ``window`` (default 4x4, stride 2) replaced by the
    baseline. Tabular: each feature replaced by its baseline value (feature
    ablation). Text: windows of ``window`` tokens (default 1) replaced by padding.
    """

    name = "occlusion"
    label = "Occlusion"
    needs_baseline = True

    def _attribute(self, x, y, *, window: int | None = None, stride: int | None = None,
                   perturbations_per_eval: int = 32):
        model = self.audit_target.model
        base = self.baseline_like(x)
        if x.dim() >= 3:
            w = window or 4
            s = stride or max(1, w // 2)
            if w > min(x.shape[-2:]):
                raise ValueError(BAD_WINDOW.format(window=w, shape=tuple(x.shape)))
            shape = (x.shape[1],) + (w, w)
            strides = (x.shape[1], s, s)
            return Occlusion(model).attribute(x, sliding_window_shapes=shape, strides=strides, baselines=base,
                                              target=y, perturbations_per_eval=perturbations_per_eval)
        w = window or 1
        mask = (torch.arange(x.shape[1], device=x.device) // w).expand(len(x), -1)
        if self.is_text():
            # Padding positions cannot be removed; give them one shared group so
            # they cost a single evaluation instead of one each.
            pad = x == PAD_ID
            mask = torch.where(pad, mask.max() + 1, mask)
        return FeatureAblation(model).attribute(x, baselines=base, target=y, feature_mask=mask,
                                                perturbations_per_eval=perturbations_per_eval).float()


@register_explainer
class GradCamExplainer(Explainer):
    """Grad-CAM (Selvaraju et al. 2017) on the target's ``gradcam_layer``, upsampled to the image.

    The class-weighted activation map is passed through ReLU, bilinearly
    interpolated to the input's height and width, and repeated over channels.
    """

    name = "grad_cam"
    label = "Grad-CAM"
    signed = False
    kinds = ("image",)
    domains = ("vision",)

    def _attribute(self, x, y):
        cam = LayerGradCam(self.audit_target.model, self.layer("gradcam_layer"))
        a = cam.attribute(x, target=y, relu_attributions=True)
        a = LayerAttribution.interpolate(a, tuple(x.shape[-2:]), interpolate_mode="bilinear")
        return a.expand(-1, x.shape[1], -1, -1)

