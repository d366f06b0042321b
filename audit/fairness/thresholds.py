"""Per-group randomised thresholds (Hardt et al. 2016) from one sweep over sorted scores.

The same post-processing as fairlearn's ``ThresholdOptimizer`` with
``objective="accuracy_score"``, ``flip=False`` and ``grid_size=1000``, built
so that a what-if with many (constraint, tolerance, fold) settings pays for
sorting once:

1. per group, the scores are sorted once (:class:`GroupCurve`); every distinct
   score gives one operating point (cumulative true/false positives, threshold
   halfway to the next distinct score), so any rate at any threshold is a
   division of two cumulative counts;
2. per constraint, the points are placed in the (constraint metric, objective)
   plane, their upper convex hull is taken (Andrew's monotone chain) and
   interpolated on the grid x = 0, 0.001, ..., 1: a point between two hull
   vertices is reached by randomising between their two thresholds;
3. the grid point maximising the pooled objective is chosen (with a tolerance,
   every group may sit at its own grid point as long as their constraint
   metrics span at most ``tol``; equalized odds takes the lower envelope of the
   groups' ROC hulls and mixes each group with a constant prediction).

Every floating-point step is written in the order fairlearn 0.15 performs it,
so the chosen thresholds, mixing probabilities and (with the same seed)
randomised decisions are the same as fairlearn's; ``tests/audit/fairness/
test_thresholds.py`` checks that against fairlearn on random and real data.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

GRID_SIZE = 1000
# constraint -> the rate equalised across groups (fairlearn's names)
SIMPLE_CONSTRAINTS = {"demographic_parity": "selection_rate", "selection_rate_parity": "selection_rate",
                      "true_positive_rate_parity": "true_positive_rate",
                      "false_positive_rate_parity": "false_positive_rate",
                      "true_negative_rate_parity": "true_negative_rate",
                      "false_negative_rate_parity": "false_negative_rate"}
CONSTRAINTS = (*SIMPLE_CONSTRAINTS, "equalized_odds")


@dataclass(frozen=True)
class GroupCurve:
    """A group's operating points: one per distinct score, from "nobody selected" to "everybody".

    ``tp``/``fp`` are the positives/negatives scoring strictly above
    ``threshold`` (the first point has threshold +inf, the last -inf).
    """

    tp: np.ndarray
    fp: np.ndarray
    threshold: np.ndarray
    positives: int
    negatives: int
    #: :meth:`on_grid` results by (x_metric, y_metric, grid_size): a what-if fits every tolerance on the same hull
    _on_grid: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def from_scores(cls, scores: np.ndarray, labels: np.ndarray) -> "GroupCurve":
        labels = np.asarray(labels, dtype=np.int64)
        pos = int(labels.sum())
        neg = len(labels) - pos
        if pos == 0 or neg == 0:
            raise ValueError("a group needs both labels to fit thresholds")
        order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
        s, y = np.asarray(scores, dtype=np.float64)[order], labels[order]
        last = np.r_[s[1:] != s[:-1], True]  # last row of each run of equal scores
        tp, fp = np.cumsum(y)[last], np.cumsum(1 - y)[last]
        distinct = s[last]
        # halfway to the next distinct score; the last one is halfway to -inf
        thr = (distinct + np.r_[distinct[1:], -np.inf]) / 2
        return cls(np.r_[0, tp], np.r_[0, fp], np.r_[np.inf, thr], pos, neg)

    def rate(self, metric: str) -> np.ndarray:
        tp, fp, pos, neg = self.tp, self.fp, self.positives, self.negatives
        n = pos + neg
        if metric == "selection_rate":
            return (tp + fp) / n
        if metric == "true_positive_rate":
            return tp / pos
        if metric == "false_positive_rate":
            return fp / neg
        if metric == "true_negative_rate":
            return (neg - fp) / neg
        if metric == "false_negative_rate":
            return (pos - tp) / pos
        if metric == "accuracy_score":
            return (tp + (neg - fp)) / n
        raise ValueError(f"unknown rate {metric!r}")

    def hull(self, x_metric: str, y_metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Upper convex hull of the points in the (x_metric, y_metric) plane: x, y, threshold."""
        x, y = self.rate(x_metric), self.rate(y_metric)
        order = np.lexsort((y, x))
        sel = order[upper_hull(x[order], y[order])]
        return x[sel], y[sel], self.threshold[sel]

    def on_grid(self, x_metric: str, y_metric: str, grid_size: int = GRID_SIZE) -> "_Grid":
        """The :meth:`hull` interpolated on x = 0, 1/grid_size, ..., 1; computed once per curve and metrics."""
        key = (x_metric, y_metric, grid_size)
        if key not in self._on_grid:
            out = _interpolate(*self.hull(x_metric, y_metric), _grid(grid_size))
            for a in (out.y, out.p0, out.p1, out.t0, out.t1):
                a.flags.writeable = False   # shared by every fit that reads it
            self._on_grid[key] = out
        return self._on_grid[key]


