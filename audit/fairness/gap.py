"""What drives a disparity: the gap between a group and the reference, split into per-feature contributions.

For a sensitive attribute, a group g and the attribute's reference group r (the largest known group, as for
every difference in the run), the **score gap** is ``mean_g f(x) - mean_r f(b)`` with ``f`` the model's
probability of the favourable class. It is decomposed over pairs (x from g, b from r):

    f(x) - f(b) = sum_j IG_j(x; baseline b)            (Integrated Gradients is complete)

so the mean over pairs of each feature's IG attribution, with the reference applicant as the baseline, is that
feature's contribution to the gap, and the contributions add up to the gap of the pairs. A feature whose
values differ between the groups and that moves the score is a large contribution, whichever group it acts
on: this is the question a reviewer asks ("why are black applicants approved less often?").

- Pairs: every (x, b) when ``n_g * n_r <= max_pairs``; otherwise ``max_pairs`` pairs in which every row of g and
  of r is used equally often (up to one), drawn with ``seed``, and weighted (:func:`pair_weights`) so that every
  row of g and of r carries the same total weight: the weighted pair gap is the full-data gap, so the
  contributions add up to the gap the run reports (``gap``; ``pair_gap`` is the same number computed through
  the pairs). Intervals: normal intervals of each weighted mean over pairs (the sampling of pairs).
- Quadrature: Gauss-Legendre with ``n_steps`` nodes on the straight path from b to x. On a ReLU network the
  integrand has kinks, so one pair's sum can miss its f(x) - f(b) by a few hundredths at 32 nodes; the errors
  are of both signs and cancel in the mean, so ``completeness_residual`` (sum of the mean contributions minus
  the pair gap, stored) is about 1e-3 of the gap on the bundled mortgage model; tests bound it.
- Features are merged with their missing-value indicator (``x`` and ``x_missing``), as reason codes are.
- The **favourable-rate gap** (share predicted favourable in g minus in r) is split the same way: a pair whose
  decisions differ (delta = +1 or -1) hands delta to the features in proportion to their share of
  ``f(x) - f(b)``; pairs with the same decision hand out 0. Contributions add up to the pair rate gap.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from audit.explain.views import feature_groups
from audit.fairness.intervals import z_value

METHOD = ("Integrated Gradients of P(favourable) with the reference group's applicants as baselines "
          "(Gauss-Legendre, {n_steps} nodes), averaged over {pairs}; contributions sum to the gap of the pairs")
NO_REFERENCE = "no reference group with rows for {attr!r}: nothing to compare with."


def _gauss_legendre(n_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    nodes, weights = np.polynomial.legendre.leggauss(n_steps)
    return torch.tensor((nodes + 1) / 2), torch.tensor(weights / 2)


def pair_attributions(forward, x: torch.Tensor, baselines: torch.Tensor, *, n_steps: int = 32,
                      max_elements: int = 1 << 21) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IG of ``forward`` (inputs -> one score per row) for each row of ``x`` against its own baseline row.

    Returns ``(attributions (P, F) float64, f(x) (P,), f(baseline) (P,))``. Computed in float32 (the model's
    dtype) and summed in float64; at most ``max_elements`` path values are held at once (memory stays flat
    for wide inputs).
    """
    alphas, weights = _gauss_legendre(n_steps)
    p, f = x.shape
    attr = np.zeros((p, f))
    per = max(1, max_elements // max(1, n_steps * f))   # path points x features held at once
    dtype = x.dtype
    with torch.no_grad():
        fx = forward(x).double().cpu().numpy()
        fb = forward(baselines).double().cpu().numpy()
    for s in range(0, p, per):
        xs, bs = x[s:s + per], baselines[s:s + per]
        delta = xs - bs
        path = (bs[:, None, :] + alphas.to(dtype)[None, :, None] * delta[:, None, :]).reshape(-1, f)
        path.requires_grad_(True)
        out = forward(path)
        (grad,) = torch.autograd.grad(out.sum(), path)
        g = grad.reshape(len(xs), n_steps, f).double()
        attr[s:s + per] = ((g * weights[None, :, None]).sum(1) * delta.double()).cpu().numpy()
    return attr, fx, fb


#: Most pairs per group: beyond this the weights may not reach exact balance and the stored pair gap says so.
PAIR_CAP = 4096


def _balanced_pairs(n_g: int, n_r: int, max_pairs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if n_g * n_r <= max(max_pairs, 4 * max(n_g, n_r)):
        gi, ri = np.meshgrid(np.arange(n_g), np.arange(n_r), indexing="ij")
        return gi.ravel(), ri.ravel()
    # every row at least 4 times (a connected design), so weights can balance both sides
    k = min(max(max_pairs, 4 * max(n_g, n_r)), max(max_pairs, PAIR_CAP))
    gi = np.concatenate([rng.permutation(n_g) for _ in range(-(-k // n_g))])[:k]
    ri = np.concatenate([rng.permutation(n_r) for _ in range(-(-k // n_r))])[:k]
    return gi, ri


def pair_weights(gi: np.ndarray, ri: np.ndarray, n_g: int, n_r: int, *, tol: float = 1e-12,
                 max_iter: int = 2000) -> np.ndarray:
    """Weights of the pairs (summing to 1) under which every row of g weighs 1/n_g and every row of r 1/n_r.

    Then a weighted mean over pairs of f(x) - f(b) is exactly mean_g f - mean_r f: the contributions add up to
    the full-data gap, not only to the gap of the sampled pairs. Found by iterative proportional fitting
    (Sinkhorn) from equal weights; with all pairs, or a design where every row is used equally, they stay equal.
    """
    w = np.full(len(gi), 1.0 / len(gi))
    for _ in range(max_iter):
        w *= (1.0 / n_g) / np.bincount(gi, weights=w, minlength=n_g)[gi]
        w *= (1.0 / n_r) / np.bincount(ri, weights=w, minlength=n_r)[ri]
        if np.abs(np.bincount(gi, weights=w, minlength=n_g) - 1.0 / n_g).max() < tol / n_g:
            return w
    return np.full(len(gi), 1.0 / len(gi))   # no balance reached: equal weights, and pair_gap != gap says so


def gap_decomposition(forward, inputs: torch.Tensor, decisions: np.ndarray, groups: pd.DataFrame,
                      attributes: Sequence[str], feature_names: Sequence[str], *,
                      references: dict[str, str], labels: dict[str, str] | None = None, n_steps: int = 16,
                      max_pairs: int = 512, seed: int = 0,
                      confidence: float = 0.95, small: dict[str, set] | None = None) -> dict[str, Any]:
    """Per attribute and group: the score and favourable-rate gaps to the reference, split by feature.

    Parameters
    ----------
    forward : callable
        Float inputs (n, F) -> P(favourable) per row (a tensor), differentiable.
    inputs : Tensor (n, F)
        Every evaluated row, in the order of ``groups`` and ``decisions``.
    decisions : array of bool (n,)
        Whether each row is predicted favourable (the run's decision rule).
    groups : DataFrame
        One column per attribute; missing values are "unknown" and are not decomposed.
    references : dict
        The reference group of each attribute (the one every difference of the run is against).

    Returns
    -------
    dict with ``method``, ``params`` and two tables: ``summary`` (one row per attribute and group: gaps, pair
    gaps, residuals, pairs) and ``table`` (one row per attribute, group and feature: contribution to the
    score gap with interval, share, rank, contribution to the rate gap).
    """
    x = inputs.detach().float().cpu()
    decisions = np.asarray(decisions, dtype=bool)
    merged = feature_groups(list(feature_names))
    names = list(merged)
    merge = np.stack([m for m in merged.values()], axis=1).astype(float)     # (F, G)
    labels = labels or {}
    small = small or {}
    z = z_value(confidence)
    summary, rows = [], []
    with torch.no_grad():
        score = forward(x).double().cpu().numpy()
    for attr in attributes:
        col = groups[attr]
        ref = references.get(attr)
        known = col.notna().to_numpy()
        values = col.astype("object").where(col.notna(), None).to_numpy()
        ref_idx = np.flatnonzero(known & (values == ref)) if ref is not None else np.array([], int)
        if len(ref_idx) == 0:
            continue
        for g in sorted({v for v in values[known]} - {ref}, key=str):
            g_idx = np.flatnonzero(known & (values == g))
            rng = np.random.default_rng([seed, len(summary)])
            gi, ri = _balanced_pairs(len(g_idx), len(ref_idx), max_pairs, rng)
            xs, bs = x[g_idx[gi]], x[ref_idx[ri]]
            a, fx, fb = pair_attributions(forward, xs, bs, n_steps=n_steps)
            contrib = a @ merge                                           # (P, G) per merged feature
            diff = fx - fb
            delta = decisions[g_idx[gi]].astype(float) - decisions[ref_idx[ri]].astype(float)
            with np.errstate(invalid="ignore", divide="ignore"):
                alloc = np.where((delta != 0)[:, None] & (diff != 0)[:, None], contrib / diff[:, None], 0.0)
            rate_contrib = alloc * delta[:, None]
            w = pair_weights(gi, ri, len(g_idx), len(ref_idx))
            mean_c = w @ contrib
            # normal interval of a weighted mean over pairs (their spread includes the sampling of rows)
            k = len(diff)
            half = (z * np.sqrt((w[:, None] ** 2 * (contrib - mean_c) ** 2).sum(0) * k / (k - 1)) if k > 1
                    else np.full(len(names), np.nan))
            lo, hi = mean_c - half, mean_c + half
            gap = float(score[g_idx].mean() - score[ref_idx].mean())
            rate_gap = float(decisions[g_idx].mean() - decisions[ref_idx].mean())
            pair_gap = float(w @ diff)
            residual = float(mean_c.sum() - pair_gap)
            toward = np.sign(pair_gap) if pair_gap != 0 else -1.0
            order = np.argsort(-toward * mean_c, kind="stable")
            rank = np.empty(len(names), int)
            rank[order] = np.arange(1, len(names) + 1)
            summary.append({"attribute": attr, "group": str(g), "reference": str(ref), "n": int(len(g_idx)),
                            "n_reference": int(len(ref_idx)), "n_pairs": int(len(diff)),
                            "all_pairs": bool(len(diff) == len(g_idx) * len(ref_idx)),
                            "small_group": bool(str(g) in small.get(attr, set())),
                            "gap": gap, "pair_gap": pair_gap, "completeness_residual": residual,
                            "rate_gap": rate_gap, "pair_rate_gap": float(w @ delta),
                            "rate_residual": float((w @ rate_contrib).sum() - w @ delta),
                            "top_feature": names[order[0]],
                            "top_label": labels.get(names[order[0]], names[order[0]])})
            for j, name in enumerate(names):
                rows.append({"attribute": attr, "group": str(g), "reference": str(ref), "feature": name,
                             "label": labels.get(name, name), "contribution": float(mean_c[j]),
                             "lo": float(lo[j]), "hi": float(hi[j]),
                             "share_of_gap": float(mean_c[j] / pair_gap) if pair_gap else float("nan"),
                             "rank": int(rank[j]), "rate_contribution": float(w @ rate_contrib[:, j])})
    table = pd.DataFrame(rows, columns=["attribute", "group", "reference", "feature", "label", "contribution",
                                        "lo", "hi", "share_of_gap", "rank", "rate_contribution"])
    if len(table):
        table = table.sort_values(["attribute", "group", "rank"], kind="mergesort").reset_index(drop=True)
    return {"params": {"method": "integrated_gradients", "quadrature": "gausslegendre", "n_steps": int(n_steps),
                       "max_pairs": int(max_pairs), "seed": int(seed), "interval": "normal, over pairs",
                       "confidence": float(confidence), "baseline": "each reference-group row in turn",
                       "output": "probability of the favourable class"},
            "summary": pd.DataFrame(summary), "table": table}


def method_text(params: dict[str, Any]) -> str:
    """The prose stated with the decomposition (the numbers are in ``params``)."""
    pairs = (f"every (group, reference) pair, or for large groups a balanced sample (each row at least 4 times, "
             f"{params['max_pairs']:,} to {PAIR_CAP:,} pairs) weighted so every row counts equally")
    return METHOD.format(n_steps=params["n_steps"], pairs=pairs)
