"""Intervals and tests with known answers: Wilson, the count bootstrap, z / Fisher, Holm / BH."""
import numpy as np
import pytest
from scipy.stats import binomtest, fisher_exact, norm

from deepaudit.audit.fairness import (
    adjust_pvalues,
    bootstrap_counts,
    log_ratio_interval,
    percentile_interval,
    significance_tests,
    two_proportion_ztest,
    wilson_interval,
)
from deepaudit.audit.fairness.counts import rate_masks, rates_from_counts
from deepaudit.audit.fairness.intervals import difference_interval
from deepaudit.audit.fairness.significance import FISHER, NO_TEST, Z_TEST
from deepaudit.audit.tolerance import FLOAT64_ATOL, FLOAT64_RTOL


def test_wilson_published_value():
    # 81 successes in 263 trials: Wilson 95% interval (0.2553, 0.3662), a textbook example.
    lo, hi = wilson_interval(81, 263)
    assert round(float(lo), 4) == 0.2553 and round(float(hi), 4) == 0.3662


def test_wilson_hand_formula_and_scipy():
    # counts in, float64 formulas out (no model output involved): FLOAT64_ATOL bounds the float64
    # agreement of two formulas (audit/tolerance.py)
    x, n = np.array([0, 1, 7, 50, 99, 100, 3]), np.array([100, 100, 20, 100, 100, 100, 4])
    lo, hi = wilson_interval(x, n, confidence=0.9)
    z = norm.ppf(0.95)
    p = x / n
    center = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert np.allclose(lo, np.clip(center - half, 0, 1), atol=FLOAT64_ATOL)
    assert np.allclose(hi, np.clip(center + half, 0, 1), atol=FLOAT64_ATOL)
    for xi, ni, lo_i, hi_i in zip(x, n, lo, hi):
        ci = binomtest(int(xi), int(ni)).proportion_ci(confidence_level=0.9, method="wilson")
        assert abs(lo_i - ci.low) < FLOAT64_ATOL and abs(hi_i - ci.high) < FLOAT64_ATOL


def test_wilson_edges():
    lo, hi = wilson_interval([0, 10, 0], [10, 10, 0])
    assert lo[0] == 0.0 and 0 < hi[0] < 1
    assert hi[1] == 1.0 and 0 < lo[1] < 1
    assert np.isnan(lo[2]) and np.isnan(hi[2])
    # x = 0 of n: the upper bound is z^2 / (n + z^2) (float64 formula from counts: FLOAT64_ATOL slack).
    z = norm.ppf(0.975)
    assert abs(hi[0] - z * z / (10 + z * z)) < FLOAT64_ATOL


def test_bootstrap_counts_shape_totals_seed():
    counts = np.array([[10, 5, 3, 20], [1, 0, 0, 2], [0, 0, 0, 0]])
    boot = bootstrap_counts(counts, n_boot=300, seed=5)
    assert boot.shape == (300, 3, 4)
    assert (boot.sum(axis=2) == counts.sum(axis=1)).all()
    assert (boot[:, 1, 1:3] == 0).all()  # an empty cell stays empty
    assert np.array_equal(boot, bootstrap_counts(counts, n_boot=300, seed=5))
    assert not np.array_equal(boot, bootstrap_counts(counts, n_boot=300, seed=6))


def test_count_bootstrap_matches_row_bootstrap():
    # Count sufficiency: multinomial cell draws have the row-resampling distribution.
    rng = np.random.default_rng(0)
    cells = rng.choice(4, size=400, p=[0.4, 0.1, 0.2, 0.3])
    counts = np.bincount(cells, minlength=4)[None, :]
    masks = rate_masks(4)["tpr"]
    boot = rates_from_counts(bootstrap_counts(counts, n_boot=4000, seed=1), *masks)[2][:, 0]
    rows = cells[rng.integers(0, 400, size=(4000, 400))]
    tp, fn = (rows == 3).sum(1), (rows == 2).sum(1)
    row_boot = tp / (tp + fn)
    assert abs(boot.mean() - row_boot.mean()) < 0.003
    assert abs(boot.std() / row_boot.std() - 1) < 0.06


def test_percentile_interval_matches_numpy_and_skips_nan():
    rng = np.random.default_rng(2)
    s = rng.normal(size=(999, 3))
    lo, hi, m = percentile_interval(s, confidence=0.9)
    # the same float64 draws through numpy's own quantile: identical inputs, within FLOAT64_ATOL
    assert np.allclose(lo, np.quantile(s, 0.05, axis=0), atol=FLOAT64_ATOL)
    assert np.allclose(hi, np.quantile(s, 0.95, axis=0), atol=FLOAT64_ATOL)
    s[:100, 1] = np.nan
    s[:, 2] = np.nan
    lo, hi, m = percentile_interval(s)
    assert m.tolist() == [999, 899, 0]
    assert abs(lo[1] - np.quantile(s[100:, 1], 0.025)) < FLOAT64_ATOL
    assert np.isnan(lo[2]) and np.isnan(hi[2])


def test_log_ratio_interval_zero_numerator_and_zero_denominator():
    num = np.array([0.0] * 50 + [0.5] * 950)
    den = np.array([0.5] * 990 + [0.0] * 10)
    lo, hi, m = log_ratio_interval(num, den)
    assert m == 990 and lo == 0.0 and hi == pytest.approx(1.0)
    s = np.exp(np.random.default_rng(3).normal(size=1000))
    lo, hi, _ = log_ratio_interval(s, np.ones(1000))
    assert lo == pytest.approx(np.exp(np.quantile(np.log(s), 0.025)))


