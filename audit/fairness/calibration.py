"""Calibration within groups: reliability bins and ECE (docs/statistics.md).

Bins are equal-width on [0, 1]: bin k holds scores in [k/B, (k+1)/B), the
last bin also holds 1.0. For group g,
``ECE_g = sum_b (n_b / n_g) |mean(y)_b - mean(score)_b|`` (empty bins add 0),
which equals ``sum_b |sum(y)_b - sum(score)_b| / n_g``.

ECE interval: stratified bootstrap over (bin x label) cell counts of each
group; each cell's mean score is held at its observed value (within a bin of
width 1/B the scores barely move), so a replicate costs O(cells), not O(rows).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from deepaudit.audit.fairness.counts import LENGTH_MISMATCH, _one_d, binary_outcomes
from deepaudit.audit.fairness.groups import check_min_share, encode_groups
from deepaudit.audit.fairness.intervals import (
    bootstrap_counts,
    bootstrap_method,
    check_confidence,
    percentile_interval,
    wilson_interval,
)

BAD_N_BINS = "n_bins={value!r} must be an integer >= 1. Fix: use e.g. 10."
SCORE_RANGE = ("y_score must be probabilities in [0, 1] for calibration; found {count} values outside, e.g. "
               "{example!r} at position {first}. Fix: pass the favorable-class probability (softmax), not logits.")
SCORE_NAN = ("y_score holds {count} NaN values, first at position {first}. Fix: drop those samples or pass "
             "the model's favorable-class probability.")


def _binned(y_true, y_score, sensitive, pos_label, columns, breakdown, n_bins):
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(BAD_N_BINS.format(value=n_bins))
    y, _ = binary_outcomes(y_true, y_true, pos_label=pos_label)
    s = _one_d(y_score, "y_score").astype(float)
    if len(s) != len(y):
        raise ValueError(LENGTH_MISMATCH.format(n=len(y), what="y_score", n_other=len(s)))
    if np.isnan(s).any():
        idx = np.flatnonzero(np.isnan(s))
        raise ValueError(SCORE_NAN.format(count=len(idx), first=int(idx[0])))
    bad = (s < 0) | (s > 1)
    if bad.any():
        idx = np.flatnonzero(bad)
        raise ValueError(SCORE_RANGE.format(count=len(idx), example=float(s[idx[0]]), first=int(idx[0])))
    bins = np.minimum((s * n_bins).astype(np.intp), n_bins - 1)
    cell = 2 * bins + y
    n_cells = 2 * n_bins
    out = []
    for g in encode_groups(sensitive, len(y), columns=columns, breakdown=breakdown):
        flat = g.codes * n_cells + cell
        size = g.n_groups * n_cells
        counts = np.bincount(flat, minlength=size).reshape(g.n_groups, n_bins, 2)
        sums = np.bincount(flat, weights=s, minlength=size).reshape(g.n_groups, n_bins, 2)
        out.append((g, counts.astype(np.int64), sums))
    return out


def calibration_curves(y_true, y_score, *, sensitive, pos_label=None, columns=None,
                       breakdown: str = "intersection", n_bins: int = 10,
                       confidence: float = 0.95) -> pd.DataFrame:
    """Per-group reliability curve: one row per group and score bin.

    Parameters
    ----------
    y_true : array-like
        True labels (0/1, or any labels with ``pos_label``).
    y_score : array-like of float in [0, 1]
        Predicted probability of the favorable outcome.
    sensitive, pos_label, columns, breakdown
        As in :func:`deepaudit.audit.fairness.metrics.group_metrics`.
    n_bins : int
        Number of equal-width bins (default 10).
    confidence : float
        Coverage of the Wilson interval on the observed rate.

    Returns
    -------
    DataFrame
        ``attribute, group, bin, bin_lo, bin_hi, n_b, mean_score,
        observed_rate, observed_lo, observed_hi, gap`` (gap = observed_rate -
        mean_score). Every bin is listed; empty bins have NaN means.
    """
    confidence = check_confidence(confidence)
    frames = []
    for g, counts, sums in _binned(y_true, y_score, sensitive, pos_label, columns, breakdown, n_bins):
        n_b = counts.sum(axis=2)
        pos = counts[:, :, 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_score = np.where(n_b > 0, sums.sum(axis=2) / np.maximum(n_b, 1), np.nan)
            observed = np.where(n_b > 0, pos / np.maximum(n_b, 1), np.nan)
        lo, hi = wilson_interval(pos, n_b, confidence=confidence)
        k = np.arange(n_bins)
        frames.append(pd.DataFrame({
            "attribute": g.attribute, "group": np.repeat(g.labels, n_bins), "bin": np.tile(k, g.n_groups),
            "bin_lo": np.tile(k / n_bins, g.n_groups), "bin_hi": np.tile((k + 1) / n_bins, g.n_groups),
            "n_b": n_b.ravel(), "mean_score": mean_score.ravel(), "observed_rate": observed.ravel(),
            "observed_lo": lo.ravel(), "observed_hi": hi.ravel(), "gap": (observed - mean_score).ravel()}))
    return pd.concat(frames, ignore_index=True)


def calibration_error(y_true, y_score, *, sensitive, pos_label=None, columns=None,
                      breakdown: str = "intersection", n_bins: int = 10, n_boot: int = 1000, seed: int = 0,
                      confidence: float = 0.95, min_share: float = 0.02) -> pd.DataFrame:
    """Expected calibration error per group, with a stratified-bootstrap interval.

    Parameters
    ----------
    y_true, y_score, sensitive, pos_label, columns, breakdown, n_bins
        As in :func:`calibration_curves`.
    n_boot, seed, confidence
        Bootstrap replicates, seed and coverage of the percentile interval.
    min_share : float
        Groups below this share of rows are flagged ``small_group``.

    Returns
    -------
    DataFrame
        ``attribute, group, n, positives, negatives, small_group, ece, lo, hi,
        method, n_bins, n_boot_valid``.

    Example
    -------
    >>> calibration_error([1, 0], [0.75, 0.25], sensitive=["a", "a"], n_boot=10)["ece"].item()
    0.25
    """
    confidence = check_confidence(confidence)
    min_share = check_min_share(min_share)
    frames = []
    for g, counts, sums in _binned(y_true, y_score, sensitive, pos_label, columns, breakdown, n_bins):
        n_g = counts.sum(axis=(1, 2))
        pos = counts[:, :, 1].sum(axis=1)
        ece = np.abs(counts[:, :, 1] - sums.sum(axis=2)).sum(axis=1) / n_g
        with np.errstate(invalid="ignore", divide="ignore"):
            cell_mean = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
        boot = bootstrap_counts(counts.reshape(g.n_groups, -1), n_boot=n_boot, seed=seed)
        boot = boot.reshape(n_boot, g.n_groups, n_bins, 2)
        boot_ece = np.abs(boot[..., 1] - (boot * cell_mean).sum(axis=3)).sum(axis=2) / n_g
        lo, hi, valid = percentile_interval(boot_ece, confidence=confidence)
        frames.append(pd.DataFrame({
            "attribute": g.attribute, "group": g.labels, "n": n_g, "positives": pos, "negatives": n_g - pos,
            "small_group": g.small(min_share), "ece": ece, "lo": lo, "hi": hi,
            "method": bootstrap_method(n_boot, seed) + ", cell mean scores fixed", "n_bins": n_bins,
            "n_boot_valid": valid}))
    return pd.concat(frames, ignore_index=True)
