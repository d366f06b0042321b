"""Confusion-matrix counts as a tidy table: stored overall by :mod:`deepaudit.audit.performance`
(``performance.confusion``)
and called by the dashboard for one group's stored predictions, so every count and share it shows is computed
here and the page only selects rows and formats.

Kept apart from :mod:`deepaudit.audit.performance` (which re-exports both functions) because it is counting only: the
presentation code may call it without reaching the interval machinery.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

COLUMNS = ["true", "predicted", "count", "row_share"]
BAD_SHAPES = ("confusion_counts needs y_true and y_pred of the same length; got {t} and {p}. Fix: pass one true and "
              "one predicted class index per sample.")
BAD_LABELS = ("labels must be integers in 0..{last} (one per class); got values {bad}. Fix: encode labels as class "
              "indices.")


def confusion_counts(y_true: Any, y_pred: Any, class_names: Sequence[str]) -> pd.DataFrame:
    """The confusion matrix as a tidy table, one row per (true, predicted) cell, true class major.

    Columns ``true``, ``predicted`` (class names as str), ``count`` (int64) and ``row_share`` (``count`` over the
    true class's total: the diagonal is each class's recall; 0.0 in the row of a class with no sample). ``k * k``
    rows for ``k`` classes, every cell present even when empty. Raises ``ValueError`` for a label outside
    ``0..k-1`` or arrays of different lengths.
    """
    k = len(class_names)
    yt = np.asarray(y_true).reshape(-1)
    yp = np.asarray(y_pred).reshape(-1)
    if yt.shape != yp.shape:
        raise ValueError(BAD_SHAPES.format(t=yt.shape, p=yp.shape))
    for labels in (yt, yp):
        ok = np.isin(labels, np.arange(k)) if np.issubdtype(labels.dtype, np.number) else np.zeros(len(labels), bool)
        if not ok.all():
            raise ValueError(BAD_LABELS.format(last=k - 1, bad=sorted(set(labels[~ok].tolist()), key=str)[:5]))
    counts = np.bincount(yt.astype(np.int64) * k + yp.astype(np.int64), minlength=k * k).reshape(k, k)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    names = np.asarray([str(c) for c in class_names], dtype=object)
    t, p = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    return pd.DataFrame({"true": names[t.ravel()], "predicted": names[p.ravel()],
                         "count": counts.ravel().astype(np.int64), "row_share": shares.ravel()})


def confusion_summary(cells: Any) -> dict[str, Any]:
    """``{"n", "n_correct", "accuracy"}`` of a :func:`confusion_counts` table (or its stored records).

    ``n_correct`` counts the diagonal (true = predicted); ``accuracy`` is ``n_correct / n``, None without samples.
    """
    t = pd.DataFrame(cells, columns=COLUMNS)
    n = int(t["count"].sum())
    n_correct = int(t.loc[t["true"].astype(str) == t["predicted"].astype(str), "count"].sum())
    return {"n": n, "n_correct": n_correct, "accuracy": n_correct / n if n else None}
