"""The few statistics the audit computes without importing scipy.stats (a second of start-up on every
run) against scipy.stats itself, the oracle: float64 arithmetic on the same counts. Statistics built from
several operations (a z-test's p-value, a Wilson interval) are compared at FLOAT64_RTOL (audit/tolerance.py):
another order of operations or another libm moves the last bits on another CPU. The normal quantile keeps the
accuracy its implementation claims (tests/audit/test_special.py)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from deepaudit.audit.fairness.intervals import wilson_interval, z_value
from deepaudit.audit.fairness.proxy import anova_pvalue
from deepaudit.audit.fairness.significance import two_proportion_ztest
from deepaudit.audit.quality.randomization import rankdata
from deepaudit.audit.tolerance import FLOAT64_RTOL


@pytest.mark.parametrize("seed", range(5))
def test_average_ranks_equal_scipy(seed):
    rng = np.random.default_rng(seed)
    for a in (rng.normal(size=50), rng.integers(0, 5, size=40).astype(float), np.array([3.0]),
              np.zeros(7), rng.normal(size=(4, 6))):
        assert np.array_equal(rankdata(a), stats.rankdata(a.ravel()))


def test_anova_pvalue_equals_f_oneway():
    rng = np.random.default_rng(0)
    cases = [[rng.normal(m, 1, size=n) for m, n in zip((0, 0.3, -0.2), (30, 12, 55))],
             [rng.normal(0, 1, size=n) for n in (5, 5)],
             [rng.integers(0, 2, size=n).astype(float) for n in (40, 9, 3, 100)],
             [np.array([1.0, 1.0]), np.array([2.0, 2.0, 2.0])],     # each part constant, parts differ: p = 0
             [np.array([1.0, 1.0]), np.array([1.0, 1.0])],          # all the same: nan
             [np.array([1.0]), np.array([3.0, 4.0])]]
    for parts in cases:
        want = float(stats.f_oneway(*parts).pvalue)
        got = anova_pvalue(parts)
        if np.isnan(want):
            assert np.isnan(got)
        else:
            # the F tail is our own continued fraction (audit/special.py), scipy's is Cephes: 1e-9 relative
            # (tests/audit/test_special.py says why)
            assert got == pytest.approx(want, rel=1e-9, abs=1e-300), parts
    assert np.isnan(anova_pvalue([np.array([1.0]), np.array([2.0])]))
    assert np.isnan(anova_pvalue([np.array([1.0, 2.0]), np.array([])]))


def test_normal_quantiles_and_tails_equal_scipy():
    # AS 241 (statistics.NormalDist) and erfc (audit/special.py) against scipy's Cephes: another algorithm on the
    # same float64 input, so agreement to a few ulp rather than bit for bit (tests/audit/test_special.py)
    for c in (0.8, 0.9, 0.95, 0.99):
        assert z_value(c) == pytest.approx(float(stats.norm.ppf(0.5 + c / 2)), rel=1e-13)
    z, p = two_proportion_ztest([5, 40, 0], [20, 100, 10], [9, 60, 3], [25, 100, 10])
    np.testing.assert_allclose(p, 2 * stats.norm.sf(np.abs(z)), rtol=FLOAT64_RTOL, equal_nan=True)
    z95 = stats.norm.ppf(0.975)
    lo, hi = wilson_interval(81, 263)
    centre = (81 + z95 ** 2 / 2) / (263 + z95 ** 2)
    half = z95 * np.sqrt(81 * 182 / 263 + z95 ** 2 / 4) / (263 + z95 ** 2)
    assert (float(lo), float(hi)) == pytest.approx((centre - half, centre + half), rel=FLOAT64_RTOL)


def test_fisher_exact_equals_scipy():
    """Exact integer arithmetic against scipy's float64 hypergeometric sums: equal to 1e-10 (scipy adds
    boost's float64 cdf and sf; ours rounds the exact rational once)."""
    from deepaudit.audit.fairness.significance import fisher_exact

    rng = np.random.default_rng(0)
    tables = [[[1, 5], [60, 140]], [[0, 5], [0, 7]], [[3, 0], [0, 4]], [[0, 0], [2, 3]], [[5, 5], [5, 5]],
              [[2, 7], [8, 2]], [[0, 10], [400, 20000]], [[1, 99], [300, 29700]]]
    tables += [rng.integers(0, m, size=(2, 2)).tolist() for m in (4, 12, 60, 500) for _ in range(40)]
    for t in tables:
        want = stats.fisher_exact(t)
        odds, p = fisher_exact(np.asarray(t))
        assert (np.isnan(odds) and np.isnan(want.statistic)) or odds == want.statistic, t
        assert p == pytest.approx(want.pvalue, rel=1e-10, abs=1e-300), t
    with pytest.raises(ValueError, match="counts >= 0"):
        fisher_exact([[1, -1], [2, 3]])
