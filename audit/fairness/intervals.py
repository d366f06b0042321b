"""Interval machinery: Wilson score intervals, the count-level stratified bootstrap, and the normal intervals
of the overall performance metrics (Hanley & McNeil for ROC AUC, a per-sample mean for log loss and Brier).

Why counts: every rate is a function of per-group cell counts, and resampling
a group's rows with replacement gives cell counts distributed
Multinomial(n_g, observed cell shares). Drawing those counts directly costs
O(B x groups x cells) instead of O(B x rows), with the same distribution.

Undefined replicates: a replicate where a statistic is undefined (a rate
with an empty denominator, e.g. a small group drawing no positives for TPR,
or a ratio whose denominator rate is 0) is excluded from that statistic's
percentiles; the number of replicates kept is reported as ``n_boot_valid``.
Intervals are NaN when no replicate is valid.
"""
from __future__ import annotations

import math

import numpy as np

from deepaudit.audit.special import normal_quantile  # scipy.stats.norm.ppf, without importing scipy

BAD_CONFIDENCE = "confidence={value!r} must be a number strictly between 0 and 1. Fix: use e.g. 0.95."
BAD_N_BOOT = "n_boot={value!r} must be a positive integer. Fix: use e.g. 1000 (docs/statistics.md: B >= 1000)."
BAD_COUNTS = ("x and n must be non-negative counts with x <= n; got x={x!r}, n={n!r}. Fix: pass successes "
              "and trials.")


def check_confidence(confidence: float) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ValueError(BAD_CONFIDENCE.format(value=confidence))
    return float(confidence)


def check_n_boot(n_boot: int) -> int:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(BAD_N_BOOT.format(value=n_boot))
    return int(n_boot)


def wilson_interval(x, n, *, confidence: float = 0.95, continuity: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion, vectorised.

    Parameters
    ----------
    x, n : array-like of int
        Successes and trials (broadcast together).
    confidence : float
        Two-sided coverage, default 0.95.
    continuity : bool
        With Yates' continuity correction (Newcombe 1998, method 4): the bounds solve
        ``|x/n - p| - 1/(2n) = z sqrt(p(1 - p)/n)``. Wider; used by the two-group intervals below.

    Returns
    -------
    (lo, hi) : ndarrays of float
        NaN where ``n == 0`` (the rate is undefined); exactly 0 when
        ``x == 0`` and exactly 1 when ``x == n``.

    Example
    -------
    >>> lo, hi = wilson_interval(81, 263)
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.2553, 0.3662)
    """
    z = normal_quantile(0.5 + check_confidence(confidence) / 2)
    x = np.asarray(x, dtype=float)
    n = np.asarray(n, dtype=float)
    if np.any(x < 0) or np.any(x > n):
        raise ValueError(BAD_COUNTS.format(x=x.tolist(), n=n.tolist()))
    with np.errstate(invalid="ignore", divide="ignore"):
        safe_n = np.where(n > 0, n, 1.0)
        denom = safe_n + z * z
        if continuity:
            p, zz = x / safe_n, z * z
            lo = (2 * x + zz - 1 - z * np.sqrt(np.maximum(zz - 2 - 1 / safe_n + 4 * p * (safe_n * (1 - p) + 1), 0)))
            hi = (2 * x + zz + 1 + z * np.sqrt(np.maximum(zz + 2 - 1 / safe_n + 4 * p * (safe_n * (1 - p) - 1), 0)))
            lo, hi = np.clip(lo / (2 * denom), 0.0, 1.0), np.clip(hi / (2 * denom), 0.0, 1.0)
        else:
            center = (x + z * z / 2) / denom
            half = z / denom * np.sqrt(x * (safe_n - x) / safe_n + z * z / 4)
            lo = np.clip(center - half, 0.0, 1.0)
            hi = np.clip(center + half, 0.0, 1.0)
    # Round-off can leave 1e-17 where the bound is exactly 0 or 1.
    lo = np.where(x == 0, 0.0, lo)
    hi = np.where(x == n, 1.0, hi)
    empty = n == 0
    return np.where(empty, np.nan, lo), np.where(empty, np.nan, hi)


def bootstrap_counts(counts, *, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """Stratified bootstrap replicates of per-group cell counts.

    Parameters
    ----------
    counts : array of int, shape (n_groups, n_cells)
        Observed cell counts of each group.
    n_boot : int
        Number of replicates B.
    seed : int
        Seed of ``np.random.default_rng``; the same seed gives the same draws.

    Returns
    -------
    ndarray of int64, shape (n_boot, n_groups, n_cells)
        Each group's row total is preserved in every replicate (resampling
        within groups), as when rows are resampled within each group.
    """
    counts = np.asarray(counts, dtype=np.int64)
    totals = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals[:, None] > 0, counts / np.maximum(totals, 1)[:, None], 0.0)
    rng = np.random.default_rng(seed)
    return rng.multinomial(totals, shares, size=(check_n_boot(n_boot), counts.shape[0])).astype(np.int64)


def percentile_interval(samples, *, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile interval per column of ``samples``, ignoring invalid (NaN) replicates.

    Parameters
    ----------
    samples : array, shape (B,) or (B, k)
        Replicates; NaN marks an undefined replicate. ``-inf``/``inf`` are
        valid values (a log ratio whose numerator rate is 0).
    confidence : float

    Returns
    -------
    (lo, hi, n_valid) : arrays of shape (k,) (or scalars-as-0-d arrays)
        Linear interpolation between order statistics, as ``np.quantile``.
    """
    alpha = (1 - check_confidence(confidence)) / 2
    s = np.asarray(samples, dtype=float)
    squeeze = s.ndim == 1
    if squeeze:
        s = s[:, None]
    ordered = np.sort(s, axis=0)  # NaN sorts last
    m = (~np.isnan(s)).sum(axis=0)
    bounds = []
    for q in (alpha, 1 - alpha):
        h = (np.maximum(m, 1) - 1) * q
        below = np.floor(h).astype(np.intp)
        above = np.minimum(below + 1, np.maximum(m - 1, 0))
        frac = h - below
        a = np.take_along_axis(ordered, below[None, :], axis=0)[0]
        b = np.take_along_axis(ordered, above[None, :], axis=0)[0]
        with np.errstate(invalid="ignore"):
            value = a + (b - a) * frac
        # An infinite neighbour makes the interpolation inf - inf; the limit is that infinity.
        value = np.where(np.isneginf(a), -np.inf, np.where(np.isposinf(b), np.inf, value))
        value = np.where(frac == 0, a, value)
        bounds.append(np.where(m > 0, value, np.nan))
    lo, hi = bounds
    if squeeze:
        return lo[0], hi[0], m[0]
    return lo, hi, m