@pytest.mark.parametrize("statistic", ["difference", "ratio"])
def test_bootstrap_coverage_on_simulated_population(statistic):
    # 300 simulated datasets from a known population; nominal 95% intervals.
    sizes = np.array([400, 150, 80])
    probs = np.array([[0.35, 0.15, 0.10, 0.40], [0.40, 0.20, 0.10, 0.30], [0.30, 0.10, 0.20, 0.40]])
    num_mask, den_mask = rate_masks(4)["selection_rate"]
    true = probs @ num_mask
    rng = np.random.default_rng(11)
    covered, n_sims = np.zeros(2, int), 300
    for sim in range(n_sims):
        counts = rng.multinomial(sizes, probs)
        rates = rates_from_counts(bootstrap_counts(counts, n_boot=1000, seed=sim), num_mask, den_mask)[2]
        if statistic == "difference":
            lo, hi, _ = difference_interval(rates[:, 1:], rates[:, [0]])
            target = true[1:] - true[0]
        else:
            lo, hi, _ = log_ratio_interval(rates[:, 1:], rates[:, [0]])
            target = true[1:] / true[0]
        covered += (lo <= target) & (target <= hi)
    coverage = covered / n_sims
    assert ((coverage >= 0.92) & (coverage <= 0.98)).all(), coverage


def test_ztest_hand_formula():
    z, p = two_proportion_ztest(30, 100, 45, 100)
    pooled = 75 / 200
    z_hand = (0.30 - 0.45) / np.sqrt(pooled * (1 - pooled) * (1 / 100 + 1 / 100))
    assert abs(z - z_hand) < FLOAT64_ATOL and abs(z - (-2.1908902300206643)) < 1e-9
    # our normal tail (erfc, audit/special.py) vs scipy's (Cephes): two algorithms on the same float64 z, whose
    # libm calls may differ by an ulp between platforms; FLOAT64_RTOL is millions of ulps and far below 1e-4
    assert p == pytest.approx(2 * norm.sf(abs(z_hand)), rel=FLOAT64_RTOL)
    z, p = two_proportion_ztest(0, 10, 0, 10)
    assert np.isnan(z) and np.isnan(p)


def test_significance_chooses_test_and_matches_scipy():
    # Group "a": 60/200 selected; "b": 30/150 (large cells -> z); "c": 1/6 (small -> Fisher).
    y = np.zeros(356, int)
    sens = np.array(["a"] * 200 + ["b"] * 150 + ["c"] * 6)
    p = np.concatenate([np.r_[np.ones(60), np.zeros(140)], np.r_[np.ones(30), np.zeros(120)], [1, 0, 0, 0, 0, 0]])
    res = significance_tests(y, p, sensitive=sens, metrics=["selection_rate"]).set_index("group")
    assert res.loc["b", "test"] == Z_TEST and res.loc["c", "test"] == FISHER
    # counts in, float64 out (no model involved): our function on the same counts, and scipy's Fisher test whose
    # float64 hypergeometric sum is within ~1e-14 of our exact one, so FLOAT64_ATOL holds on any CPU
    z, pz = two_proportion_ztest(30, 150, 60, 200)
    assert abs(res.loc["b", "statistic"] - z) < FLOAT64_ATOL and abs(res.loc["b", "p_value"] - pz) < FLOAT64_ATOL
    fisher = fisher_exact([[1, 5], [60, 140]])
    assert abs(res.loc["c", "p_value"] - fisher.pvalue) < FLOAT64_ATOL
    assert abs(res.loc["c", "statistic"] - fisher.statistic) < FLOAT64_ATOL
    holm = adjust_pvalues([pz, fisher.pvalue], "holm")
    assert np.allclose(res[["p_adjusted"]].values.ravel(), holm)
    assert (res["significant"] == (res["p_adjusted"] < 0.05)).all()
    assert (res["reference"] == "a").all() and (res["correction"] == "holm").all()


def test_untestable_comparison_left_out_of_family():
    y = np.array([1, 1, 0, 0, 0, 0, 1, 1])
    p = np.array([1, 0, 1, 0, 0, 1, 1, 1])
    sens = np.array(["a", "a", "a", "a", "b", "b", "c", "c"])
    res = significance_tests(y, p, sensitive=sens, metrics=["tpr"]).set_index("group")
    assert res.loc["b", "test"] == NO_TEST and np.isnan(res.loc["b", "p_value"])
    assert not res.loc["b", "significant"]


def test_holm_hand_example():
    adjusted = adjust_pvalues([0.01, 0.04, 0.03, 0.005], "holm")
    assert np.allclose(adjusted, [0.03, 0.06, 0.06, 0.02], atol=FLOAT64_ATOL)
    assert np.allclose(adjust_pvalues([0.01, np.nan, 0.04], "holm"), [0.02, np.nan, 0.04], equal_nan=True)
    assert adjust_pvalues([0.6, 0.7], "holm").tolist() == [1.0, 1.0]


def test_bh_hand_example():
    assert np.allclose(adjust_pvalues([0.01, 0.04, 0.03, 0.005], "bh"), [0.02, 0.04, 0.04, 0.02], atol=FLOAT64_ATOL)
    assert np.allclose(adjust_pvalues([0.04, 0.02, 0.03], "bh"), [0.04, 0.04, 0.04], atol=FLOAT64_ATOL)
    assert np.isnan(adjust_pvalues([np.nan], "bh")).all()
