"""Group tables at any decision threshold without the rows: per-group sorted scores, built at audit time.

Every rate the fairness engine reports comes from per-group cell counts (:mod:`.counts`: cell =
``4 * above_median + 2 * y + yhat``). At a threshold ``t`` on P(favourable), ``yhat = score >= t``, so a
group's counts at ``t`` are, for each of its four (above_median, y) segments, how many of the segment's
scores are ``>= t`` and how many are not: one binary search in the segment's sorted scores. A
:class:`ScoreIndex` holds those sorted scores for one attribute (a column or an intersection), built from
the run's predictions (the ``score`` column the dashboard would otherwise read); :meth:`ScoreIndex.prepared`
hands the counts at ``t`` to :func:`~deepaudit.audit.fairness.metrics.group_metrics` and
:func:`~deepaudit.audit.fairness.comparisons.disparities` (``prepared=``), which then compute exactly what
they compute from the rows: the same counts, the same bootstrap of counts, the same intervals. A test
checks tables from the index against tables from the predictions at many thresholds.

Stored in a run as ``arrays/score_index.npz`` (``audit/runner.py``); the dashboard's threshold slider and
sweep read it instead of the predictions file (:mod:`deepaudit.dashboard.fairness_live`). Cost: one sort
per attribute at audit time; per threshold, 4 binary searches per group.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from deepaudit.audit.fairness.counts import Prepared, score_above_median
from deepaudit.audit.fairness.groups import GroupCodes, encode_groups

ARRAY_NAME = "score_index"


@dataclass(frozen=True)
class ScoreIndex:
    """Sorted scores per (group, above_median, y) segment of one attribute (module docstring)."""

    attribute: str
    columns: tuple[str, ...]
    labels: list[str]
    sizes: np.ndarray          # rows per group
    bounds: np.ndarray         # segment s = 4 * g + 2 * above + y holds scores[bounds[s]:bounds[s + 1]]
    scores: np.ndarray         # float64, ascending within each segment
    median: float

    @property
    def n(self) -> int:
        return int(self.sizes.sum())

    @classmethod
    def build(cls, y: np.ndarray, score: np.ndarray, sensitive: pd.Series | pd.DataFrame,
              columns: Sequence[str]) -> ScoreIndex:
        """From 0/1 favourable outcomes ``y``, P(favourable) ``score`` and the group column(s)."""
        y = np.asarray(y, dtype=np.intp)
        score = np.asarray(score, dtype=np.float64)
        (g,) = encode_groups(sensitive, len(y))
        above, median = score_above_median(score, len(y))
        segment = 4 * g.codes + 2 * np.asarray(above, dtype=np.intp) + y
        order = np.lexsort((score, segment))
        bounds = np.r_[0, np.cumsum(np.bincount(segment, minlength=4 * g.n_groups))]
        return cls(g.attribute, tuple(columns), list(g.labels), g.sizes.astype(np.int64), bounds.astype(np.int64),
                   score[order], float(median))

    def counts(self, threshold: float) -> np.ndarray:
        """(n_groups, 8) cell counts with ``yhat = score >= threshold``."""
        lo, hi = self.bounds[:-1], self.bounds[1:]
        below = np.array([np.searchsorted(self.scores[a:b], threshold, side="left") for a, b in zip(lo, hi)],
                         dtype=np.int64) if len(lo) else np.zeros(0, np.int64)
        size = hi - lo
        seg = np.stack([below, size - below], axis=1)
        # segment s = 4g + 2*above + y; cell = 4*above + 2*y + yhat
        by_group = seg.reshape(len(self.labels), 2, 2, 2)          # g, above, y, yhat
        return by_group.reshape(len(self.labels), 8)

    def prepared(self, threshold: float) -> Prepared:
        """What :func:`~deepaudit.audit.fairness.counts.prepare` would return for the rows at ``threshold``."""
        groups = GroupCodes(self.attribute, np.zeros(0, np.intp), list(self.labels), self.sizes)
        return Prepared(self.n, 8, [(groups, self.counts(threshold))], self.median)

    def selection_rates(self, thresholds: np.ndarray) -> np.ndarray:
        """(len(thresholds), n_groups): each group's share with score >= t."""
        t = np.asarray(thresholds, dtype=np.float64)
        out = np.zeros((len(t), len(self.labels)))
        for s in range(len(self.bounds) - 1):
            seg = self.scores[self.bounds[s]:self.bounds[s + 1]]
            out[:, s // 4] += len(seg) - np.searchsorted(seg, t, side="left")
        return out / np.maximum(self.sizes, 1)

    # -- storage (arrays/score_index.npz): "views" lists each view's columns as JSON; view i's arrays are v<i>_*
    def arrays(self, i: int) -> dict[str, np.ndarray]:
        return {f"v{i}_attribute": np.asarray(self.attribute), f"v{i}_labels": np.asarray(self.labels, dtype=str),
                f"v{i}_sizes": self.sizes, f"v{i}_bounds": self.bounds, f"v{i}_scores": self.scores,
                f"v{i}_median": np.asarray(self.median)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any], columns: Sequence[str]) -> ScoreIndex | None:
        """The index of ``columns`` in a stored ``score_index`` array set; None when it holds none (or a bad one).

        Read as data only: strings and numbers, checked for consistency (a damaged file gives None, and the
        caller computes from the predictions instead)."""
        try:
            views = [json.loads(str(v)) for v in np.asarray(arrays["views"]).tolist()]
            i = views.index(list(columns))
            labels = [str(v) for v in np.asarray(arrays[f"v{i}_labels"]).tolist()]
            sizes = np.asarray(arrays[f"v{i}_sizes"], dtype=np.int64)
            bounds = np.asarray(arrays[f"v{i}_bounds"], dtype=np.int64)
            scores = np.asarray(arrays[f"v{i}_scores"], dtype=np.float64)
            median = float(np.asarray(arrays[f"v{i}_median"]))
            attribute = str(np.asarray(arrays[f"v{i}_attribute"]))
        except (KeyError, TypeError, ValueError, json.JSONDecodeError):
            return None
        consistent = (sizes.ndim == bounds.ndim == scores.ndim == 1 and len(sizes) == len(labels)
                      and len(bounds) == 4 * len(labels) + 1 and bounds[0] == 0 and bounds[-1] == len(scores)
                      and len(scores) == sizes.sum() and bool(np.all(np.diff(bounds) >= 0))
                      and np.array_equal(np.diff(bounds).reshape(-1, 4).sum(1), sizes))
        return cls(attribute, tuple(columns), labels, sizes, bounds, scores, median) if consistent else None


def build_indexes(predictions: pd.DataFrame, views: Sequence[Sequence[str]], favorable: int) -> dict[str, np.ndarray]:
    """The ``score_index`` arrays for each view (a column, or several crossed) of a run's predictions."""
    y = (predictions["y_true"].to_numpy() == favorable).astype(np.intp)
    score = predictions["score"].to_numpy(dtype=np.float64)
    out: dict[str, np.ndarray] = {"views": np.asarray([json.dumps(list(c)) for c in views], dtype=str)}
    for i, cols in enumerate(views):
        cols = list(cols)
        sens = predictions[cols[0]] if len(cols) == 1 else predictions[cols]
        out.update(ScoreIndex.build(y, score, sens, cols).arrays(i))
    return out
