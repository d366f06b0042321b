"""The tolerance policy for numbers that come out of float32 computation.

A float32 model's logits move in their last bits between CPUs, BLAS kernels,
thread counts and batch sizes, because each of those changes the order in which
a matrix product sums its terms (float addition is not associative). Anything
derived from those logits -- probabilities, ROC AUC, Brier score, calibration,
attributions -- inherits that noise. Such numbers are compared with
:data:`FLOAT32_RTOL` / :data:`FLOAT32_ATOL`, never with equality:

* float32 has a unit roundoff of 2**-24 ~ 6e-8. A dot product of ``k`` terms
  summed in a different order differs by at most ~``k * 6e-8`` relative to the
  sum of absolute terms, and in practice by ~``sqrt(k) * 6e-8``; for the layer
  widths of the bundled models (<= a few hundred terms) that is ~1e-6 on a logit.
  A metric averaged over the evaluation set carries the same relative noise.
  ``rtol = 1e-5`` sits an order of magnitude above that and several orders below
  any change that matters (a metric reported to three decimals).
* ``atol = 1e-7`` covers values near zero (a difference of two near-equal
  rates, a Brier score of a near-perfect model) where a relative test is
  meaningless.

What is compared exactly, because it is exact: counts (``n_test``,
``n_correct``: an integer either matches or the model changed), hashes, and
float64 computations over identical inputs (our fairness engine against
fairlearn on the same predictions), up to :data:`FLOAT64_RTOL` / :data:`FLOAT64_ATOL`:
two implementations may sum in another order.

A count can in principle move when a probability sits within float32 noise
of the decision threshold (0.5); that is reported as a mismatch, with the card
value, the recomputed value and the difference, so a user can judge it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

#: Relative tolerance for float32-derived numbers (see the module docstring).
FLOAT32_RTOL = 1e-5
#: Absolute tolerance for float32-derived numbers near zero.
FLOAT32_ATOL = 1e-7


#: Two implementations of one float64 formula on identical float64 inputs (the fairness engine against
#: fairlearn, metrics against scikit-learn, intervals against scipy/statsmodels): they differ only in summation
#: order (numpy's pairwise sums follow the CPU's SIMD width) and an ulp of libm, at worst ~n * 2.2e-16 over n
#: terms. 1e-9 covers millions of terms on any CPU and is still far below any difference that matters (a
#: rate reported to three decimals). Never for float32 model outputs: those take FLOAT32_RTOL/ATOL.
FLOAT64_RTOL = 1e-9
#: Absolute counterpart of :data:`FLOAT64_RTOL` (rates, differences of rates, p-values near 0).
FLOAT64_ATOL = 1e-9


def close(a: float, b: float, *, rtol: float = FLOAT32_RTOL, atol: float = FLOAT32_ATOL) -> bool:
    """``|a - b| <= atol + rtol * max(|a|, |b|)`` (symmetric; NaN equals only NaN)."""
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= atol + rtol * max(abs(a), abs(b))


def tree_differences(a: Any, b: Any, *, rtol: float = FLOAT32_RTOL, atol: float = FLOAT32_ATOL,
                     path: str = "$") -> list[str]:
    """Where two JSON-like trees (dicts, lists, numbers, strings) differ: non-integer numbers beyond
    :func:`close`, anything else (keys, lengths, strings, booleans, integers) not equal. Empty when they agree.

    For results computed twice from a float32 model (another thread count, another executor), whose floats may
    move in their last bits while their structure and counts may not.
    """
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return [f"{path}: keys {list(a)} != {list(b)}"]
        return [d for k in a for d in tree_differences(a[k], b[k], rtol=rtol, atol=atol, path=f"{path}.{k}")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b))
                for d in tree_differences(x, y, rtol=rtol, atol=atol, path=f"{path}[{i}]")]
    numbers = (int, float)
    if (isinstance(a, float) or isinstance(b, float)) and isinstance(a, numbers) and isinstance(b, numbers) \
            and not isinstance(a, bool) and not isinstance(b, bool):
        return [] if close(float(a), float(b), rtol=rtol, atol=atol) else [f"{path}: {a!r} != {b!r}"]
    return [] if a == b and type(a) is type(b) else [f"{path}: {a!r} != {b!r}"]


def is_count(value: Any) -> bool:
    """Counts are integers by type (``n_test``, ``n_correct``, ``n_with_mark``)."""
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class MetricDiff:
    """One metric that did not match: the card value, the recomputed one and their difference."""

    key: str
    card: Any
    recomputed: Any
    exact: bool

    @property
    def difference(self) -> float | None:
        try:
            return float(self.recomputed) - float(self.card)
        except (TypeError, ValueError):
            return None

    def describe(self) -> str:
        how = "exact count" if self.exact else f"tolerance rtol={FLOAT32_RTOL:g} atol={FLOAT32_ATOL:g}"
        d = self.difference
        diff = "missing" if d is None else f"{d:+.3g}"
        return f"{self.key}: card {self.card!r}, recomputed {self.recomputed!r}, difference {diff} ({how})"

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.key, "card": self.card, "recomputed": self.recomputed,
                "difference": self.difference, "exact": self.exact}


def compare_metrics(recomputed: Mapping[str, Any], card: Mapping[str, Any], *, rtol: float = FLOAT32_RTOL,
                    atol: float = FLOAT32_ATOL) -> list[MetricDiff]:
    """Metrics of ``card`` that ``recomputed`` does not reproduce; empty when all match.

    Counts must be equal; every other number must be :func:`close` under the
    float32 policy (or the ``rtol``/``atol`` given). A metric missing from
    ``recomputed`` is a mismatch.
    """
    diffs = []
    for key, want in card.items():
        got = recomputed.get(key)
        exact = is_count(want)
        if got is None:
            ok = False
        elif exact:
            ok = got == want
        else:
            ok = close(got, want, rtol=rtol, atol=atol)
        if not ok:
            diffs.append(MetricDiff(key, want, got, exact))
    return diffs
