"""Honest intervals for small groups (issue 15 item 2): score intervals that stay valid at 0/n and n/n.

Oracles: Newcombe (1998)'s worked examples, statsmodels' Newcombe interval, the Wilson equation itself, exact
coverage by enumerating every outcome of every small table, a seeded simulation through the engine, and the
engine's own significance test.
"""
from __future__ import annotations

from math import comb

import numpy as np
import pytest

from deepaudit.audit.fairness.comparisons import disparities
from deepaudit.audit.fairness.intervals import (
    mover_ratio,
    newcombe_difference,
    too_small_for_conclusion,
    wilson_interval,
    z_value,
)
from deepaudit.audit.fairness.significance import significance_tests

# Newcombe (1998), "Interval estimation for the difference between independent proportions", Stat Med 17,
# Table II: method 10 (score) and method 11 (score, continuity-corrected), printed to 4 decimals.
PUBLISHED = [
    ((56, 70, 48, 80), (0.0524, 0.3339), (0.0428, 0.3422)),
    ((9, 10, 3, 10), (0.1705, 0.8090), (0.1013, 0.8387)),
    ((6, 7, 2, 7), (0.0582, 0.8062), (-0.0290, 0.8423)),
    ((5, 56, 0, 29), (-0.0381, 0.1926), (-0.0667, 0.2037)),
    ((0, 10, 0, 20), (-0.1611, 0.2775), (-0.2005, 0.3445)),
    ((10, 10, 0, 20), (0.6791, 1.0000), (0.6014, 1.0000)),
]
PRINTED = 5e-5  # half a unit in the 4th printed decimal


@pytest.mark.parametrize("counts, method10, method11", PUBLISHED)
def test_newcombe_reproduces_the_published_examples(counts, method10, method11):
    assert np.allclose(newcombe_difference(*counts, continuity=False), method10, atol=PRINTED, rtol=0)
    assert np.allclose(newcombe_difference(*counts), method11, atol=PRINTED, rtol=0)