def _monotone_chain(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Andrew's monotone chain (upper half) over points sorted by (x, y): the reference :func:`upper_hull` equals."""
    x, y = xs.tolist(), ys.tolist()
    keep: list[int] = []
    for i in range(len(x)):
        while len(keep) >= 2:
            i1, i0 = keep[-1], keep[-2]
            if (y[i1] - y[i0]) * (x[i] - x[i0]) <= (y[i] - y[i0]) * (x[i1] - x[i0]):
                keep.pop()
            else:
                break
        keep.append(i)
    return np.asarray(keep, dtype=np.int64)


def upper_hull(xs: np.ndarray, ys: np.ndarray, *, max_passes: int = 64) -> np.ndarray:
    """Positions of the upper convex hull of points sorted by (x, y): those :func:`_monotone_chain` keeps.

    Vectorised pruning: every interior point on or below the segment joining its current neighbours is not a
    vertex of the upper hull (a strict vertex lies strictly above any segment between a point left of it and
    one right of it), so all such points are dropped at once, and passes repeat until none is left. The
    strictly convex chain that remains from the first to the last point is unique, so it is the chain the
    monotone chain builds (a test compares both on random and tied points). A ROC curve of 100,000 scores
    needs a handful of passes; after ``max_passes`` the loop hands what is left to the monotone chain.
    """
    keep = np.arange(len(xs))
    if len(xs) > 1 and ((xs[1:] == xs[:-1]) & (ys[1:] == ys[:-1])).any():
        # Repeated points (never from a ROC curve: distinct thresholds have distinct counts) break the argument
        # above (each copy lies on its neighbours' segment); the monotone chain decides which copy stays.
        return _monotone_chain(xs, ys)
    for _ in range(max_passes):
        if len(keep) < 3:
            return keep
        x, y = xs[keep], ys[keep]
        # cross-product test of _monotone_chain for each interior point i against (i-1, i+1)
        below = (y[1:-1] - y[:-2]) * (x[2:] - x[:-2]) <= (y[2:] - y[:-2]) * (x[1:-1] - x[:-2])
        if not below.any():
            return keep
        keep = keep[np.r_[True, ~below, True]]
    return keep[_monotone_chain(xs[keep], ys[keep])]


@dataclass(frozen=True)
class _Grid:
    """A hull interpolated on the x grid: y, and the two thresholds mixed with weights p0, p1."""

    y: np.ndarray
    p0: np.ndarray
    p1: np.ndarray
    t0: np.ndarray
    t1: np.ndarray


@lru_cache(maxsize=8)
def _grid(grid_size: int) -> np.ndarray:
    """x = 0, 1/grid_size, ..., 1 (read-only: shared)."""
    grid = np.linspace(0, 1, grid_size + 1)
    grid.flags.writeable = False
    return grid


def _interpolate(hx: np.ndarray, hy: np.ndarray, ht: np.ndarray, grid: np.ndarray) -> _Grid:
    idx = np.searchsorted(hx, grid, side="right") - 1
    idx[1:] = np.where(grid[1:] == hx[idx[1:]], idx[1:] - 1, idx[1:])
    p0 = (hx[idx + 1] - grid) / (hx[idx + 1] - hx[idx])
    p1 = 1 - p0
    return _Grid(p0 * hy[idx] + p1 * hy[idx + 1], p0, p1, ht[idx], ht[idx + 1])


@dataclass(frozen=True)
class GroupRule:
    """Decision rule for one group: P(favourable) = p0*[s > t0] + p1*[s > t1], optionally mixed
    with a constant: p_ignore * constant + (1 - p_ignore) * (...)."""

    p0: float
    t0: float
    p1: float
    t1: float
    p_ignore: float | None = None
    constant: float | None = None

    def probability(self, scores: np.ndarray) -> np.ndarray:
        p = self.p0 * (scores > self.t0) + self.p1 * (scores > self.t1)
        if self.p_ignore is not None:
            p = self.p_ignore * self.constant + (1 - self.p_ignore) * p
        return p


def _best_with_tolerance(grid: np.ndarray, ys: list[np.ndarray], weights: list[float], tol: float) -> list[int]:
    """Grid index per group maximising sum(w_k * y_k) with the groups' x values spanning <= tol.

    fairlearn's sliding window (``maximize_objective_with_tolerance``), vectorised with
    the same outcome: for each window end e, the window is [start(e), e] with
    start(e) the first grid point within ``tol`` of x[e]; each group takes the
    window's best weighted y (the latest index on a tie, as fairlearn's deque
    keeps it); the objective sums them in group order. Of the windows reaching
    the highest objective, the one whose choices span the smallest x range wins,
    the latest on a tie.
    """
    n = len(grid)
    offset, outside = _windows(tuple(grid.tolist()), tol)
    width = outside.shape[1]
    chosen, objective = [], np.zeros(n)
    for y, w in zip(ys, weights):
        col = y * w
        windows = np.lib.stride_tricks.sliding_window_view(np.r_[np.full(width - 1, -np.inf), col], width)
        windows = np.where(outside, -np.inf, windows)
        last_max = width - 1 - np.argmax(windows[:, ::-1], axis=1)
        idx = offset + last_max
        chosen.append(idx)
        objective = objective + col[idx]          # the same order of additions as fairlearn's sum()
    picks = np.stack(chosen, axis=1)
    span = grid[picks].max(axis=1) - grid[picks].min(axis=1)
    best = objective == objective.max()
    e = int(np.flatnonzero(best & (span == span[best].min()))[-1])
    return [int(i) for i in picks[e]]


@lru_cache(maxsize=16)
def _windows(grid: tuple[float, ...], tol: float) -> tuple[np.ndarray, np.ndarray]:
    """The sliding windows of :func:`_best_with_tolerance` for one grid and tolerance (the same for every
    group, fold and constraint of a what-if, so computed once): each window row's first grid index, and
    the mask of its slots before the window's start. Read-only: shared."""
    x, n = grid, len(grid)
    start, starts = 0, np.empty(n, dtype=np.int64)
    for end in range(n):
        while x[end] - x[start] > tol:
            start += 1
        starts[end] = start
    ends = np.arange(n)
    width = int((ends - starts).max()) + 1
    offset = ends - width + 1                     # grid index of each window row's first slot
    outside = (offset[:, None] + np.arange(width)[None, :]) < starts[:, None]
    offset.flags.writeable = outside.flags.writeable = False
    return offset, outside


def fit_rules(curves: dict[str, GroupCurve], constraint: str, tol: float | None = None,
              grid_size: int = GRID_SIZE) -> dict[str, GroupRule]:
    """Accuracy-maximising per-group rules under ``constraint`` (relaxed by ``tol``).

    ``curves`` maps group -> :class:`GroupCurve` (every group with both labels);
    groups are processed in sorted order, as fairlearn's groupby does.
    """
    if constraint not in CONSTRAINTS:
        raise ValueError(f"unknown constraint {constraint!r}; choose one of {', '.join(CONSTRAINTS)}")
    if constraint == "equalized_odds" and tol is not None:
        raise ValueError("a tolerance is not supported for equalized odds")
    if len(curves) < 1:
        raise ValueError("no group to fit")
    keys = sorted(curves)
    grid = _grid(grid_size)
    if constraint == "equalized_odds":
        return _equalized_odds(keys, curves, grid_size)
    x_metric = SIMPLE_CONSTRAINTS[constraint]
    n = sum(c.positives + c.negatives for c in curves.values())
    grids = {k: curves[k].on_grid(x_metric, "accuracy_score", grid_size) for k in keys}
    weights = [(curves[k].positives + curves[k].negatives) / n for k in keys]
    if not tol:
        # the same pandas reduction fairlearn uses, so ties on the grid resolve identically
        overall = pd.concat([p * pd.Series(grids[k].y) for k, p in zip(keys, weights)], axis=1).sum(axis=1)
        chosen = [int(overall.idxmax())] * len(keys)
    else:
        chosen = _best_with_tolerance(grid, [grids[k].y for k in keys], weights, tol)
    return {k: GroupRule(float(grids[k].p0[i]), float(grids[k].t0[i]), float(grids[k].p1[i]), float(grids[k].t1[i]))
            for k, i in zip(keys, chosen)}


def _equalized_odds(keys: list[str], curves: dict[str, GroupCurve], grid_size: int) -> dict[str, GroupRule]:
    grid = _grid(grid_size)
    grids = {k: curves[k].on_grid("false_positive_rate", "true_positive_rate", grid_size) for k in keys}
    n_pos = sum(c.positives for c in curves.values())
    n_neg = sum(c.negatives for c in curves.values())
    y_min = np.amin(np.stack([grids[k].y for k in keys], axis=1), axis=1)
    tp, fn = n_pos * y_min, n_pos * (1.0 - y_min)
    fp, tn = n_neg * grid, n_neg * (1.0 - grid)
    accuracy = np.around((tp + tn) / (tp + tn + fp + fn), 15)
    i = int(np.argmax(accuracy))
    x_best, y_best = grid[i], y_min[i]
    rules = {}
    for k in keys:
        gy, gx = grids[k].y[i], grid[i]
        p_ignore = 0 if gy == gx else (gy - y_best) / (gy - gx)
        rules[k] = GroupRule(float(grids[k].p0[i]), float(grids[k].t0[i]), float(grids[k].p1[i]),
                             float(grids[k].t1[i]), p_ignore=float(p_ignore), constant=float(x_best))
    return rules


def favourable_probability(rules: dict[str, GroupRule], scores: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """P(favourable decision) per row; rows of a group without a rule get 0."""
    scores = np.asarray(scores, dtype=np.float64)
    out = np.zeros(len(scores))
    for k, rule in rules.items():
        m = groups == k
        out[m] = rule.probability(scores)[m]
    return out


def randomised_decisions(rules: dict[str, GroupRule], scores: np.ndarray, groups: np.ndarray,
                         seed: int) -> np.ndarray:
    """Decisions drawn with ``RandomState(seed)``: 1 where P(favourable) >= u, u ~ U[0, 1) per row."""
    p = favourable_probability(rules, scores, groups)
    return (p >= np.random.RandomState(seed).rand(len(p))).astype(int)
