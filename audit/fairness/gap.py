"""What drives a disparity: the gap between a group and the reference, split into per-feature contributions.

For a sensitive attribute, a group g and the attribute's reference group r (the largest known group, as for
every difference in the run), the **score gap** is ``mean_g f(x) - mean_r f(b)`` with ``f`` the model's
probability of the favourable class. It is decomposed over pairs (x from g, b from r):

    f(x) - f(b) = sum_j IG_j(x; baseline b)            (Integrated Gradients is complete)

so the mean over pairs of each feature's IG attribution, with the reference applicant as the baseline, is that
feature's contribution to the gap, and the contributions add up to the gap of the pairs. A feature whose
values differ between the groups and that moves the score is a large contribution, whichever group it acts
on: this is the question a reviewer asks ("why are black applicants approved less often?").

- Pairs: every (x, b) when there are at most ``max(max_pairs, 4 * max(n_g, n_r))``; otherwise a design in which
  every row of g and of r is used at least 4 times (drawn with ``seed``), weighted (:func:`pair_weights`) so
  that every row carries the same total weight: the weighted pair gap is then the gap of the rows, so the
  contributions add up to the gap the run reports. A side with more than :data:`MAX_ROWS` rows is decomposed
  on a systematic sample of that many along its rows sorted by score (seeded start), so the sample's gap stays
  close to the full-data gap (``all_rows`` False; ``sampling_difference`` = the sample's gap minus the full
  gap, stored and shown).
- Intervals: normal intervals whose variance treats the two groups' rows as the samples (the pairs share rows,
  so they are not independent: Hoeffding's decomposition of a two-sample U-statistic, Var(phi_g)/n_g +
  Var(phi_r)/n_r with phi the mean contribution per row). Tested for coverage on a null linear model.
- Quadrature: Gauss-Legendre with ``n_steps`` nodes (16) on the straight path from b to x. On a ReLU network
  the integrand has kinks, so one pair's sum can miss its f(x) - f(b) by a few hundredths; the errors are of
  both signs and cancel in the mean, so ``completeness_residual`` (sum of the mean contributions minus the
  pair gap, stored) is about 1e-3 of the gap on the bundled mortgage model; tests bound it.
- Features are merged with their missing-value indicator (``x`` and ``x_missing``), as reason codes are.
- The **favourable-rate gap** (share predicted favourable in g minus in r) is split the same way: a pair whose
  decisions differ (delta = +1 or -1) hands delta to the features in proportion to their share of
  ``f(x) - f(b)``; pairs with the same decision hand out 0. Contributions add up to the pair rate gap.
"""
from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from deepaudit.audit.explain.views import feature_groups
from deepaudit.audit.fairness.intervals import z_value

log = logging.getLogger(__name__)

METHOD = ("Integrated Gradients of P(favourable) with the reference group's applicants as baselines "
          "(Gauss-Legendre, {n_steps} nodes), averaged over {pairs}; contributions sum to the gap of the pairs")
NO_REFERENCE = ("what drives the gap: {attr!r} has no rows in its reference group {ref!r}, so nothing to compare "
                "with; the attribute is left out of the decomposition.")
#: Rows per side beyond which a seeded sample of this many is decomposed (the gap of the sample is stated).
MAX_ROWS = 1024


def _scores(forward, x: torch.Tensor, chunk: int = 1 << 14) -> np.ndarray:
    """``forward`` on every row, in chunks (no gradients)."""
    with torch.no_grad():
        return np.concatenate([forward(x[s:s + chunk]).double().cpu().numpy() for s in range(0, len(x), chunk)]
                              or [np.zeros(0)])


