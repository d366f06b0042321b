"""deepaudit.audit.special against scipy (the functions it replaces) and mpmath (arbitrary precision), tails included.

Tolerances: both sides are float64 functions of the same float64 input, but they are different algorithms
calling the platform's libm (log, exp, erfc, lgamma), which may differ by an ulp or two between CPUs and C
libraries. So: 1e-13 relative for the normal quantile (measured here below 1e-15), 1e-12 for the normal
cdf above 1e-23 and 1e-10 below it (rounding x / sqrt(2) costs about x^2 ulps: measured 2.8e-14 and
2.4e-13), and 1e-9 for the F tail (measured 5e-11 against scipy and mpmath at a million degrees of
freedom): every one is far below what a p-value or an interval bound is read to, and far above platform
noise."""
import math

import mpmath
import numpy as np
import pytest
from scipy import special as sp

from deepaudit.audit.special import f_sf, normal_cdf, normal_quantile


def test_normal_quantile_equals_ndtri():
    p = np.concatenate([np.linspace(1e-12, 1 - 1e-12, 4001), [1e-300, 1e-50, 0.975, 0.995]])
    got = np.array([normal_quantile(float(v)) for v in p])
    np.testing.assert_allclose(got, sp.ndtri(p), rtol=1e-13, atol=1e-13)
    assert normal_quantile(0.975) == pytest.approx(1.959963984540054, rel=1e-13)
    assert normal_quantile(0.0) == -math.inf and normal_quantile(1.0) == math.inf
    assert math.isnan(normal_quantile(1.5)) and math.isnan(normal_quantile(float("nan")))


def test_normal_cdf_equals_ndtr_including_the_far_tail():
    x = np.linspace(-37.5, 8.5, 4601)
    # rounding x / sqrt(2) costs about x^2 ulps in the tail: 2.8e-14 at x = -10 (measured), 2.4e-13 at -37.5
    body = x > -10           # cdf above ~1e-23
    np.testing.assert_allclose(normal_cdf(x[body]), sp.ndtr(x[body]), rtol=1e-12, atol=0)
    np.testing.assert_allclose(normal_cdf(x[~body]), sp.ndtr(x[~body]), rtol=1e-10, atol=0)
    odd = normal_cdf(np.array([[np.nan, np.inf], [-np.inf, 0.0]]))
    assert odd.shape == (2, 2) and np.isnan(odd[0, 0]) and odd[0, 1] == 1.0 and odd[1, 0] == 0.0 and odd[1, 1] == 0.5


@pytest.mark.parametrize("dfn", [1, 2, 3, 4, 7, 16, 50, 200])
def test_f_sf_equals_fdtrc(dfn):
    worst = 0.0
    for dfd in [1, 2, 3, 5, 8, 15, 17, 30, 100, 595, 5000, 100_000]:
        for f in [1e-8, 1e-3, 0.1, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 100.0, 1e3, 1e5]:
            want, got = float(sp.fdtrc(dfn, dfd, f)), f_sf(dfn, dfd, f)
            if want < 1e-280:      # scipy underflows to 0 before we do
                assert got < 1e-200
                continue
            worst = max(worst, abs(got - want) / want)
    assert worst < 1e-9, worst


def test_f_sf_is_accurate_at_a_million_degrees_of_freedom():
    """At the sample sizes of the scale issue both scipy and we move in the 11th digit; mpmath decides."""
    mpmath.mp.dps = 40
    for dfn, f in [(1, 2.0), (5, 1.5), (50, 1.1), (2, 1e-3)]:
        dfd = 999_990
        x = mpmath.mpf(dfd) / (dfd + dfn * mpmath.mpf(f))
        exact = float(mpmath.betainc(mpmath.mpf(dfd) / 2, mpmath.mpf(dfn) / 2, 0, x, regularized=True))
        assert f_sf(dfn, dfd, f) == pytest.approx(exact, rel=1e-9)


def test_f_sf_edges():
    assert f_sf(2, 10, 0.0) == 1.0 and f_sf(2, 10, -1.0) == 1.0 and f_sf(2, 10, math.inf) == 0.0
    assert math.isnan(f_sf(2, 10, math.nan)) and math.isnan(f_sf(0, 10, 1.0)) and math.isnan(f_sf(2, 0, 1.0))
