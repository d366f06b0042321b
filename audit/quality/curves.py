"""Deletion and insertion curves (Petsiuk et al. 2018, RISE).

Features are removed (deletion) or restored (insertion) in the order of their
attribution, and the target class's softmax probability is tracked. A
faithful explanation makes the probability fall fast on deletion and rise fast
on insertion; a seeded random order is the reference that any explanation
must beat.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from deepaudit.audit.capabilities import infer_kind
from deepaudit.audit.performance import CONFIDENCE, mean_record
from deepaudit.audit.quality._common import (
    QualityResult,
    baseline_like,
    plain,
    resolve_classes,
    validate_attributions,
    validate_inputs,
)
from deepaudit.audit.schema import Check
from deepaudit.audit.target import AuditTarget

BAD_POINTS = "n_points={value!r} is too small. Fix: pass an integer >= 2 (the curve includes 0% and 100%)."

# A faithful ranking must remove probability at least 10% faster than a random
# one (deletion ratio <= 0.9) and restore it at least 5% faster (insertion
# ratio >= 1.05). The insertion margin is smaller because the ratio cannot
# exceed 1 / random insertion AUC, and random insertion already reaches 0.91
# on mortgage. Measured (predicted class, n_points=20, seed 0; 64 samples,
# sentiment 32), deletion / insertion ratio:
#   integrated_gradients: mnist_cnn 0.05 / 1.46, mortgage 0.69 / 1.10,
#                         sentiment 0.16 / 1.33, linear reference 0.76 / 1.21
#   saliency (|gradient|): mnist_cnn 0.09 / 1.48, mortgage 0.95 / 1.06,
#                         sentiment 0.90 / 1.23, linear reference 0.95 / 1.08
# Unsigned saliency ranks features that argue against the class as highly as
# those for it, which is why it fails deletion on the tabular models.
DELETION_THRESHOLD = 0.9
INSERTION_THRESHOLD = 1.05

# Elements (perturbed inputs x input size) built at once; bounds memory.
MAX_ELEMENTS = 1 << 22
FORWARD_BATCH = 512


def deletion_insertion(audit_target: AuditTarget, inputs: torch.Tensor, attributions: torch.Tensor,
                       target: int | Sequence[int] | torch.Tensor | None = None, *, n_points: int = 20,
                       seed: int = 0, method: str = "integrated_gradients",
                       random_curves: dict[str, Any] | None = None) -> QualityResult:
    """Deletion and insertion AUCs of an attribution ranking, next to a random ranking.

    Units are ordered by attribution, descending and signed (the features that
    argue most *for* the class first). Images: one unit per pixel, its
    attribution summed over channels, all channels replaced together. Tabular:
    one unit per feature, replaced by ``audit_target.baseline``. Text: only a
    sample's real (non-padding) tokens are units; removing a token replaces it
    with the padding id 0, and fractions are of the sample's own token count.

    Parameters
    ----------
    audit_target : AuditTarget
        The model and its baseline.
    inputs : Tensor
        Model-ready inputs, first dimension = samples.
    attributions : Tensor
        Attributions shaped like ``inputs``.
    target : int, sequence of int, Tensor or None
        Class per input; None uses the predicted class.
    n_points : int
        Points per curve, evenly spaced fractions from 0 to 1 inclusive.
    seed : int
        Seeds the random reference order.
    method : str
        Name of the method that produced ``attributions``, for the check text.
    random_curves : dict, optional
        A dict shared by calls that judge several methods' attributions of the same
        inputs: the random-order curves do not depend on the attributions, so the
        first call fills it and later calls with the same inputs, classes,
        ``n_points`` and ``seed`` reuse them (others recompute).

    Returns
    -------
    QualityResult
        Summary: mean AUCs ``deletion_auc``, ``insertion_auc``,
        ``random_deletion_auc``, ``random_insertion_auc`` and the ratios
        ``deletion_ratio`` (explained / random) and ``insertion_ratio``;
        ``auc_intervals`` (:func:`auc_intervals`: the 95% interval of each mean AUC).
        Tables: ``curves`` (curve, order, fraction, probability; means over
        samples) and ``auc`` (per sample). Checks
        ``deletion_auc_vs_random`` (ratio <= 0.9) and
        ``insertion_auc_vs_random`` (ratio >= 1.05).
    """
    if not isinstance(n_points, int) or n_points < 2:
        raise ValueError(BAD_POINTS.format(value=n_points))
    validate_inputs(audit_target, inputs)
    attributions = validate_attributions(attributions, inputs)
    classes = resolve_classes(audit_target, inputs, target)
    is_text = infer_kind(audit_target) == "text"
    x = inputs.detach().cpu()
    base = torch.zeros_like(x) if is_text else baseline_like(audit_target, x)
    # Images: a unit is a pixel (channels together); otherwise each column.
    scores = attributions.sum(1) if x.dim() >= 3 else attributions
    scores = scores.reshape(len(x), -1)
    if is_text:
        real = x != 0
    else:
        real = torch.ones_like(scores, dtype=torch.bool)
    n_units = real.sum(1)

    g = torch.Generator().manual_seed(seed)
    orders = {"attribution": _ranks(scores, real), "random": _ranks(torch.rand(scores.shape, generator=g), real)}
    fractions = torch.linspace(0, 1, n_points, dtype=torch.float64)
    # k[i, p] = units changed in sample i at point p, of its own unit count.
    k = torch.round(fractions[None, :] * n_units[:, None].double()).long()

    probs = {}
    cached = _reusable(random_curves, (seed, n_points), x, classes)
    for order, rank in orders.items():
        for curve in ("deletion", "insertion"):
            if order == "random" and cached:
                probs[curve, order] = random_curves["probs"][curve]
                continue
            probs[curve, order] = _curve(audit_target, x, base, rank, k, classes, deletion=curve == "deletion")
    if random_curves is not None and not cached:
        random_curves.clear()
        random_curves.update(key=(seed, n_points), inputs=x, classes=classes,
                             probs={c: probs[c, "random"] for c in ("deletion", "insertion")})

    frac = fractions.numpy()
    # Trapezoid rule written out: np.trapezoid needs numpy 2, the project allows 1.26.
    auc = {key: ((p[:, 1:] + p[:, :-1]) / 2 * np.diff(frac)).sum(1) for key, p in probs.items()}
    means = {f"{'random_' if o == 'random' else ''}{c}_auc": float(a.mean()) for (c, o), a in auc.items()}
    deletion_ratio = means["deletion_auc"] / max(means["random_deletion_auc"], 1e-12)
    insertion_ratio = means["insertion_auc"] / max(means["random_insertion_auc"], 1e-12)
    curves = pd.DataFrame([{"curve": c, "order": o, "fraction": float(f), "probability": float(p)}
                           for (c, o), arr in probs.items() for f, p in zip(frac, arr.mean(0))])
    per_sample = pd.DataFrame([{"sample": i, "curve": c, "order": o, "auc": float(v)}
                               for (c, o), arr in auc.items() for i, v in enumerate(arr)])
    summary = {**means, "deletion_ratio": deletion_ratio, "insertion_ratio": insertion_ratio,
               "auc_intervals": auc_intervals(per_sample, points=means),
               "method": method, "n_points": n_points, "n_samples": len(x), "seed": seed}
    checks = [
        Check("deletion_auc_vs_random",
              f"{method}: deletion AUC / random-order deletion AUC (lower = the ranking finds what the "
              f"prediction rests on)", deletion_ratio, DELETION_THRESHOLD, "<=", family="deletion_auc_vs_random",
              method=method, subject=method, policy_key="deletion_ratio_max", params={"n_points": int(n_points)}),
        Check("insertion_auc_vs_random",
              f"{method}: insertion AUC / random-order insertion AUC (higher = the ranking finds what the "
              f"prediction rests on)", insertion_ratio, INSERTION_THRESHOLD, ">=", family="insertion_auc_vs_random",
              method=method, subject=method, policy_key="insertion_ratio_min", params={"n_points": int(n_points)}),
    ]
    return QualityResult("deletion_insertion", plain(summary), {"curves": curves, "auc": per_sample}, checks)


def auc_intervals(auc: Any, *, points: Mapping[str, Any] | None = None,
                  confidence: float = CONFIDENCE) -> dict[str, dict[str, dict[str, Any]]]:
    """The interval of each mean AUC from the per-sample AUC table: ``out[curve][order]`` is a record.

    ``auc`` is the ``auc`` table (``sample``, ``curve``, ``order``, ``auc``; a DataFrame or its stored
    records), ``curve`` in ``deletion``/``insertion`` and ``order`` in ``attribution``/``random``. Each record
    is :func:`deepaudit.audit.performance.mean_record` of that cell's per-sample AUCs (normal approximation,
    ``value +/- z * sd / sqrt(n)``, clipped to [0, 1] where an AUC of a probability lies): ``value``, ``lo``,
    ``hi``, ``n``, ``level``, ``method``. ``value`` is the summary's mean (``points``, keyed
    ``deletion_auc``, ``random_deletion_auc``, ...) when given, else the mean of the table. One sample gives
    null bounds (``method`` says why); no sample also a null ``value``. Null per-sample AUCs are left out.
    """
    t = pd.DataFrame(auc, columns=["sample", "curve", "order", "auc"])
    points = points or {}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for curve in ("deletion", "insertion"):
        for order in ("attribution", "random"):
            values = pd.to_numeric(t.loc[(t["curve"] == curve) & (t["order"] == order), "auc"], errors="coerce")
            values = values.dropna().to_numpy(dtype=np.float64)
            point = points.get(f"{'random_' if order == 'random' else ''}{curve}_auc")
            usable = isinstance(point, (int, float)) and not isinstance(point, bool) and np.isfinite(point)
            out.setdefault(curve, {})[order] = mean_record(values, float(point) if usable and len(values) else None,
                                                           confidence=confidence, lower=0.0, upper=1.0)
    return out


def _reusable(cache: dict[str, Any] | None, key: tuple[int, int], x: torch.Tensor, classes: torch.Tensor) -> bool:
    """Whether ``cache`` holds random-order curves of exactly these inputs, classes, seed and point count."""
    if not cache or cache.get("key") != key:
        return False
    return all(isinstance(cache.get(name), torch.Tensor) and cache[name].shape == value.shape
               and torch.equal(cache[name], value) for name, value in (("inputs", x), ("classes", classes)))


def _ranks(scores: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Rank of each unit in descending score order; non-units rank last."""
    scores = torch.where(real, scores.double(), torch.tensor(-np.inf, dtype=torch.float64))
    order = torch.argsort(scores, dim=1, descending=True, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(scores.shape[1]).expand_as(order).contiguous())
    return rank


