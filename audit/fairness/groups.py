"""Sensitive attributes -> integer group codes and readable group labels.

Design decisions (docs/statistics.md):

- Missing values (None, NaN, pd.NA, NaT, an empty or all-blank string, and the
  literal string ``"unknown"``) form one explicit group labelled ``"unknown"``,
  sorted last, with its count (:func:`is_missing_label`). Other spellings
  ("Unknown", "NA", "n/a") are real values: a column that uses them for missing
  should be cleaned first.
- Several columns are crossed into intersectional groups labelled
  ``"black & female"``; the attribute is named ``"race x sex"``. A row with
  a missing value in *any* of the crossed columns falls into the single
  ``"unknown"`` group of the intersection (the same convention as the bundled
  ``race_x_sex`` column): a partly known intersection such as
  ``"black & unknown"`` would mix people of every sex and cannot be compared
  with the fully known cells.
- Groups with a share of rows below ``min_share`` (default 0.02, the cut NYC
  Local Law 144 allows excluding) are flagged ``small_group``, never dropped.
- Only groups that occur in the data exist; an attribute whose every value is
  missing is an error, since no group could be compared.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

UNKNOWN = "unknown"
LABEL_SEP = " & "
ATTRIBUTE_SEP = " x "
DEFAULT_ATTRIBUTE = "sensitive"
BREAKDOWNS = ("intersection", "separate", "both")

EMPTY_SENSITIVE = ("sensitive has no columns. Fix: pass one column (list, array or Series) or a DataFrame "
                   "with at least one sensitive attribute.")
SENSITIVE_LENGTH = ("sensitive has {n_sensitive} rows but y_true has {n} rows. Fix: give one sensitive value "
                    "per sample, in the same order (use None for a missing value).")
SENSITIVE_NDIM = ("sensitive must be one column or a 2-D table, got an array with shape {shape}. Fix: pass a "
                  "1-D array/Series, or a DataFrame with one column per attribute.")
MISSING_COLUMN = ("sensitive column {column!r} is not in the DataFrame (columns: {columns}). Fix: pick "
                  "column names from that list, or pass columns=None to use every column.")
ALL_MISSING = ("sensitive column {column!r}: every one of its {n} values is missing (None/NaN), so it has no "
               "group to compare. Fix: fill in the attribute, or leave this column out of the audit.")
ALL_MISSING_INTERSECTION = ("intersection {attribute!r}: every one of its {n} rows misses at least one of the "
                            "columns {columns}, so it has no known group to compare. Fix: audit the columns "
                            "separately (breakdown='separate') or fill in the missing values.")
BAD_BREAKDOWN = "breakdown={value!r} is not one of {choices}. Fix: use one of these."
BAD_MIN_SHARE = "min_share={value!r} must be a number in [0, 1). Fix: use e.g. 0.02 (the LL144 2% rule)."


@dataclass(frozen=True)
class GroupCodes:
    """One sensitive attribute (a column or an intersection) encoded as integers.

    Attributes
    ----------
    attribute : str
        Column name, or ``"race x sex"`` for an intersection.
    codes : ndarray of intp, shape (n,)
        Group index of every row, in ``range(len(labels))``.
    labels : list of str
        Group labels; ``"unknown"`` (if present) is last.
    sizes : ndarray of int64, shape (n_groups,)
        Rows per group.
    """

    attribute: str
    codes: np.ndarray
    labels: list[str]
    sizes: np.ndarray

    @property
    def n_groups(self) -> int:
        return len(self.labels)

    def shares(self) -> np.ndarray:
        return self.sizes / self.sizes.sum()

    def small(self, min_share: float) -> np.ndarray:
        """True for groups whose share of rows is below ``min_share``."""
        return self.shares() < min_share


def _as_frame(sensitive, n: int) -> pd.DataFrame:
    if isinstance(sensitive, pd.DataFrame):
        frame = sensitive
    elif isinstance(sensitive, Mapping):
        frame = pd.DataFrame({str(k): pd.Series(v).to_numpy() for k, v in sensitive.items()})
    elif isinstance(sensitive, pd.Series):
        name = DEFAULT_ATTRIBUTE if sensitive.name is None else str(sensitive.name)
        frame = pd.DataFrame({name: sensitive.to_numpy()})
    else:
        values = np.asarray(sensitive, dtype=object) if isinstance(sensitive, list) else np.asarray(sensitive)
        if values.ndim == 1:
            frame = pd.DataFrame({DEFAULT_ATTRIBUTE: values})
        elif values.ndim == 2:
            frame = pd.DataFrame({f"{DEFAULT_ATTRIBUTE}_{j}": values[:, j] for j in range(values.shape[1])})
        else:
            raise ValueError(SENSITIVE_NDIM.format(shape=values.shape))
    if frame.shape[1] == 0:
        raise ValueError(EMPTY_SENSITIVE)
    if len(frame) != n:
        raise ValueError(SENSITIVE_LENGTH.format(n_sensitive=len(frame), n=n))
    return frame


def is_missing_label(value: object) -> bool:
    """Whether a (non-NA) value of a sensitive column counts as missing: the literal ``"unknown"`` or a blank
    string (``""``, spaces), which would otherwise become a group with an invisible label."""
    return isinstance(value, str) and (value == UNKNOWN or not value.strip())


def _factorize(column: pd.Series, name: str) -> tuple[np.ndarray, list[str]]:
    """Codes in sorted value order, -1 for missing (incl. the literal 'unknown' and blank strings)."""
    # pd.factorize works on the column's native (e.g. Arrow) storage and codes every
    # NA flavour as -1; sorting happens on the few uniques, not on the rows.
    codes, uniques = pd.factorize(column, sort=False, use_na_sentinel=True)
    values = list(uniques)
    keep = [k for k, v in enumerate(values) if not is_missing_label(v)]
    try:
        keep.sort(key=lambda k: values[k])
    except TypeError:
        # Mixed types (e.g. 1 and "a") cannot be ordered; order by their text instead.
        keep.sort(key=lambda k: str(values[k]))
    rank = np.full(len(values) + 1, -1, dtype=np.intp)  # last slot maps the -1 sentinel
    rank[keep] = np.arange(len(keep))
    codes = rank[codes]
    if not keep:
        raise ValueError(ALL_MISSING.format(column=name, n=len(column)))
    return codes, [str(values[k]) for k in keep]


def _finish(attribute: str, codes: np.ndarray, labels: list[str], has_unknown: bool) -> GroupCodes:
    n_known = len(labels)
    if has_unknown:
        codes = np.where(codes < 0, n_known, codes)
        labels = [*labels, UNKNOWN]
    sizes = np.bincount(codes, minlength=len(labels)).astype(np.int64)
    return GroupCodes(attribute, codes, labels, sizes)


def _single(column: pd.Series, name: str) -> GroupCodes:
    codes, labels = _factorize(column, name)
    return _finish(name, codes, labels, bool((codes < 0).any()))


def _intersection(frame: pd.DataFrame, names: list[str]) -> GroupCodes:
    parts = [_factorize(frame[c], c) for c in names]
    missing = np.zeros(len(frame), dtype=bool)
    combined = np.zeros(len(frame), dtype=np.int64)
    for codes, labels in parts:
        missing |= codes < 0
        # Mixed radix keeps the lexicographic order of the per-column sorted codes.
        combined = combined * len(labels) + np.maximum(codes, 0)
    attribute = ATTRIBUTE_SEP.join(names)
    if missing.all():
        raise ValueError(ALL_MISSING_INTERSECTION.format(attribute=attribute, n=len(frame), columns=names))
    observed, inverse = np.unique(combined[~missing], return_inverse=True)
    codes = np.full(len(frame), -1, dtype=np.intp)
    codes[~missing] = inverse
    labels = []
    radices = [len(p[1]) for p in parts]
    for value in observed:
        digits = []
        for radix in reversed(radices):
            value, digit = divmod(int(value), radix)
            digits.append(digit)
        labels.append(LABEL_SEP.join(p[1][d] for p, d in zip(parts, reversed(digits))))
    return _finish(attribute, codes, labels, bool(missing.any()))


def encode_groups(sensitive, n: int, *, columns: list[str] | None = None,
                  breakdown: str = "intersection") -> list[GroupCodes]:
    """Encode sensitive values as integer group codes, one entry per attribute.

    Parameters
    ----------
    sensitive : array-like, Series, DataFrame or mapping of columns
        One sensitive value per sample; missing values become ``"unknown"``.
    n : int
        Number of samples (checked against ``len(sensitive)``).
    columns : list of str, optional
        With a DataFrame: which columns to use (default all).
    breakdown : {"intersection", "separate", "both"}
        With several columns: one intersectional attribute (fairlearn's
        MetricFrame behaviour), each column on its own, or both.

    Returns
    -------
    list of GroupCodes

    Example
    -------
    >>> [g.labels for g in encode_groups(["a", None, "b"], 3)]
    [['a', 'b', 'unknown']]
    """
    if breakdown not in BREAKDOWNS:
        raise ValueError(BAD_BREAKDOWN.format(value=breakdown, choices=BREAKDOWNS))
    frame = _as_frame(sensitive, n)
    if columns is not None:
        for c in columns:
            if c not in frame.columns:
                raise ValueError(MISSING_COLUMN.format(column=c, columns=list(frame.columns)))
        frame = frame[list(columns)]
    names = [str(c) for c in frame.columns]
    frame = frame.set_axis(names, axis=1)  # a new frame: never rename the caller's columns
    if len(names) == 1:
        return [_single(frame[names[0]], names[0])]
    out = []
    if breakdown in ("separate", "both"):
        out.extend(_single(frame[c], c) for c in names)
    if breakdown in ("intersection", "both"):
        out.append(_intersection(frame, names))
    return out


def check_min_share(min_share: float) -> float:
    """Validate ``min_share`` (a fraction of rows)."""
    if not isinstance(min_share, (int, float)) or isinstance(min_share, bool) or not 0 <= min_share < 1:
        raise ValueError(BAD_MIN_SHARE.format(value=min_share))
    return float(min_share)


UNKNOWN_REFERENCE = ("reference group {reference!r} is not a group of {attribute!r} (groups: {groups}). "
                     "Fix: pick one of these labels, or reference=None for the largest group.")


def resolve_reference(groups: GroupCodes, reference=None) -> int:
    """Index of the reference group of one attribute.

    Parameters
    ----------
    groups : GroupCodes
    reference : str, mapping of attribute -> str, or None
        None (or an attribute absent from the mapping) picks the largest
        group other than ``"unknown"``; ties go to the first label in order.
        A mixed "unknown" group is a poor yardstick, so it is the reference
        only when named or when it is the only group.
    """
    if isinstance(reference, Mapping):
        reference = reference.get(groups.attribute)
    if reference is None:
        sizes = groups.sizes.astype(float)
        if groups.labels[-1] == UNKNOWN and groups.n_groups > 1:
            sizes[-1] = -1.0
        return int(np.argmax(sizes))
    label = str(reference)
    if label not in groups.labels:
        raise ValueError(UNKNOWN_REFERENCE.format(reference=reference, attribute=groups.attribute,
                                                  groups=groups.labels))
    return groups.labels.index(label)
