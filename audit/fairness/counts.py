"""Per-group cell counts: the sufficient statistics of every rate metric.

Every row falls into one cell of (Y, Yhat) -- plus, for score outputs, whether
its score is above the full sample's median (the LL144 scoring rate). Cells
are numbered ``4 * above + 2 * y + yhat``, so the first four are sklearn's
``confusion_matrix(...).ravel()`` order (TN, FP, FN, TP). A rate is
(count in its numerator cells) / (count in its denominator cells); see
:data:`RATE_DEFINITIONS`. Counting is one ``np.bincount`` over
``group * n_cells + cell`` -- no per-row Python.

Multiclass models are audited one-vs-rest for the favorable class
``pos_label``: Y = (y_true == pos_label), Yhat = (y_pred == pos_label).
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from deepaudit.audit.fairness.groups import (
    ATTRIBUTE_SEP,
    LABEL_SEP,
    UNKNOWN,
    GroupCodes,
    encode_groups,
    is_missing_label,
)

EMPTY_DATA = "no samples: y_true is empty. Fix: pass at least one sample (and its prediction and group)."
LENGTH_MISMATCH = ("y_true has {n} rows but {what} has {n_other}. Fix: give one {what} value per sample, "
                   "in the same order.")
NOT_1D = ("{what} must be one value per sample (1-D), got shape {shape}. Fix: pass class predictions "
          "(e.g. logits.argmax(1)) or the favorable-class score, not a matrix.")
NAN_LABELS = ("{what} holds {count} missing values (NaN/None), first at position {first}. Fix: drop those "
              "samples or fill in the label before auditing.")
NON_BINARY = ("{what} holds labels {labels} that are not 0/1, so the favorable outcome is ambiguous. Fix: pass "
              "pos_label=<favorable label> (e.g. pos_label={example!r}); other labels count as unfavorable.")
POS_LABEL_ABSENT = ("pos_label={pos_label!r} occurs in neither y_true nor y_pred (labels seen: {labels}); "
                    "every rate will treat all samples as unfavorable. Check pos_label.")
BAD_SCORE = ("y_score must be finite numbers, one per sample; found {count} NaN/inf values, first at "
             "position {first}. Fix: drop those samples or pass the model's favorable-class probability.")
SCORE_NOT_NUMERIC = "y_score must be numeric, got dtype {dtype}. Fix: pass the favorable-class score as floats."

# name -> (numerator cells, denominator cells) as predicates on (y, yhat, above).
RATE_DEFINITIONS = {
    "selection_rate": (lambda y, p, a: p == 1, lambda y, p, a: True),
    "tpr": (lambda y, p, a: (y == 1) & (p == 1), lambda y, p, a: y == 1),
    "fpr": (lambda y, p, a: (y == 0) & (p == 1), lambda y, p, a: y == 0),
    "ppv": (lambda y, p, a: (y == 1) & (p == 1), lambda y, p, a: p == 1),
    "accuracy": (lambda y, p, a: y == p, lambda y, p, a: True),
    "scoring_rate": (lambda y, p, a: a == 1, lambda y, p, a: True),
}
LABEL_METRICS = ("selection_rate", "tpr", "fpr", "ppv", "accuracy")


def _one_d(values, what: str) -> np.ndarray:
    if isinstance(values, (pd.Series, pd.Index)):
        arr = values.to_numpy()
    elif hasattr(values, "detach"):
        arr = values.detach().cpu().numpy()
    elif isinstance(values, list):
        arr = np.asarray(values, dtype=object) if any(v is None for v in values) else np.asarray(values)
    else:
        arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(NOT_1D.format(what=what, shape=arr.shape))
    return arr


def _missing(arr: np.ndarray) -> np.ndarray | None:
    if arr.dtype.kind == "f":
        return np.isnan(arr)
    if arr.dtype.kind in "biu":
        return None
    return np.asarray(pd.isna(arr), dtype=bool)


def _favorable(arr: np.ndarray, what: str, pos_label) -> np.ndarray:
    missing = _missing(arr)
    if missing is not None and missing.any():
        idx = np.flatnonzero(missing)
        raise ValueError(NAN_LABELS.format(what=what, count=len(idx), first=int(idx[0])))
    if pos_label is not None:
        return np.asarray(arr == pos_label, dtype=bool)
    if arr.dtype.kind == "b":
        return arr
    if arr.dtype.kind in "iu":
        ok = arr.size == 0 or (arr.min() >= 0 and arr.max() <= 1)
    elif arr.dtype.kind == "f":
        ok = bool(((arr == 0) | (arr == 1)).all())
    else:
        uniques = pd.unique(arr)
        ok = all(isinstance(u, (bool, int, float, np.bool_, np.integer, np.floating)) and u in (0, 1)
                 for u in uniques)
    if not ok:
        labels = sorted(map(str, pd.unique(arr)))[:6]
        raise ValueError(NON_BINARY.format(what=what, labels=labels, example=labels[-1]))
    return np.asarray(arr == 1, dtype=bool)


def binary_outcomes(y_true, y_pred, *, pos_label=None) -> tuple[np.ndarray, np.ndarray]:
    """Validate labels and map them to favorable (True) / unfavorable (False).

    Parameters
    ----------
    y_true, y_pred : array-like
        True and predicted labels, one per sample.
    pos_label : object, optional
        The favorable label. Default None means the labels must be 0/1 (or
        bool) and 1 is favorable; any other labels need an explicit
        ``pos_label`` (multiclass: one-vs-rest for that class).

    Returns
    -------
    (y, yhat) : two bool arrays
    """
    yt = _one_d(y_true, "y_true")
    if yt.size == 0:
        raise ValueError(EMPTY_DATA)
    yp = _one_d(y_pred, "y_pred")
    if len(yp) != len(yt):
        raise ValueError(LENGTH_MISMATCH.format(n=len(yt), what="y_pred", n_other=len(yp)))
    y, yhat = _favorable(yt, "y_true", pos_label), _favorable(yp, "y_pred", pos_label)
    if pos_label is not None and not (y.any() or yhat.any()):
        seen = sorted(map(str, set(pd.unique(yt)) | set(pd.unique(yp))))[:6]
        warnings.warn(POS_LABEL_ABSENT.format(pos_label=pos_label, labels=seen), stacklevel=3)
    return y, yhat


def score_above_median(y_score, n: int, median: float | None = None) -> tuple[np.ndarray, float]:
    """LL144 scoring: is each score strictly above the full sample's median? ``median``: that median when
    these scores are one partition of the sample (:func:`partition_counts`)."""
    s = _one_d(y_score, "y_score")
    if len(s) != n:
        raise ValueError(LENGTH_MISMATCH.format(n=n, what="y_score", n_other=len(s)))
    if s.dtype.kind not in "biuf":
        raise ValueError(SCORE_NOT_NUMERIC.format(dtype=s.dtype))
    s = s.astype(float)
    bad = ~np.isfinite(s)
    if bad.any():
        idx = np.flatnonzero(bad)
        raise ValueError(BAD_SCORE.format(count=len(idx), first=int(idx[0])))
    median = float(np.median(s)) if median is None else float(median)
    return s > median, median


def rate_masks(n_cells: int, metrics=None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Numerator and denominator cell masks (float, for matmul) of each rate."""
    cells = np.arange(n_cells)
    y, p, a = (cells >> 1) & 1, cells & 1, cells >> 2
    names = metrics or (list(RATE_DEFINITIONS) if n_cells == 8 else list(LABEL_METRICS))
    out = {}
    for name in names:
        num, den = RATE_DEFINITIONS[name]
        out[name] = (np.broadcast_to(num(y, p, a), cells.shape).astype(float),
                     np.broadcast_to(den(y, p, a), cells.shape).astype(float))
    return out


