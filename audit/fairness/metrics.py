"""Per-group rates with Wilson intervals (docs/statistics.md).

Undefined rates -- TPR of a group with no positives, PPV of a group with no
predicted positives -- are NaN with a NaN interval: never 0, never a crash.
Point estimates equal fairlearn's ``MetricFrame(...).by_group`` wherever
the rate is defined (sklearn returns 0 with a warning where it is not).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from deepaudit.audit.fairness.counts import Prepared, prepare, rate_masks, rates_from_counts
from deepaudit.audit.fairness.groups import check_min_share, resolve_reference
from deepaudit.audit.fairness.intervals import check_confidence, wilson_interval

#: Why a rate is NaN for a group (the rate's denominator is empty); fairlearn/sklearn report 0 there instead.
UNDEFINED = {"tpr": "TPR undefined: no positives", "fpr": "FPR undefined: no negatives",
             "ppv": "PPV undefined: no predicted positives"}


def _undefined_notes(cols: dict[str, np.ndarray]) -> list[str]:
    """Per group, which rates are undefined and why ("" when all are defined)."""
    empty = {"tpr": cols["positives"] == 0, "fpr": cols["negatives"] == 0, "ppv": cols["predicted_positive"] == 0}
    return ["; ".join(UNDEFINED[m] for m in ("tpr", "fpr", "ppv") if empty[m][i] and cols["n"][i] > 0)
            for i in range(len(cols["n"]))]


def group_metrics(y_true, y_pred, *, sensitive, pos_label=None, y_score=None, columns=None,
                  breakdown: str = "intersection", reference=None, min_share: float = 0.02,
                  confidence: float = 0.95, prepared: Prepared | None = None) -> pd.DataFrame:
    """One row per group: counts, rates and their Wilson intervals.

    Parameters
    ----------
    y_true, y_pred : array-like (list, ndarray, Series)
        True and predicted labels, one per sample.
    sensitive : array-like, Series, DataFrame or mapping of columns
        Sensitive attribute(s). Missing values form the ``"unknown"`` group;
        several columns are crossed into intersectional groups (see
        :func:`deepaudit.audit.fairness.groups.encode_groups`).
    pos_label : object, optional
        Favorable label; default None requires 0/1 labels with 1 favorable.
        Multiclass: one-vs-rest for this class.
    y_score : array-like of float, optional
        Favorable-class score; adds the LL144 ``scoring_rate`` (share of the
        group scoring above the full sample's median).
    columns : list of str, optional
        Columns of a DataFrame ``sensitive`` to use (default all).
    breakdown : {"intersection", "separate", "both"}
        With several columns: the intersection, each column, or both.
    reference : str or mapping attribute -> str, optional
        Reference group (default the largest group other than "unknown");
        marked in ``is_reference``.
    min_share : float
        Groups below this share of rows get ``small_group=True`` (kept).
    confidence : float
        Coverage of the Wilson intervals.
    prepared : Prepared, optional
        The validated per-group counts instead of the rows (``y_true``, ``y_pred``, ``sensitive``, ``y_score``
        are then ignored): :meth:`deepaudit.audit.fairness.score_index.ScoreIndex.prepared`.

    Returns
    -------
    DataFrame
        ``attribute, group, n, share, small_group, is_reference, positives,
        negatives, predicted_positive, tn, fp, fn, tp``, then per rate
        ``<rate>, <rate>_lo, <rate>_hi`` for ``selection_rate, tpr, fpr, ppv,
        accuracy`` (and ``scoring_rate`` with ``y_score``), then
        ``interval_method`` and ``undefined`` (which rates are NaN and why, e.g.
        ``"FPR undefined: no negatives"``; empty when every rate is defined).
        Undefined rates are NaN, never 0.

    Example
    -------
    >>> df = group_metrics([1, 0, 1, 1], [1, 0, 0, 1], sensitive=["a", "a", "b", None])
    >>> df[["group", "n", "tpr"]].values.tolist()
    [['a', 2, 1.0], ['b', 1, 0.0], ['unknown', 1, 1.0]]
    """
    min_share = check_min_share(min_share)
    confidence = check_confidence(confidence)
    prep = prepared if prepared is not None else prepare(
        y_true, y_pred, sensitive=sensitive, pos_label=pos_label, y_score=y_score, columns=columns,
        breakdown=breakdown)
    masks = rate_masks(prep.n_cells)
    frames = []
    for groups, counts in prep.attributes:
        conf = counts[:, :4] + (counts[:, 4:] if prep.n_cells == 8 else 0)
        tn, fp, fn, tp = conf.T
        n_g = counts.sum(axis=1)
        ref = resolve_reference(groups, reference)
        cols: dict[str, object] = {
            "attribute": [groups.attribute] * groups.n_groups, "group": groups.labels, "n": n_g,
            "share": n_g / prep.n, "small_group": groups.small(min_share),
            "is_reference": np.arange(groups.n_groups) == ref,
            "positives": fn + tp, "negatives": tn + fp, "predicted_positive": fp + tp,
            "tn": tn, "fp": fp, "fn": fn, "tp": tp,
        }
        for name, (num_mask, den_mask) in masks.items():
            num, den, rate = rates_from_counts(counts, num_mask, den_mask)
            lo, hi = wilson_interval(num, den, confidence=confidence)
            cols[name], cols[f"{name}_lo"], cols[f"{name}_hi"] = rate, lo, hi
        cols["interval_method"] = [f"wilson score, {confidence:.0%}"] * groups.n_groups
        cols["undefined"] = _undefined_notes(cols)
        frames.append(pd.DataFrame(cols))   # built in one piece: column by column costs ~1 ms per column
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
