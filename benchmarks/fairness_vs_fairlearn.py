"""Fairness engine vs fairlearn's MetricFrame, in the same process.

Like for like: 4 metrics (selection rate, TPR, FPR, accuracy) by a race-like
attribute with 5 groups (+ an "unknown" group) on the same synthetic rows,
with bootstrap intervals at the same number of replicates. Ours =
``group_metrics`` (Wilson intervals, 5 rates) + ``disparities`` (stratified
bootstrap of every rate, difference, ratio, impact ratio and criterion).

fairlearn resamples rows, so its cost is O(B x N): n_boot=100 on 100k rows
takes ~2 min on a 2-core machine and n_boot=1000 would take 20+ min. The
like-for-like ratio therefore runs both at ``--fairlearn-n-boot`` (default
100); ours is also timed at ``--n-boot`` (default 1000, what the audit uses).
A second table times ours on ``--big-rows`` rows (default 1M) with
intersectional groups race x sex x age band, B=1000, with peak memory.

Usage::

    .venv/bin/python benchmarks/fairness_vs_fairlearn.py [--fairlearn-n-boot 100] [--skip-fairlearn]
"""
from __future__ import annotations

import argparse
import resource
import statistics
import time
import tracemalloc
import warnings

import numpy as np
import pandas as pd

from deepaudit.audit.fairness import disparities, group_metrics

RACES = np.array(["white", "black", "hispanic", "asian", "other"])
SEXES = np.array(["female", "male"])
AGES = np.array(["18-29", "30-39", "40-49", "50-64", "65+"])


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Labels, predictions and race/sex/age-band columns with some missing values."""
    rng = np.random.default_rng(seed)
    race = RACES[rng.choice(5, size=n, p=[0.6, 0.13, 0.12, 0.1, 0.05])].astype(object)
    race[rng.random(n) < 0.03] = None
    sex = SEXES[rng.integers(0, 2, n)].astype(object)
    sex[rng.random(n) < 0.01] = None
    age = AGES[rng.choice(5, size=n, p=[0.2, 0.25, 0.25, 0.2, 0.1])]
    y = (rng.random(n) < 0.55).astype(np.int64)
    shift = pd.Series(race).map({"white": 0.08, "black": -0.1, "hispanic": -0.05}).fillna(0).to_numpy()
    y_pred = (rng.random(n) < 0.35 + 0.3 * y + shift).astype(np.int64)
    return y, y_pred, pd.DataFrame({"race": race, "sex": sex, "age_band": age})


def ours(y, y_pred, sensitive, n_boot: int):
    group_metrics(y, y_pred, sensitive=sensitive)
    return disparities(y, y_pred, sensitive=sensitive, n_boot=n_boot, seed=0)


def fairlearn_frame(y, y_pred, sensitive, n_boot: int):
    from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate
    from sklearn.metrics import accuracy_score

    metrics = {"selection_rate": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate,
               "accuracy": accuracy_score}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MetricFrame(metrics=metrics, y_true=y, y_pred=y_pred, sensitive_features=sensitive,
                           n_boot=n_boot, ci_quantiles=[0.025, 0.975], random_state=0)


def timed(fn, repeats: int) -> float:
    """Median wall time of ``repeats`` runs, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--fairlearn-n-boot", type=int, default=100)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--big-rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-fairlearn", action="store_true")
    args = parser.parse_args()

    y, y_pred, frame = synthetic(args.rows)
    race = frame["race"]
    race_filled = race.fillna("unknown")
    fl_b = args.fairlearn_n_boot
    print(f"# {args.rows:,} rows, race: {race_filled.nunique()} groups (incl. unknown); "
          f"4 metrics (selection rate, TPR, FPR, accuracy)")
    ours_same = timed(lambda: ours(y, y_pred, race, fl_b), args.repeats)
    ours_full = timed(lambda: ours(y, y_pred, race, args.n_boot), args.repeats)
    rows = [("deepaudit group_metrics + disparities", fl_b, ours_same),
            ("deepaudit group_metrics + disparities", args.n_boot, ours_full)]
    fl_time = None
    if not args.skip_fairlearn:
        start = time.perf_counter()
        mf = fairlearn_frame(y, y_pred, race_filled, fl_b)
        fl_time = time.perf_counter() - start
        rows.append(("fairlearn MetricFrame (1 run)", fl_b, fl_time))
        ref = group_metrics(y, y_pred, sensitive=race).set_index("group")
        worst = max(float(np.abs(mf.by_group[m] - ref.loc[mf.by_group.index, m]).max())
                    for m in ("selection_rate", "tpr", "fpr", "accuracy"))
        print(f"max |ours - fairlearn| over by-group point estimates: {worst:.1e}")
    print()
    print(f"{'engine':<40} {'B':>6} {'seconds':>10}")
    for name, b, seconds in rows:
        print(f"{name:<40} {b:>6} {seconds:>10.3f}")
    if fl_time is not None:
        print(f"\nratio fairlearn / deepaudit at the same B={fl_b}: {fl_time / ours_same:,.0f}x")
        print(f"ratio fairlearn (B={fl_b}) / deepaudit (B={args.n_boot}): {fl_time / ours_full:,.0f}x "
              f"(ours does {args.n_boot // fl_b}x the replicates)")

    big_y, big_pred, big = synthetic(args.big_rows, seed=1)
    seconds = timed(lambda: ours(big_y, big_pred, big, args.n_boot), args.repeats)
    tracemalloc.start()
    result = ours(big_y, big_pred, big, args.n_boot)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    n_groups = result.loc[result.statistic == "impact_ratio", "group"].nunique()
    print(f"\n# {args.big_rows:,} rows, intersectional race x sex x age_band: {n_groups} groups "
          f"(incl. unknown), B={args.n_boot}")
    print(f"{'deepaudit wall time (median of ' + str(args.repeats) + ')':<40} {seconds:>10.3f} s   target <= 10 s")
    print(f"{'peak traced memory (tracemalloc)':<40} {peak / 2**20:>10.1f} MiB")
    print(f"{'process max RSS (incl. data, torch)':<40} "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:>10.1f} MiB")
    print(f"{'result rows':<40} {len(result):>10}")


if __name__ == "__main__":
    main()