def rates_from_counts(counts: np.ndarray, num_mask: np.ndarray, den_mask: np.ndarray):
    """(numerator, denominator, rate) over the last axis of ``counts``; rate NaN where the denominator is 0."""
    num = counts @ num_mask
    den = counts @ den_mask
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    return num, den, rate


@dataclass
class Prepared:
    """Validated inputs: per attribute, its groups and (n_groups, n_cells) counts."""

    n: int
    n_cells: int
    attributes: list[tuple[GroupCodes, np.ndarray]]
    median_score: float | None

    def only(self, i: int) -> Prepared:
        """The same counts for attribute ``i`` alone."""
        return Prepared(self.n, self.n_cells, [self.attributes[i]], self.median_score)


def _cells(y_true, y_pred, pos_label, y_score, median: float | None = None) -> tuple[np.ndarray, int, float | None]:
    """Each row's cell number, the number of cells (4, or 8 with scores) and the score median used."""
    y, yhat = binary_outcomes(y_true, y_pred, pos_label=pos_label)
    cell = 2 * y.astype(np.intp) + yhat
    if y_score is None:
        return cell, 4, None
    above, median = score_above_median(y_score, len(y), median)
    return cell + 4 * above, 8, median


def _count(codes: np.ndarray, n_groups: int, cell: np.ndarray, n_cells: int) -> np.ndarray:
    return np.bincount(codes * n_cells + cell, minlength=n_groups * n_cells).reshape(n_groups, n_cells).astype(np.int64)