def log_ratio_interval(numerator, denominator, *,
                       confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile interval of ``numerator / denominator`` computed on the log scale.

    Replicates with an undefined numerator, or a denominator that is
    undefined or 0, are invalid. A numerator of 0 gives log ratio ``-inf``
    (ratio 0), which is kept.
    """
    num = np.asarray(numerator, dtype=float)
    den = np.asarray(denominator, dtype=float)
    valid = ~np.isnan(num) & ~np.isnan(den) & (den > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(valid, np.log(np.where(valid, num, 1.0)) - np.log(np.where(valid, den, 1.0)), np.nan)
    lo, hi, m = percentile_interval(logs, confidence=confidence)
    return np.exp(lo), np.exp(hi), m


def difference_interval(a, b, *, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile interval of ``a - b``; replicates where either is undefined are invalid."""
    return percentile_interval(np.asarray(a, dtype=float) - np.asarray(b, dtype=float), confidence=confidence)


def bootstrap_method(n_boot: int, seed: int, *, log_scale: bool = False) -> str:
    """The method string every bootstrap row carries, so a reviewer can rerun it."""
    return f"stratified bootstrap percentile, B={n_boot}, seed={seed}" + (", log scale" if log_scale else "")


def z_value(confidence: float = 0.95) -> float:
    """The two-sided standard-normal quantile of ``confidence`` (1.959963984540054 at 0.95)."""
    return normal_quantile(0.5 + check_confidence(confidence) / 2)


def hanley_mcneil_interval(auc: float, n_pos: int, n_neg: int, *,
                           confidence: float = 0.95) -> tuple[float, float, float]:
    """Normal interval of a ROC AUC with the Hanley & McNeil (1982) standard error.

    Returns
    -------
    (lo, hi, se) : floats
        ``lo``/``hi`` clipped to [0, 1]. NaN bounds where the standard error is 0 (an AUC of exactly 0 or 1,
        whatever n: a zero-width interval would look certain) or undefined (no positives or no negatives).
    """
    auc = float(auc)
    if n_pos < 1 or n_neg < 1:
        return math.nan, math.nan, math.nan
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)) / (n_pos * n_neg)
    se = math.sqrt(max(var, 0.0))
    if not se:
        return math.nan, math.nan, 0.0
    z = z_value(confidence)
    return max(0.0, auc - z * se), min(1.0, auc + z * se), se


def mean_interval(values, *, point: float | None = None, confidence: float = 0.95) -> tuple[float, float]:
    """Normal-approximation interval of a per-sample mean: ``point +/- z * sd(values, ddof=1) / sqrt(n)``.

    ``point`` defaults to the mean of ``values`` (pass the stored estimate when it is computed elsewhere, e.g.
    scikit-learn's log loss). NaN bounds for fewer than two values: one sample has no spread to estimate, and
    a zero-width interval would claim certainty.
    """
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        return math.nan, math.nan
    centre = float(v.mean()) if point is None else float(point)
    half = z_value(confidence) * float(np.std(v, ddof=1)) / math.sqrt(v.size)
    return centre - half, centre + half