def _curve(audit_target: AuditTarget, x: torch.Tensor, base: torch.Tensor, rank: torch.Tensor, k: torch.Tensor,
           classes: torch.Tensor, *, deletion: bool) -> np.ndarray:
    """Target-class probability (N, P) as the top-``k`` ranked units are removed or inserted."""
    n, p = k.shape
    per_input = max(1, x[0].numel())
    chunk = max(1, MAX_ELEMENTS // (per_input * p))
    out = []
    for lo in range(0, n, chunk):
        xs, bs, rs, ks = x[lo:lo + chunk], base[lo:lo + chunk], rank[lo:lo + chunk], k[lo:lo + chunk]
        changed = rs[:, None, :] < ks[:, :, None]                  # (n, P, units)
        use_x = ~changed if deletion else changed
        if xs.dim() >= 3:
            # A pixel's mask applies to all its channels.
            use_x = use_x.view(len(xs), p, 1, *xs.shape[2:])
        else:
            use_x = use_x.view(len(xs), p, *xs.shape[1:])
        mixed = torch.where(use_x, xs[:, None], bs[:, None])       # (n, P, *input)
        logits = audit_target.logits(mixed.reshape(-1, *xs.shape[1:]), batch_size=FORWARD_BATCH)
        prob = logits.double().softmax(1).view(len(xs), p, -1)
        out.append(prob.gather(2, classes[lo:lo + chunk, None, None].expand(-1, p, 1)).squeeze(2))
    return torch.cat(out).numpy()