def prepare(y_true, y_pred, *, sensitive, pos_label=None, y_score=None, columns=None,
            breakdown: str = "intersection") -> Prepared:
    """Validate everything once and count cells per group for every attribute."""
    cell, n_cells, median = _cells(y_true, y_pred, pos_label, y_score)
    n = len(cell)
    out = [(g, _count(g.codes, g.n_groups, cell, n_cells))
           for g in encode_groups(sensitive, n, columns=columns, breakdown=breakdown)]
    return Prepared(n, n_cells, out, median)


NOT_A_GROUP = ("a partition holds group {label!r} of {attribute!r}, which the encoding of the whole data set does not "
               "have (its groups: {labels}). Fix: encode the groups on every row (encode_groups) and give each "
               "partition those labels.")
PARTS_DO_NOT_ADD_UP = ("the partitions' counts of {attribute!r} add up to {got} rows per group, but the whole data set "
                       "has {want}. Fix: give every row to exactly one partition.")


def _partition_labels(column: pd.Series) -> tuple[np.ndarray, list[str | None]]:
    """Codes of one column's rows and the label of each code (None: missing, "unknown" or blank), as
    :func:`~deepaudit.audit.fairness.groups.encode_groups` labels them."""
    codes, uniques = pd.factorize(column, sort=False, use_na_sentinel=True)
    return codes, [None if is_missing_label(v) else str(v) for v in uniques]


