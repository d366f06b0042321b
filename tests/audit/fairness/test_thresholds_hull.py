"""The vectorised upper hull (audit/fairness/thresholds.upper_hull) keeps exactly the monotone chain's points."""
from __future__ import annotations

import numpy as np
import pytest

from deepaudit.audit.fairness.thresholds import _monotone_chain, upper_hull
from deepaudit.audit.tolerance import FLOAT64_ATOL


def _sorted(x, y):
    o = np.lexsort((y, x))
    return x[o], y[o]


@pytest.mark.parametrize("kind", ["continuous", "coarse grid", "fine grid", "roc"])
def test_upper_hull_equals_monotone_chain(kind):
    rng = np.random.default_rng(7)
    for _ in range(1500):
        n = int(rng.integers(1, 80))
        if kind == "continuous":
            x, y = rng.random(n), rng.random(n)
        elif kind == "coarse grid":        # many ties in x and repeated points
            x, y = rng.integers(0, 5, n) / 4, rng.integers(0, 5, n) / 4
        elif kind == "fine grid":
            x, y = rng.integers(0, 40, n) / 39, rng.integers(0, 40, n) / 39
        else:                              # a ROC curve: cumulative counts of sorted labels
            lab = rng.random(n) < rng.random()
            x, y = np.r_[0, np.cumsum(~lab)] / max(1, (~lab).sum()), np.r_[0, np.cumsum(lab)] / max(1, lab.sum())
        x, y = _sorted(x, y)
        assert upper_hull(x, y).tolist() == _monotone_chain(x, y).tolist()


def test_upper_hull_hands_over_to_the_chain_after_max_passes():
    rng = np.random.default_rng(3)
    x, y = _sorted(rng.random(400), rng.random(400))
    want = _monotone_chain(x, y).tolist()
    for passes in (0, 1, 2, 5):
        assert upper_hull(x, y, max_passes=passes).tolist() == want


def test_upper_hull_of_a_large_roc_curve_is_convex_and_holds_every_point_below():
    rng = np.random.default_rng(0)
    s = rng.random(100_000)
    lab = rng.random(100_000) < s
    order = np.argsort(-s)
    tp, fp = np.r_[0, np.cumsum(lab[order])], np.r_[0, np.cumsum(~lab[order])]
    x, y = _sorted(fp / fp[-1], tp / tp[-1])
    h = upper_hull(x, y)
    hx, hy = x[h], y[h]
    slopes = np.diff(hy) / np.diff(hx)
    assert np.all(np.diff(slopes) < 0)                       # strictly concave chain
    assert np.all(y <= np.interp(x, hx, hy) + FLOAT64_ATOL)          # every point on or below it (float64 inputs)