def test_newcombe_method10_equals_statsmodels():
    from statsmodels.stats.proportion import confint_proportions_2indep

    tables = [(x1, n1, x2, n2) for n1 in (1, 2, 5, 10) for n2 in (3, 10, 250) for x1 in range(n1 + 1)
              for x2 in sorted({0, 1, n2 // 2, n2 - 1, n2})]
    ours = np.array(newcombe_difference(*np.array(tables).T, continuity=False)).T
    for t, (lo, hi) in zip(tables, ours):
        ref = confint_proportions_2indep(t[0], t[1], t[2], t[3], method="newcomb", compare="diff")
        # float64 from integer counts, but another implementation (statsmodels takes z from scipy's ppf, we from
        # deepaudit.audit.special): measured within 2e-16; 1e-10 leaves room for any platform's libm
        assert abs(lo - ref[0]) < 1e-10 and abs(hi - ref[1]) < 1e-10, (t, (lo, hi), ref)


def test_continuity_corrected_wilson_solves_its_equation():
    z = z_value(0.95)
    for n in (1, 3, 10, 263):
        x = np.arange(n + 1)
        lo, hi = wilson_interval(x, n, continuity=True)
        assert lo[0] == 0.0 and hi[-1] == 1.0  # set exactly by the code at x = 0 and x = n, not computed
        p = x / n
        for bound, side in ((lo[1:], 1), (hi[:-1], -1)):   # lower bound below p, upper above
            q = bound
            residual = side * (p[1:] if side == 1 else p[:-1]) - side * q - 1 / (2 * n) - z * np.sqrt(q * (1 - q) / n)
            assert np.all(np.abs(residual) < 1e-9), (n, residual)
    # Newcombe (1998a) method 4, 81/263: 0.2535 to 0.3682
    assert np.allclose(wilson_interval(81, 263, continuity=True), (0.2535, 0.3682), atol=PRINTED, rtol=0)


def test_mover_ratio_limits_and_symmetry():
    # x1 = 0: the ratio can be 0; x1 = n1: the upper bound is 1 / (the reference's lower Wilson limit)
    assert mover_ratio(0, 7, 40, 50)[0] == 0.0
    l2, _ = wilson_interval(40, 50, continuity=True)
    # the same float64 quantities by two routes (the MOVER-R formula vs 1 / l2): round-off only, 1e-10 for any CPU
    assert abs(mover_ratio(7, 7, 40, 50)[1] - 1 / l2) < 1e-10
    # inverting the ratio inverts the interval
    for a in [(3, 7, 40, 50), (1, 9, 5, 6), (12, 20, 480, 506)]:
        lo, hi = mover_ratio(*a)
        ilo, ihi = mover_ratio(a[2], a[3], a[0], a[1])
        assert abs(lo - 1 / ihi) < 1e-10 and abs(hi - 1 / ilo) < 1e-10
    # undefined when the reference rate is 0
    assert np.isnan(mover_ratio(3, 7, 0, 50)).all()


def _pmf(n: int, p: np.ndarray) -> np.ndarray:
    """Binomial probabilities, shape (len(p), n + 1)."""
    k = np.arange(n + 1)
    return np.array([comb(n, int(j)) for j in k]) * p[:, None] ** k * (1 - p[:, None]) ** (n - k)


def _exact_coverage(interval, truth, n1s, n2s, grid1, grid2) -> np.ndarray:
    """For each table size and true rates, the probability over every outcome (x1, x2) that the interval holds
    the truth (conditional on the interval being defined)."""
    out = []
    for n1 in n1s:
        for n2 in n2s:
            x1, x2 = np.meshgrid(np.arange(n1 + 1), np.arange(n2 + 1), indexing="ij")
            lo, hi = interval(x1, n1, x2, n2)
            defined = ~np.isnan(lo)
            w1, w2 = _pmf(n1, grid1), _pmf(n2, grid2)
            for i, p1 in enumerate(grid1):
                for j, p2 in enumerate(grid2):
                    t = truth(p1, p2)
                    w = np.outer(w1[i], w2[j])
                    out.append((w * ((lo <= t) & (t <= hi) & defined)).sum() / (w * defined).sum())
    return np.array(out)


def test_exact_coverage_of_every_small_table():
    """Every n1, n2 <= 10 and every outcome, on a grid of true rates: coverage against the nominal 95%."""
    grid = np.linspace(0.05, 0.95, 19)
    diff = _exact_coverage(newcombe_difference, lambda a, b: a - b, range(1, 11), range(1, 11), grid, grid)
    # measured: mean 0.983, 5th percentile 0.961, minimum 0.895 (conservative, as a continuity correction is)
    assert diff.mean() >= 0.95 and np.percentile(diff, 5) >= 0.95 and diff.min() >= 0.88
    # Ratios against a reference the rule would pick (the highest rate): p2 >= 0.5 at n2 <= 10, or a larger
    # reference group. Measured: mean 0.989 / 0.984, minimum 0.933 / 0.950.
    ratio = lambda a, b: a / b  # noqa: E731
    small_ref = _exact_coverage(mover_ratio, ratio, range(1, 11), range(1, 11), grid, grid[grid >= 0.5])
    large_ref = _exact_coverage(mover_ratio, ratio, range(1, 11), (20, 50, 200), grid, grid[grid >= 0.2])
    for cov in (small_ref, large_ref):
        assert cov.mean() >= 0.95 and cov.min() >= 0.92


def test_bootstrap_of_a_full_cell_was_degenerate_and_score_intervals_are_not():
    """The issue's case: a group of 7 with 7/7 approved against a large reference, through the engine."""
    rng = np.random.default_rng(3)
    ref_pred = (rng.random(506) < 0.79).astype(int)
    y_pred = np.concatenate([np.ones(7, int), ref_pred])
    sens = np.array(["tiny"] * 7 + ["big"] * 506)
    # min_share 0: the tiny group may set the impact-ratio yardstick, as in the report
    d = disparities(y_pred, y_pred, sensitive=sens, n_boot=200, min_share=0.0).set_index(["metric", "statistic",
                                                                                          "group"])
    diff = d.loc[("selection_rate", "difference_vs_reference", "tiny")]
    ratio = d.loc[("selection_rate", "impact_ratio", "big")]
    p = significance_tests(y_pred, y_pred, sensitive=sens, metrics=["selection_rate"]).set_index("group")
    assert p.loc["tiny", "p_value"] > 0.05            # no evidence of a difference ...
    assert diff["lo"] < 0 < diff["hi"]                 # ... and the interval says the same
    assert d.loc[("selection_rate", "impact_ratio", "tiny"), "reference"] == "tiny"
    assert ratio["lo"] < ratio["value"] < 1 < ratio["hi"]  # the big group may be at parity with the tiny one


def test_interval_and_test_agree_away_from_the_boundary():
    """Every table n1 <= 10 against references up to 500: an interval excluding 0 comes with the engine's test
    p <= 0.10, and a test p < 0.018 with an interval excluding 0; they differ only near the 5% line."""
    worst_excluding, best_including = 0.0, 1.0
    for n1 in range(1, 11):
        for n2 in (1, 2, 3, 5, 8, 10, 50, 200, 500):
            for x1 in range(n1 + 1):
                xs = np.arange(n2 + 1)
                lo, hi = newcombe_difference(np.full(n2 + 1, x1), n1, xs, n2)
                excludes = (lo > 0) | (hi < 0)
                for x2, ex in zip(xs, excludes):
                    p = _engine_p(x1, n1, int(x2), n2)
                    if ex:
                        worst_excluding = max(worst_excluding, p)
                    else:
                        best_including = min(best_including, p)
    # measured: 0.100 and 0.0187
    assert worst_excluding <= 0.10 and best_including >= 0.018, (worst_excluding, best_including)


def _engine_p(x1: int, n1: int, x2: int, n2: int) -> float:
    """The significance module's per-group p-value for one table (z test, Fisher where expected counts < 5)."""
    from deepaudit.audit.fairness.significance import _needs_fisher, fisher_exact, two_proportion_ztest

    if _needs_fisher(np.array([x1]), np.array([n1]), np.array([x2]), np.array([n2]))[0]:
        return fisher_exact([[x1, n1 - x1], [x2, n2 - x2]])[1]
    return float(two_proportion_ztest(x1, n1, x2, n2)[1])


def test_coverage_by_simulation_through_the_engine():
    """Seeded simulation of small groups against a reference: the stored rows cover the true values."""
    rng = np.random.default_rng(11)
    p_small, p_ref, n_small, n_ref, sims = 0.9, 0.75, 7, 300, 200
    hit_d = hit_r = 0
    for _ in range(sims):
        pred = np.concatenate([rng.random(n_small) < p_small, rng.random(n_ref) < p_ref]).astype(int)
        sens = np.array(["small"] * n_small + ["ref"] * n_ref)
        d = disparities(pred, pred, sensitive=sens, n_boot=20, min_share=0.0).set_index(["metric", "statistic",
                                                                                          "group"])
        r = d.loc[("selection_rate", "difference_vs_reference", "small")]
        hit_d += r["lo"] <= p_small - p_ref <= r["hi"]
        r = d.loc[("selection_rate", "ratio_vs_reference", "small")]
        hit_r += r["lo"] <= p_small / p_ref <= r["hi"]
    # exact coverage of these two tables is 0.97 (difference) and 0.97 (ratio); 200 draws: sd ~0.012
    assert hit_d / sims >= 0.93 and hit_r / sims >= 0.93


def test_too_small_for_any_conclusion_is_marked():
    # against 400 of 506: 0 of 2 still has an interval reaching 0 (continuity-corrected); 0 of 3 does not
    assert too_small_for_conclusion([1, 2, 3, 30], [400] * 4, [506] * 4).tolist() == [True, True, False, False]
    pred = np.r_[np.ones(1, int), (np.arange(506) % 5 > 0).astype(int)]
    sens = np.array(["one"] + ["big"] * 506)
    d = disparities(pred, pred, sensitive=sens, n_boot=50)
    row = d[(d.metric == "selection_rate") & (d.statistic == "difference_vs_reference")].iloc[0]
    assert row["group"] == "one" and row["too_small"] and "too small for any conclusion" in row["note"]
    impact = d[(d.metric == "selection_rate") & (d.statistic == "impact_ratio")].set_index("group")
    # the group of one is under the minimum share, so never the yardstick; its own ratio is marked
    assert impact.loc["one", "reference"] == "big" and impact.loc["one", "too_small"]
    # the reference's own row is the literal 1.0 the engine writes, not a computed ratio
    assert not impact.loc["big", "too_small"] and impact.loc["big", "lo"] == impact.loc["big", "hi"] == 1.0


def test_an_undefined_rate_is_not_called_too_small():
    # TPR: the reference group has no positives, so every TPR comparison with it is undefined, not "too small"
    y = np.r_[np.zeros(50, int), np.ones(40, int), np.zeros(10, int)]
    pred = np.r_[np.ones(50, int), np.ones(30, int), np.zeros(20, int)]
    sens = np.array(["ref"] * 50 + ["b"] * 50)
    d = disparities(y, pred, sensitive=sens, reference="ref", n_boot=50)
    tpr = d[(d.metric == "tpr") & (d.statistic == "difference_vs_reference")]
    assert len(tpr) == 1 and not tpr["too_small"].any() and "too small" not in tpr["note"].iloc[0]
