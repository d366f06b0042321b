"""Which rows are explained: a seeded, stratified sample sized so global importance has a stated precision.

Every row is predicted and every row enters the fairness statistics; explanations (and the explanation-
quality checks on them) are computed on a sample, because their cost grows with rows while what they are read
for, the global importance of each feature, stops changing long before a million rows.

**Order.** :func:`stratified_order` puts all rows in a seeded order in which every prefix is proportionally
stratified: within one row per stratum, a prefix of ``m`` rows holds ``m * size / n`` rows of each stratum.
The strata are the predicted class crossed with every sensitive column's group (a missing value is its own
group), so small groups are represented in proportion rather than by luck.

**Size.** :func:`size_for_precision` takes the absolute attributions of a pilot (the first ``pilot`` rows of
that order) and returns the smallest sample whose 95% interval for every feature's mean ``|attribution|`` has
a half-width of at most ``precision`` times the largest feature's mean ``|attribution|``: ``n = max_j (z *
sd_j / (precision * max_k mean_k))**2``, clipped to ``[min_rows, max_rows]`` (5,000 and 20,000 by default) and
to the number of rows; sets of at most ``min_rows`` rows are explained in full. The intervals reported with
the importance table use the same formula (``mean +/- z * sd / sqrt(n)``), so the precision achieved is read
off the stored table (``achieved``).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

#: 95% two-sided normal quantile, as the importance table's intervals.
Z95 = 1.959963984540054
DEFAULT_PRECISION = 0.05
DEFAULT_PILOT = 1_000
DEFAULT_MAX_ROWS = 20_000
#: Fewer rows than this are all explained (a few seconds for a tabular model); a sized sample is never smaller.
#: Small groups then keep enough rows for their reason codes to be read per group.
DEFAULT_MIN_ROWS = 5_000

BAD_PRECISION = "importance precision must be in (0, 1), got {value!r}. Fix: pass e.g. --precision 0.05."


def strata_codes(pred: np.ndarray, groups: pd.DataFrame | None, columns: list[str]) -> np.ndarray:
    """One integer per row: its predicted class crossed with its group in every column of ``columns``."""
    keys = [np.asarray(pred)]
    for col in columns:
        if groups is not None and col in groups.columns:
            values = groups[col].astype("object").where(groups[col].notna(), "\x00missing")
            keys.append(pd.factorize(values.astype(str))[0])
    if len(keys) == 1:
        return pd.factorize(keys[0])[0].astype(np.int64)
    frame = pd.DataFrame({str(i): k for i, k in enumerate(keys)})
    return frame.groupby(list(frame.columns), sort=True).ngroup().to_numpy(np.int64)


def stratified_order(strata: np.ndarray, seed: int) -> np.ndarray:
    """All row indices in a seeded order whose every prefix is proportionally stratified (module docstring).

    Within a stratum the rows are in random order; each row's key is its (jittered) fractional position in its
    stratum, ``(rank + u) / size``, and rows are taken by increasing key, so after ``m`` rows every stratum has
    contributed ``m * size / n`` of them, give or take one.
    """
    strata = np.asarray(strata)
    n = len(strata)
    rng = np.random.default_rng(seed)
    u = rng.random(n)
    by_stratum = np.lexsort((u, strata))
    sorted_codes = strata[by_stratum]
    starts = np.r_[0, np.flatnonzero(sorted_codes[1:] != sorted_codes[:-1]) + 1] if n else np.zeros(0, int)
    sizes = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, sizes)
    key = (rank + rng.random(n)) / np.repeat(sizes, sizes)
    return by_stratum[np.argsort(key, kind="stable")]


def size_for_precision(abs_attr: np.ndarray, n_rows: int, *, precision: float = DEFAULT_PRECISION,
                       max_rows: int = DEFAULT_MAX_ROWS, min_rows: int = DEFAULT_MIN_ROWS,
                       z: float = Z95) -> dict[str, Any]:
    """The sample size for ``precision`` from a pilot's absolute attributions (rows x features).

    Returns ``{"n", "required", "pilot", "precision", "max_rows"}``; ``required`` is the unclipped size
    (it exceeds ``n`` when ``max_rows`` or the row count bound it).
    """
    if not 0 < precision < 1:
        raise ValueError(BAD_PRECISION.format(value=precision))
    a = np.abs(np.asarray(abs_attr, dtype=np.float64)).reshape(len(abs_attr), -1)
    pilot = len(a)
    top = float(a.mean(0).max()) if pilot else 0.0
    if pilot < 2 or top <= 0:
        required = pilot
    else:
        sd = a.std(0, ddof=1)
        required = int(math.ceil(float(((z * sd / (precision * top)) ** 2).max())))
    n = min(n_rows, max(pilot, min_rows, min(required, max_rows)))
    return {"n": int(n), "required": int(required), "pilot": int(pilot), "precision": float(precision),
            "min_rows": int(min_rows), "max_rows": int(max_rows)}


def achieved_precision(importance: pd.DataFrame | None) -> float | None:
    """The largest interval half-width in an importance table, relative to its largest ``mean_abs``."""
    if importance is None or not len(importance) or "mean_abs_hi" not in importance:
        return None
    top = float(importance["mean_abs"].max())
    half = importance["mean_abs_hi"] - importance["mean_abs"]   # the upper side: the lower one is clipped at 0
    if top <= 0 or half.isna().all():
        return None
    return float(half.max() / top)