def partition_codes(frame: pd.DataFrame, columns: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Each row's index in ``labels``: the groups of ``columns`` (one column, or their intersection) encoded on
    the whole data set, for the rows of one partition (which may lack some groups, or have no known value).

    Raises ValueError when a row's group is not among ``labels``."""
    index = {lab: i for i, lab in enumerate(labels)}
    attribute = ATTRIBUTE_SEP.join(columns)

    def find(label: str | None) -> int:
        key = UNKNOWN if label is None else label
        if key not in index:
            raise ValueError(NOT_A_GROUP.format(label=key, attribute=attribute, labels=list(labels)))
        return index[key]

    parts = [_partition_labels(frame[c]) for c in columns]
    missing = np.zeros(len(frame), dtype=bool)
    combined = np.zeros(len(frame), dtype=np.int64)
    for codes, names in parts:
        known = np.array([n is not None for n in names] + [False])   # the last slot is pandas' -1 sentinel
        missing |= ~known[codes]
        combined = combined * (len(names) + 1) + np.maximum(codes, 0)
    observed, inverse = np.unique(np.where(missing, -1, combined), return_inverse=True)
    lut = np.empty(len(observed), dtype=np.intp)
    for k, value in enumerate(observed.tolist()):
        if value < 0:
            lut[k] = find(None)
            continue
        digits = []
        for codes, names in reversed(parts):
            value, digit = divmod(value, len(names) + 1)
            digits.append(names[digit])
        lut[k] = find(LABEL_SEP.join(reversed(digits)))
    return lut[inverse.reshape(-1)]


def partition_counts(y_true, y_pred, *, frame: pd.DataFrame, attributes: Sequence[tuple[Sequence[str], Sequence[str]]],
                     pos_label=None, y_score=None, median: float | None = None) -> list[np.ndarray]:
    """The cell counts of one partition of the rows, per attribute, in the whole data set's group encoding.

    ``attributes`` holds (columns, labels) per attribute: its column(s) in ``frame`` and the labels
    :func:`~deepaudit.audit.fairness.groups.encode_groups` gives it on every row. With scores, ``median`` is the
    median of every row's score (the scoring rate's cut), not the partition's. Counts are sufficient
    statistics: :func:`merge_counts` adds the partitions' up to the counts of the whole data set, and every
    rate, interval and bootstrap of :mod:`deepaudit.audit.fairness` is computed from those alone.
    """
    if y_score is not None and median is None:
        raise ValueError("partition_counts needs the median of every row's score with y_score. Fix: pass median=.")
    with warnings.catch_warnings():   # a partition may well hold no favourable label; the whole data set is judged
        warnings.filterwarnings("ignore", message=r"pos_label=.* occurs in neither")
        cell, n_cells, _ = _cells(y_true, y_pred, pos_label, y_score, median)
    if len(frame) != len(cell):
        raise ValueError(LENGTH_MISMATCH.format(n=len(cell), what="the groups frame", n_other=len(frame)))
    return [_count(partition_codes(frame, list(cols), list(labels)), len(labels), cell, n_cells)
            for cols, labels in attributes]


def merge_counts(parts: Sequence[Sequence[np.ndarray]], groups: Sequence[GroupCodes], *,
                 median: float | None = None) -> Prepared:
    """The whole data set's :class:`Prepared` from its partitions' :func:`partition_counts` (in any order).

    ``groups`` is the encoding the partitions counted in (:func:`~deepaudit.audit.fairness.groups.encode_groups`
    on every row); every group's rows must add up to its size there, so a row counted twice or not at all is an
    error, never a wrong rate."""
    if not parts:
        raise ValueError(EMPTY_DATA)
    merged = [np.sum([p[i] for p in parts], axis=0, dtype=np.int64) for i in range(len(groups))]
    for g, counts in zip(groups, merged):
        got = counts.sum(axis=1)
        if counts.shape[0] != g.n_groups or not np.array_equal(got, g.sizes):
            raise ValueError(PARTS_DO_NOT_ADD_UP.format(attribute=g.attribute, got=got.tolist(),
                                                        want=g.sizes.tolist()))
    n_cells = merged[0].shape[1] if merged else 4
    n = int(merged[0].sum()) if merged else 0
    return Prepared(n, n_cells, list(zip(groups, merged)), median)


def group_counts(y_true, y_pred, *, sensitive, pos_label=None, y_score=None, columns=None,
                 breakdown: str = "intersection") -> pd.DataFrame:
    """Per-group confusion-cell counts (the sufficient statistics).

    Returns
    -------
    DataFrame
        ``attribute, group, n, tn, fp, fn, tp`` and, with ``y_score``,
        ``above_median`` (rows scoring above the full sample's median).

    Example
    -------
    >>> group_counts([1, 0, 1], [1, 1, 0], sensitive=["a", "a", "b"])[["group", "tp", "fp", "fn"]].values.tolist()
    [['a', 1, 1, 0], ['b', 0, 0, 1]]
    """
    prep = prepare(y_true, y_pred, sensitive=sensitive, pos_label=pos_label, y_score=y_score,
                   columns=columns, breakdown=breakdown)
    frames = []
    for g, counts in prep.attributes:
        conf = counts[:, :4] + (counts[:, 4:] if prep.n_cells == 8 else 0)
        df = pd.DataFrame({"attribute": g.attribute, "group": g.labels, "n": counts.sum(1),
                           "tn": conf[:, 0], "fp": conf[:, 1], "fn": conf[:, 2], "tp": conf[:, 3]})
        if prep.n_cells == 8:
            df["above_median"] = counts[:, 4:].sum(1)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)