def _systematic(ix: np.ndarray, score: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``ix`` itself when it holds at most :data:`MAX_ROWS` rows; else a systematic sample of that many along the
    rows sorted by score (a seeded random start, then every len/MAX_ROWS-th), so the sample's mean score, and with
    it the gap the contributions add up to, stays within about (max - min score) / MAX_ROWS of the full data's."""
    if len(ix) <= MAX_ROWS:
        return ix
    by_score = ix[np.argsort(score[ix], kind="stable")]
    pos = np.floor((np.arange(MAX_ROWS) + rng.random()) * len(ix) / MAX_ROWS).astype(int)
    return np.sort(by_score[np.minimum(pos, len(ix) - 1)])


def _two_sample_variance(contrib: np.ndarray, w: np.ndarray, gi: np.ndarray, ri: np.ndarray, n_g: int,
                         n_r: int) -> np.ndarray:
    """Variance of each weighted mean contribution, treating the two groups' rows as the samples.

    The pairs share rows, so they are not independent: the mean over pairs is a two-sample U-statistic, whose
    variance is about Var(phi_g)/n_g + Var(phi_r)/n_r, with phi_g(i) the mean contribution over the pairs of
    row i of g (Hoeffding's decomposition), likewise phi_r. NaN for a side with one row.
    """
    out = np.zeros(contrib.shape[1])
    for idx, n in ((gi, n_g), (ri, n_r)):
        if n < 2:
            return np.full(contrib.shape[1], np.nan)
        tot = np.bincount(idx, weights=w, minlength=n)
        phi = np.stack([np.bincount(idx, weights=w * contrib[:, j], minlength=n) for j in range(contrib.shape[1])],
                       axis=1) / tot[:, None]
        out += phi.var(axis=0, ddof=1) / n
    return out


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
    fx, fb = _scores(forward, x), _scores(forward, baselines)
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


#: Most pairs per group (4 per row of the larger side, at most MAX_ROWS rows per side).
PAIR_CAP = 4 * MAX_ROWS


def _balanced_pairs(n_g: int, n_r: int, max_pairs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if n_g * n_r <= max(max_pairs, 4 * max(n_g, n_r)):
        gi, ri = np.meshgrid(np.arange(n_g), np.arange(n_r), indexing="ij")
        return gi.ravel(), ri.ravel()
    # every row at least 4 times (a connected design), so weights can balance both sides; sides hold at most
    # MAX_ROWS rows, so at most 4 * MAX_ROWS pairs
    k = max(max_pairs, 4 * max(n_g, n_r))
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
    summary, rows, skipped = [], [], []
    score = _scores(forward, x)
    for attr in attributes:
        col = groups[attr]
        ref = references.get(attr)
        known = col.notna().to_numpy()
        # group labels as the fairness engine writes them (str of the value), so 0/1 or True/False columns match
        values = np.array([str(v) if k else None for v, k in zip(col.tolist(), known)], dtype=object)
        ref_idx = np.flatnonzero(known & (values == str(ref))) if ref is not None else np.array([], int)
        if len(ref_idx) == 0:
            skipped.append({"attribute": attr, "reason": NO_REFERENCE.format(attr=attr, ref=ref)})
            log.warning(NO_REFERENCE.format(attr=attr, ref=ref))
            continue
        for g in sorted({v for v in values[known]} - {str(ref)}, key=str):
            g_all = np.flatnonzero(known & (values == g))
            rng = np.random.default_rng([seed, len(summary)])
            # at most MAX_ROWS rows per side: beyond, a balanced design would need more pairs than the cap
            g_idx, r_idx = (_systematic(ix, score, rng) for ix in (g_all, ref_idx))
            gi, ri = _balanced_pairs(len(g_idx), len(r_idx), max_pairs, rng)
            xs, bs = x[g_idx[gi]], x[r_idx[ri]]
            a, fx, fb = pair_attributions(forward, xs, bs, n_steps=n_steps)
            contrib = a @ merge                                           # (P, G) per merged feature
            diff = fx - fb
            delta = decisions[g_idx[gi]].astype(float) - decisions[r_idx[ri]].astype(float)
            with np.errstate(invalid="ignore", divide="ignore"):
                alloc = np.where((delta != 0)[:, None] & (diff != 0)[:, None], contrib / diff[:, None], 0.0)
            rate_contrib = alloc * delta[:, None]
            w = pair_weights(gi, ri, len(g_idx), len(r_idx))
            mean_c = w @ contrib
            half = z * np.sqrt(_two_sample_variance(contrib, w, gi, ri, len(g_idx), len(r_idx)))
            lo, hi = mean_c - half, mean_c + half
            gap = float(score[g_all].mean() - score[ref_idx].mean())
            rate_gap = float(decisions[g_all].mean() - decisions[ref_idx].mean())
            pair_gap = float(w @ diff)
            residual = float(mean_c.sum() - pair_gap)
            toward = np.sign(pair_gap) if pair_gap != 0 else -1.0
            order = np.argsort(-toward * mean_c, kind="stable")
            rank = np.empty(len(names), int)
            rank[order] = np.arange(1, len(names) + 1)
            all_rows = len(g_idx) == len(g_all) and len(r_idx) == len(ref_idx)
            summary.append({"attribute": attr, "group": g, "reference": str(ref), "n": int(len(g_all)),
                            "n_reference": int(len(ref_idx)), "n_used": int(len(g_idx)),
                            "n_reference_used": int(len(r_idx)), "all_rows": bool(all_rows),
                            "n_pairs": int(len(diff)), "all_pairs": bool(len(diff) == len(g_idx) * len(r_idx)),
                            "small_group": bool(g in small.get(attr, set())),
                            "gap": gap, "pair_gap": pair_gap, "sum_of_contributions": float(mean_c.sum()),
                            "completeness_residual": residual, "sampling_difference": float(pair_gap - gap),
                            "rate_gap": rate_gap, "pair_rate_gap": float(w @ delta),
                            "rate_residual": float((w @ rate_contrib).sum() - w @ delta),
                            "top_feature": names[order[0]],
                            "top_label": labels.get(names[order[0]], names[order[0]])})
            for j, name in enumerate(names):
                rows.append({"attribute": attr, "group": g, "reference": str(ref), "feature": name,
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
            "summary": pd.DataFrame(summary), "table": table, "skipped": skipped}


def method_text(params: dict[str, Any]) -> str:
    """The prose stated with the decomposition (the numbers are in ``params``)."""
    pairs = (f"every (group, reference) pair, or for large groups a balanced sample (each row at least 4 times, "
             f"{params['max_pairs']:,} to {PAIR_CAP:,} pairs) weighted so every row counts equally")
    return METHOD.format(n_steps=params["n_steps"], pairs=pairs)