# --- Two-proportion score intervals for a group against a reference group --------------------------------------
#
# A bootstrap of a 0/n or n/n cell resamples to the same rate, so a group of 7 with 7/7 approved gets a
# difference interval that only reflects the reference's variation. The intervals below are built from each
# side's Wilson score interval (MOVER: the method of variance estimates recovery, Zou & Donner 2008), which stay
# valid at 0/n and n/n: Newcombe's hybrid score interval for a difference (Newcombe 1998, method 11) and
# MOVER-R for a ratio (Donner & Zou 2012). Both use the continuity-corrected Wilson limits: without the
# correction a single applicant (0 of 1 against 3 of 3) gives a difference interval excluding 0 while Fisher's
# exact p is 0.25; with it, over every table with n <= 10 against references of n <= 500, an interval excludes 0
# only when the engine's test gives p <= 0.10, and every p < 0.018 has an interval excluding 0 (the two differ
# only near the 5% boundary). Exact coverage at n <= 10 is tested by enumeration (docs/statistics.md).

SCORE_DIFFERENCE_METHOD = "Newcombe hybrid score, continuity-corrected (Newcombe 1998 method 11), {confidence:.0%}"
SCORE_RATIO_METHOD = "MOVER-R score ratio, continuity-corrected Wilson limits (Donner & Zou 2012), {confidence:.0%}"


def newcombe_difference(x1, n1, x2, n2, *, confidence: float = 0.95,
                        continuity: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval for ``x1/n1 - x2/n2``, vectorised.

    ``lo = d - sqrt((p1 - l1)^2 + (u2 - p2)^2)``, ``hi = d + sqrt((u1 - p1)^2 + (p2 - l2)^2)`` with (l, u)
    each proportion's Wilson interval, continuity-corrected by default (method 11; ``continuity=False`` is
    method 10, equal to statsmodels' ``confint_proportions_2indep(method="newcomb")``). Both reproduce the
    worked examples of Newcombe (1998), Table II (tested). NaN where either side has no trials.
    """
    x1, n1, x2, n2 = (np.asarray(v, dtype=float) for v in (x1, n1, x2, n2))
    l1, u1 = wilson_interval(x1, n1, confidence=confidence, continuity=continuity)
    l2, u2 = wilson_interval(x2, n2, confidence=confidence, continuity=continuity)
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p2 = x1 / np.where(n1 > 0, n1, np.nan), x2 / np.where(n2 > 0, n2, np.nan)
        d = p1 - p2
        lo = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
        hi = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return np.clip(lo, -1.0, 1.0), np.clip(hi, -1.0, 1.0)


def mover_ratio(x1, n1, x2, n2, *, confidence: float = 0.95,
                continuity: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """MOVER-R interval for the ratio ``(x1/n1) / (x2/n2)`` from the two Wilson intervals, vectorised.

    With p = x/n and (l, u) Wilson limits::

        lo = (p1 p2 - sqrt((p1 p2)^2 - l1 u2 (2 p1 - l1)(2 p2 - u2))) / (u2 (2 p2 - u2))
        hi = (p1 p2 + sqrt((p1 p2)^2 - u1 l2 (2 p1 - u1)(2 p2 - l2))) / (l2 (2 p2 - l2))

    Valid at x1 = 0 (lo = 0) and x1 = n1 (hi = 1 / l2). NaN where the ratio is undefined (``x2 == 0`` or no
    trials); a negative discriminant from round-off is read as 0. Wilson limits continuity-corrected by default,
    as in :func:`newcombe_difference`.
    """
    x1, n1, x2, n2 = (np.asarray(v, dtype=float) for v in (x1, n1, x2, n2))
    l1, u1 = wilson_interval(x1, n1, confidence=confidence, continuity=continuity)
    l2, u2 = wilson_interval(x2, n2, confidence=confidence, continuity=continuity)
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p2 = x1 / np.where(n1 > 0, n1, np.nan), x2 / np.where(n2 > 0, n2, np.nan)
        pp = p1 * p2
        lo = (pp - np.sqrt(np.maximum(pp ** 2 - l1 * u2 * (2 * p1 - l1) * (2 * p2 - u2), 0.0))) / (u2 * (2 * p2 - u2))
        hi = (pp + np.sqrt(np.maximum(pp ** 2 - u1 * l2 * (2 * p1 - u1) * (2 * p2 - l2), 0.0))) / (l2 * (2 * p2 - l2))
    undefined = ~(x2 > 0) | ~(n1 > 0)
    lo = np.where(x1 == 0, 0.0, np.maximum(lo, 0.0))
    return np.where(undefined, np.nan, lo), np.where(undefined, np.nan, hi)


def too_small_for_conclusion(n1, x2, n2, *, confidence: float = 0.95) -> np.ndarray:
    """True where a group of ``n1`` cannot differ from the reference (``x2`` of ``n2``) whatever its outcome.

    Judged with the interval the tables show: even 0 of ``n1`` and ``n1`` of ``n1`` give a Newcombe difference
    interval that contains 0, so no rate the group could have would be a finding. Such a group is reported
    and marked, never read as "no difference". False for groups with a conclusion possible; a group with no
    trials is too small.
    """
    n1, x2, n2 = (np.asarray(v, dtype=float) for v in (n1, x2, n2))
    out = []
    for x1 in (np.zeros_like(n1), n1):
        lo, hi = newcombe_difference(x1, n1, x2, n2, confidence=confidence)
        with np.errstate(invalid="ignore"):
            out.append(~((lo > 0) | (hi < 0)))
    return out[0] & out[1]
