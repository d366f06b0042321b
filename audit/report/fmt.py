"""Number formatting shared by the HTML/PDF template and the tests.

The report shows every number through these functions, so a test can format a
JSON value the same way and find it verbatim in the HTML or the PDF text.
"""
from __future__ import annotations

import math
from typing import Any

MISSING = "n/a"
#: Shown instead of a statistic the run could not compute (next to the reason where one is recorded).
NOT_COMPUTABLE = "not computable"


def num(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` decimals; p-values and tiny numbers in scientific notation.

    Examples
    --------
    >>> num(0.68900275)
    '0.689'
    >>> num(1.3e-12)
    '1.3e-12'
    >>> num(None)
    'n/a'
    """
    if value is None or isinstance(value, bool):
        return MISSING if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    v = float(value)
    if not math.isfinite(v):
        return MISSING
    if v != 0 and abs(v) < 10 ** (-digits):
        return f"{v:.1e}"
    return f"{v:.{digits}f}"


def pvalue(value: Any) -> str:
    """p-values: three decimals down to 0.001, then two significant digits in scientific notation."""
    if value is None:
        return MISSING
    v = float(value)
    return f"{v:.3f}" if v >= 1e-3 else f"{v:.1e}"


def interval(lo: Any, hi: Any, digits: int = 3) -> str:
    """``[lo, hi]`` with the same rounding as :func:`num`."""
    if lo is None and hi is None:
        return MISSING
    return f"[{num(lo, digits)}, {num(hi, digits)}]"


def pct(value: Any, digits: int = 1) -> str:
    """A share in percent: ``0.0536 -> '5.4%'``."""
    if value is None:
        return MISSING
    return f"{100 * float(value):.{digits}f}%"


def short_hash(value: Any, n: int = 12) -> str:
    return MISSING if not value else str(value)[:n]


FILTERS = {"num": num, "pvalue": pvalue, "interval": interval, "pct": pct, "short_hash": short_hash}
