"""Each group vs the reference: two-proportion z-test or Fisher's exact test, with
multiple-testing correction (docs/statistics.md).

- Test choice: the pooled two-proportion z-test, unless any expected cell of
  the 2x2 table (successes/failures x group/reference) is below 5, where the
  normal approximation is poor and Fisher's exact test is used instead.
- A comparison where either side has an empty denominator (e.g. TPR of a
  group with no positives) is not testable: ``test == "none"``, NaN p-value,
  and it is left out of the correction family.
- Family: the groups of one attribute for one metric (the question "does any
  group differ from the reference on this metric?"). Holm (default) controls
  the family-wise error rate; Benjamini-Hochberg the false discovery rate.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd

from deepaudit.audit.fairness.counts import prepare, rate_masks, rates_from_counts
from deepaudit.audit.fairness.groups import check_min_share, resolve_reference
from deepaudit.audit.special import normal_cdf  # scipy.stats.norm.sf(x) is normal_cdf(-x), without importing scipy

CORRECTIONS = ("holm", "bh")
BAD_CORRECTION = "correction={value!r} is not one of {choices}. Fix: 'holm' (family-wise) or 'bh' (false discovery)."
BAD_ALPHA = "alpha={value!r} must be strictly between 0 and 1. Fix: use e.g. 0.05."
BAD_METRIC = "metric {value!r} is not one of {choices}. Fix: pick from these (scoring_rate needs y_score)."
Z_TEST = "two-proportion z-test (pooled)"
FISHER = "fisher exact (two-sided)"
NO_TEST = "none"
UNTESTABLE_NOTE = "not testable: the group or the reference has no samples in this rate's denominator."
FISHER_NOTE = "an expected cell count is below 5, so Fisher's exact test replaces the z-test."


def two_proportion_ztest(x1, n1, x2, n2) -> tuple[np.ndarray, np.ndarray]:
    """Pooled two-proportion z-test of p1 = p2, vectorised.

    Returns
    -------
    (z, p_value) : arrays
        z = (p1 - p2) / sqrt(p (1 - p) (1/n1 + 1/n2)) with the pooled p;
        two-sided p-value. NaN where a sample is empty or p is 0 or 1.
    """
    x1, n1, x2, n2 = (np.asarray(v, dtype=float) for v in (x1, n1, x2, n2))
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = (x1 + x2) / (n1 + n2)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        z = np.where((n1 > 0) & (n2 > 0) & (se > 0), (x1 / n1 - x2 / n2) / se, np.nan)
    return z, 2 * normal_cdf(-np.abs(z))


def adjust_pvalues(p_values, method: str = "holm") -> np.ndarray:
    """Holm step-down or Benjamini-Hochberg step-up adjusted p-values.

    NaN p-values (untestable comparisons) stay NaN and do not count towards
    the family size m.

    Example
    -------
    >>> adjust_pvalues([0.01, 0.04, 0.03], "holm").round(4).tolist()
    [0.03, 0.06, 0.06]
    """
    if method not in CORRECTIONS:
        raise ValueError(BAD_CORRECTION.format(value=method, choices=CORRECTIONS))
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    ranked = p[order]
    if method == "holm":
        adjusted = np.maximum.accumulate((m - np.arange(m)) * ranked)
    else:
        adjusted = np.minimum.accumulate((m / np.arange(1, m + 1) * ranked)[::-1])[::-1]
    out[order] = np.minimum(adjusted, 1.0)
    return out


FISHER_MAX_SUPPORT = 5000


def fisher_exact(table) -> tuple[float, float]:
    """Fisher's exact test of a 2x2 table, two-sided: (sample odds ratio, p-value).

    p = the probability, under the hypergeometric law of the first cell given the margins, of every
    table no more likely than the observed one, computed in exact integer arithmetic (the weights
    C(n1, x) C(n2, n - x) of every table, rounded to float once). ``scipy.stats.fisher_exact`` defines
    the same p-value with float64 probabilities and a 1e-14 tie tolerance; a test compares the two. Odds
    ratio a*d / (b*c), inf where b or c is 0; (nan, 1.0) when a row or column is empty, as scipy.
    Supports over ``FISHER_MAX_SUPPORT`` tables go to scipy itself.
    """
    (a, b), (c, d) = ((int(v) for v in row) for row in np.asarray(table))
    if min(a, b, c, d) < 0:
        raise ValueError(f"a contingency table holds counts >= 0, got {[[a, b], [c, d]]}")
    if 0 in (a + c, b + d, a + b, c + d):
        return float("nan"), 1.0
    odds = a * d / (c * b) if c > 0 and b > 0 else float("inf")
    n1, n2, n = a + b, c + d, a + c
    lo, hi = max(0, n - n2), min(n, n1)
    if hi - lo > FISHER_MAX_SUPPORT:
        from scipy.stats import fisher_exact as scipy_fisher  # a second to import, so only here

        return odds, float(scipy_fisher([[a, b], [c, d]]).pvalue)
    weights = [math.comb(n1, lo) * math.comb(n2, n - lo)]
    for x in range(lo, hi):  # w(x+1) = w(x) (n1 - x)(n - x) / ((x + 1)(n2 - n + x + 1)), exact in integers
        weights.append(weights[-1] * (n1 - x) * (n - x) // ((x + 1) * (n2 - n + x + 1)))
    observed = weights[a - lo]
    extreme = sum(w for w in weights if w <= observed)
    return odds, min(float(Fraction(extreme, sum(weights))), 1.0)


_TEXT_COLUMNS = {"attribute", "metric", "group", "reference", "test", "correction", "note"}


def _needs_fisher(x1, n1, x2, n2) -> np.ndarray:
    total = n1 + n2
    succ = x1 + x2
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.stack([n1 * succ, n1 * (total - succ), n2 * succ, n2 * (total - succ)]) / total
    return (expected < 5).any(axis=0)


def significance_tests(y_true, y_pred, *, sensitive, pos_label=None, y_score=None, columns=None,
                       breakdown: str = "intersection", reference=None, metrics=None,
                       correction: str = "holm", alpha: float = 0.05, min_share: float = 0.02) -> pd.DataFrame:
    """Test each group's rate against the reference group's, corrected across groups.

    Parameters
    ----------
    y_true, y_pred, sensitive, pos_label, y_score, columns, breakdown, reference, min_share
        As in :func:`deepaudit.audit.fairness.metrics.group_metrics`.
    metrics : list of str, optional
        Rates to test (default all: ``selection_rate, tpr, fpr, ppv,
        accuracy`` and ``scoring_rate`` with ``y_score``).
    correction : {"holm", "bh"}
        Multiple-testing correction across the groups of one attribute and metric.
    alpha : float
        Level for ``significant`` (on the adjusted p-value).

    Returns
    -------
    DataFrame
        ``attribute, metric, group, reference, n, small_group, successes,
        trials, rate, reference_successes, reference_trials, reference_rate,
        test, statistic, p_value, p_adjusted, correction, alpha, significant,
        note``. ``statistic`` is z for the z-test and the sample odds ratio for
        Fisher's test; ``trials`` is the rate's denominator count. A single
        group has nothing to compare with: the table is empty.
    """
    if correction not in CORRECTIONS:
        raise ValueError(BAD_CORRECTION.format(value=correction, choices=CORRECTIONS))
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValueError(BAD_ALPHA.format(value=alpha))
    min_share = check_min_share(min_share)
    prep = prepare(y_true, y_pred, sensitive=sensitive, pos_label=pos_label, y_score=y_score,
                   columns=columns, breakdown=breakdown)
    masks = rate_masks(prep.n_cells)
    for name in metrics or ():
        if name not in masks:
            raise ValueError(BAD_METRIC.format(value=name, choices=list(masks)))
    columns_out = ["attribute", "metric", "group", "reference", "n", "small_group", "successes", "trials", "rate",
                   "reference_successes", "reference_trials", "reference_rate", "test", "statistic", "p_value",
                   "p_adjusted", "correction", "alpha", "significant", "note"]
    # Columns gathered over every (attribute, metric) and made into one DataFrame at the end: building one
    # small frame per pair and concatenating them was most of this function's time.
    out: dict[str, list] = {c: [] for c in columns_out}
    for groups, counts in prep.attributes:
        ref = resolve_reference(groups, reference)
        others = np.array([g for g in range(groups.n_groups) if g != ref], dtype=np.intp)
        n_g = counts.sum(axis=1)
        small = groups.small(min_share)[others]
        for name in metrics or masks:
            num, den, rate = rates_from_counts(counts, *masks[name])
            x1, n1 = num[others], den[others]
            x2, n2 = np.full(len(others), num[ref]), np.full(len(others), den[ref])
            testable = (n1 > 0) & (n2 > 0)
            fisher = testable & _needs_fisher(x1, n1, x2, n2)
            stat, p = two_proportion_ztest(x1, n1, x2, n2)
            for k in np.flatnonzero(fisher):
                table = [[x1[k], n1[k] - x1[k]], [x2[k], n2[k] - x2[k]]]
                stat[k], p[k] = fisher_exact(table)
            stat, p = np.where(testable, stat, np.nan), np.where(testable, p, np.nan)
            p_adj = adjust_pvalues(p, correction)
            k = len(others)
            cols = {
                "attribute": [groups.attribute] * k, "metric": [name] * k,
                "group": [groups.labels[g] for g in others], "reference": [groups.labels[ref]] * k,
                "n": n_g[others].tolist(), "small_group": small.tolist(),
                "successes": x1.astype(np.int64).tolist(), "trials": n1.astype(np.int64).tolist(),
                "rate": rate[others].tolist(), "reference_successes": x2.astype(np.int64).tolist(),
                "reference_trials": n2.astype(np.int64).tolist(), "reference_rate": [float(rate[ref])] * k,
                "test": np.where(~testable, NO_TEST, np.where(fisher, FISHER, Z_TEST)).tolist(),
                "statistic": stat.tolist(), "p_value": p.tolist(), "p_adjusted": p_adj.tolist(),
                "correction": [correction] * k, "alpha": [alpha] * k,
                "significant": (np.nan_to_num(p_adj, nan=1.0) < alpha).tolist(),
                "note": np.where(~testable, UNTESTABLE_NOTE, np.where(fisher, FISHER_NOTE, "")).tolist(),
            }
            for c in columns_out:
                out[c].extend(cols[c])
    if not prep.attributes:
        return pd.DataFrame(columns=columns_out)
    frame = pd.DataFrame({c: pd.Series(v, dtype=str if c in _TEXT_COLUMNS else None) for c, v in out.items()},
                         columns=columns_out)
    return frame.astype({"n": np.int64, "successes": np.int64, "trials": np.int64, "reference_successes": np.int64,
                         "reference_trials": np.int64, "rate": np.float64, "reference_rate": np.float64,
                         "statistic": np.float64, "p_value": np.float64, "p_adjusted": np.float64,
                         "alpha": np.float64, "small_group": bool, "significant": bool})
