"""Overall and per-class performance of a classifier, with every interval the report and dashboard show.

:func:`performance_section` is a pure function of arrays (labels, class probabilities), so a stored run's
``predictions.parquet`` (``y_true``, ``prob_<class>`` columns) is enough to recompute it;
:func:`performance` is the runner's thin wrapper around it. The result is ``result["performance"]``:

``overall`` (dict; unchanged keys, every value a number, so readers may iterate it as metrics)
    ``n``, ``accuracy``, ``n_correct``, ``log_loss`` (scikit-learn, natural log); binary targets with both
    classes present also ``roc_auc`` and ``brier`` (mean squared error of P(class 1)).
``intervals`` (dict, new) -- metric name -> interval record, in display order
    ``accuracy``, ``roc_auc`` (binary only), ``log_loss``, ``brier`` (binary only). Each record has
    ``value`` (the ``overall`` number), ``lo``, ``hi`` (None where the interval is not computable; ``method``
    then ends with the reason), ``n`` (samples), ``level`` (the confidence level, 0.95) and ``method`` (prose,
    for display):

    - accuracy: Wilson score interval of ``n_correct`` / ``n``;
    - roc_auc: Hanley & McNeil (1982) standard error, normal interval clipped to [0, 1]; also ``n_pos``,
      ``n_neg`` (the counts the standard error uses) and ``se``; no interval at an AUC of 0 or 1 (se = 0);
    - log_loss, brier: normal approximation of the per-sample mean (per-sample log loss
      ``-log(clip(p_true, 1e-15, 1))``, per-sample Brier ``(p_1 - y)^2``), centred on the ``overall``
      value, lower bound clipped at 0; no interval from a single sample.
``per_class`` (DataFrame; stored as a list of records)
    ``class``, ``precision``, ``recall``, ``f1``, ``support`` (number of true samples), and new:
    ``n_predicted`` (samples predicted as the class), ``n_true_positive``, ``precision_lo``/``precision_hi``
    (Wilson of ``n_true_positive`` / ``n_predicted``; NaN, stored as null, when nothing is predicted as the
    class) and ``recall_lo``/``recall_hi`` (Wilson of ``n_true_positive`` / ``support``; NaN when the class
    has no sample).
``per_class_interval`` (dict, new)
    ``{"level": 0.95, "method": "Wilson score interval, 95%"}``: what the per-class bounds are.
``confusion`` (DataFrame; stored as a list of records, new)
    The confusion matrix of every evaluation sample, :func:`deepaudit.audit.confusion.confusion_counts` (re-exported
    here): one row per (true, predicted) cell with ``true``, ``predicted`` (class names), ``count`` and
    ``row_share`` (of the true class). The dashboard reads it for "all samples" and calls
    :func:`~deepaudit.audit.confusion.confusion_counts` / :func:`~deepaudit.audit.confusion.confusion_summary` on the
    stored
    predictions of one group, so every count and share it shows is computed in ``audit/``.
``card_metrics`` (dict)
    The metrics the model card records (``target.provenance["metrics"]``), unchanged.

Runs stored before ``intervals`` existed have neither ``intervals`` nor the new per-class columns; readers
show them as not stored and do not compute them. :func:`mean_record` is the one rule for the interval of a
per-sample mean (also used by :mod:`deepaudit.audit.quality.curves` and :mod:`deepaudit.audit.explain.views`): null
bounds from a
single sample, with the reason in ``method``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from deepaudit.audit.confusion import confusion_counts, confusion_summary  # noqa: F401 (confusion_summary: re-exported)
from deepaudit.audit.fairness.intervals import (
    hanley_mcneil_interval,
    mean_interval,
    wilson_interval,
)

CONFIDENCE = 0.95
#: Clip of the true-class probability in the per-sample log loss (as scikit-learn's historical eps).
LOG_LOSS_EPS = 1e-15
#: Appended to an interval method when the run is too small for it (the interval is then null, shown as such).
ONE_SAMPLE = "; not computable from a single sample"
ZERO_SE = "; not computable: the standard error is 0 at an AUC of 0 or 1"
NO_SAMPLE = "; not computable: no sample"

BAD_SHAPES = ("performance_section needs y of shape (n,) and probs of shape (n, {k}) for {k} classes; got y "
              "{y_shape} and probs {p_shape}. Fix: pass one probability column per class, in class order.")
BAD_LABELS = ("labels must be integers in 0..{last} (one per class); got values {bad}. "
              "Fix: encode labels as class indices.")


def wilson_method(confidence: float = CONFIDENCE) -> str:
    return f"Wilson score interval, {confidence:.0%}"


def hanley_mcneil_method(confidence: float = CONFIDENCE) -> str:
    return f"Hanley & McNeil (1982) standard error, {confidence:.0%}"


def mean_method(confidence: float = CONFIDENCE) -> str:
    return f"normal approximation of the per-sample mean, {confidence:.0%}"


def _bound(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def mean_record(per_sample: Any, value: float | None = None, *, confidence: float = CONFIDENCE,
                lower: float | None = 0.0, upper: float | None = None) -> dict[str, Any]:
    """The stored interval record of a per-sample mean (the rule for log loss and Brier, reused elsewhere).

    ``{"value", "lo", "hi", "n", "level", "method"}``: ``value`` is ``value`` (the stored estimate) or the mean
    of ``per_sample``; ``lo``/``hi`` from :func:`~deepaudit.audit.fairness.intervals.mean_interval`, clipped to
    ``[lower, upper]`` (None = unbounded). A single sample gives null bounds and ``method`` ending in
    :data:`ONE_SAMPLE`; no sample also gives a null ``value`` and ``method`` ending in :data:`NO_SAMPLE`.
    """
    v = np.asarray(per_sample, dtype=np.float64).reshape(-1)
    n = int(v.size)
    if n == 0:
        return {"value": None if value is None else _bound(float(value)), "lo": None, "hi": None, "n": 0,
                "level": confidence, "method": mean_method(confidence) + NO_SAMPLE}
    value = float(v.mean()) if value is None else float(value)
    lo, hi = mean_interval(v, point=value, confidence=confidence)
    lo, hi = _bound(lo), _bound(hi)
    if lo is not None and lower is not None:
        lo = max(lower, lo)
    if hi is not None and upper is not None:
        hi = min(upper, hi)
    return {"value": value, "lo": lo, "hi": hi, "n": n, "level": confidence,
            "method": mean_method(confidence) + (ONE_SAMPLE if lo is None else "")}


def _mean_record(per_sample: np.ndarray, value: float, n: int, confidence: float) -> dict[str, Any]:
    return mean_record(per_sample, value, confidence=confidence)


# scikit-learn's metrics, written out: importing sklearn costs a second of every run's start-up. Same
# algorithms and float64 operations as sklearn 1.9 (tests/audit/test_performance.py compares them).
def precision_recall_f1(y: np.ndarray, pred: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
    """Per class: precision tp/predicted, recall tp/support, F1 2tp/(support + predicted) (0 where a
    denominator is 0, sklearn's ``zero_division=0``) and support."""
    tp = np.bincount(y[pred == y], minlength=k)[:k].astype(np.float64)
    predicted = np.bincount(pred, minlength=k)[:k].astype(np.float64)
    support = np.bincount(y, minlength=k)[:k]

    def divide(a, b):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(b > 0, a / np.where(b > 0, b, 1), 0.0)

    return divide(tp, predicted), divide(tp, support), divide(2 * tp, support + predicted), support


def log_loss(y: np.ndarray, probs: np.ndarray) -> float:
    """Mean of -log p(true class), probabilities clipped to [eps, 1 - eps] (float64 eps, as sklearn)."""
    eps = np.finfo(np.float64).eps
    return float(np.mean(-np.log(np.clip(probs[np.arange(len(y)), y], eps, 1 - eps))))


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Binary ROC AUC: the trapezoid area under the ROC curve through every distinct score (collinear
    points dropped), as ``sklearn.metrics.roc_auc_score``."""
    order = np.argsort(score, kind="mergesort")[::-1]
    score, yy = score[order], y[order]
    idx = np.r_[np.where(np.diff(score))[0], yy.size - 1]
    tps = np.cumsum(yy, dtype=np.float64)[idx]
    fps = 1 + idx - tps
    if len(fps) > 2:
        keep = np.where(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])[0]
        fps, tps = fps[keep], tps[keep]
    fpr, tpr = np.r_[0, fps] / fps[-1], np.r_[0, tps] / tps[-1]
    return float(np.trapezoid(tpr, fpr))


def performance_section(y: Any, probs: Any, class_names: Sequence[str], card_metrics: dict[str, Any] | None = None,
                        *, pred: Any = None, confidence: float = CONFIDENCE) -> dict[str, Any]:
    """``result["performance"]`` from true labels and class probabilities (see the module docstring for keys).

    Parameters
    ----------
    y : array-like of int, shape (n,)
        True class indices ``0..k-1``.
    probs : array-like of float, shape (n, k)
        Predicted probability of each class, columns in ``class_names`` order (the runner's float64 softmax;
        ``predictions.parquet`` stores them as ``prob_<class>``).
    class_names : sequence of str, length k
    card_metrics : dict, optional
        The model card's recorded metrics, stored unchanged as ``card_metrics`` (default ``{}``).
    pred : array-like of int, optional
        Predicted class indices; default ``probs.argmax(1)`` (what the runner predicts, ties to the first class).
    confidence : float
        Two-sided coverage of every interval (0.95).
    """
    k = len(class_names)
    y = np.asarray(y)
    probs = np.asarray(probs, dtype=np.float64)
    if y.ndim != 1 or probs.ndim != 2 or probs.shape != (len(y), k):
        raise ValueError(BAD_SHAPES.format(k=k, y_shape=y.shape, p_shape=probs.shape))
    ok = np.isin(y, np.arange(k)) if np.issubdtype(y.dtype, np.number) else np.zeros(len(y), dtype=bool)
    if not ok.all():
        raise ValueError(BAD_LABELS.format(last=k - 1, bad=sorted(set(y[~ok].tolist()), key=str)[:5]))
    y = y.astype(np.int64)
    pred = probs.argmax(1) if pred is None else np.asarray(pred, dtype=np.int64)
    n = len(y)
    n_correct = int((pred == y).sum())
    p, r, f, s = precision_recall_f1(y, pred, k)
    overall: dict[str, Any] = {"n": n, "accuracy": float((pred == y).mean()), "n_correct": n_correct,
                               "log_loss": log_loss(y, probs)}
    binary = k == 2 and len(np.unique(y)) == 2
    if binary:
        overall["roc_auc"] = roc_auc(y, probs[:, 1])
        overall["brier"] = float(np.mean((probs[:, 1] - y) ** 2))

    intervals: dict[str, dict[str, Any]] = {}
    lo, hi = wilson_interval(n_correct, n, confidence=confidence)
    intervals["accuracy"] = {"value": overall["accuracy"], "lo": _bound(lo), "hi": _bound(hi), "n": n,
                             "level": confidence, "method": wilson_method(confidence)}
    if binary:
        auc, n_pos, n_neg = overall["roc_auc"], int((y == 1).sum()), int((y == 0).sum())
        lo, hi, se = hanley_mcneil_interval(auc, n_pos, n_neg, confidence=confidence)
        intervals["roc_auc"] = {"value": auc, "lo": _bound(lo), "hi": _bound(hi), "n": n, "level": confidence,
                                "method": hanley_mcneil_method(confidence) + ("" if se else ZERO_SE),
                                "n_pos": n_pos, "n_neg": n_neg, "se": se}
    per_log_loss = -np.log(np.clip(probs[np.arange(n), y], LOG_LOSS_EPS, 1))
    intervals["log_loss"] = _mean_record(per_log_loss, overall["log_loss"], n, confidence)
    if binary:
        intervals["brier"] = _mean_record((probs[:, 1] - y) ** 2, overall["brier"], n, confidence)

    tp = np.bincount(y[pred == y], minlength=k)[:k].astype(np.int64)
    n_predicted = np.bincount(pred, minlength=k)[:k].astype(np.int64)
    support = np.asarray(s, dtype=np.int64)
    p_lo, p_hi = wilson_interval(tp, n_predicted, confidence=confidence)
    r_lo, r_hi = wilson_interval(tp, support, confidence=confidence)
    per_class = pd.DataFrame({"class": list(class_names), "precision": p, "recall": r, "f1": f, "support": support,
                              "n_predicted": n_predicted, "n_true_positive": tp,
                              "precision_lo": p_lo, "precision_hi": p_hi, "recall_lo": r_lo, "recall_hi": r_hi})
    return {"overall": overall, "intervals": intervals, "per_class": per_class,
            "per_class_interval": {"level": confidence, "method": wilson_method(confidence)},
            "confusion": confusion_counts(y, pred, class_names),
            "card_metrics": dict(card_metrics or {})}


def performance(target: Any, probs: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """:func:`performance_section` of an :class:`deepaudit.audit.target.AuditTarget`'s evaluation labels."""
    return performance_section(target.eval_data.labels, probs, target.class_names,
                               target.provenance.get("metrics", {}), pred=pred)
