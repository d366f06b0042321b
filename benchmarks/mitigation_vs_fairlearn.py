"""Mitigation what-if: our one-sweep thresholds vs refitting fairlearn's ThresholdOptimizer, same process.

Like for like: the audit's what-if (2 folds x 13 settings: demographic parity
and TPR parity at 5 tolerances, equalized odds) on the same scores, labels and
race-like groups, once with ``deepaudit.audit.fairness.thresholds`` and once with a
ThresholdOptimizer fitted per (setting, fold), the way the what-if was computed
before. Both must give the same decisions (checked here as well as in the
tests); the script prints the median of ``--repeats`` timings and the ratio.

Usage::

    .venv/bin/python benchmarks/mitigation_vs_fairlearn.py [--rows 600 20000] [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

from deepaudit.audit.fairness.mitigation import threshold_what_if
from deepaudit.audit.testing.fairlearn_reference import what_if_with_fairlearn


def synthetic(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    g = rng.choice(["white", "black", "hispanic", "asian", "other"], size=n, p=[0.6, 0.13, 0.12, 0.1, 0.05])
    shift = pd.Series(g).map({"white": 0.4, "black": -0.5, "hispanic": -0.2}).fillna(0).to_numpy()
    z = rng.normal(size=n) + shift
    y = (z + rng.normal(scale=1.0, size=n) > 0).astype(int)
    # scores rounded to 4 decimals, like a float32 model's probabilities with ties
    return np.round(1 / (1 + np.exp(-z)), 4), y, pd.Series(g, name="race")


def timed(fn, repeats):
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[600, 20000])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"{'rows':>7} {'ours s':>8} {'fairlearn s':>12} {'ratio':>7}  same decisions")
    for n in args.rows:
        s, y, sens = synthetic(n)
        t_ours, table = timed(lambda: threshold_what_if(y, s, sensitive=sens, seed=0), args.repeats)
        t_ref, ref = timed(lambda: what_if_with_fairlearn(y, s, sens, seed=0), args.repeats)
        same = all(table[(table.setting == c) & (table.tol.isna() if t is None else table.tol == t)]
                   .accuracy.iloc[0] == (pred == y).mean() for (c, t), pred in ref.items())
        print(f"{n:>7} {t_ours:>8.3f} {t_ref:>12.3f} {t_ref / t_ours:>6.1f}x  {same}")


if __name__ == "__main__":
    main()
