"""Fairness tables recomputed live from a run's predictions, with the audit's own engine. No Dash here.

The Fairness page shows the tables stored in a run. When a user picks another decision threshold, another
reference group, or an intersection of columns the run did not store, the page recomputes the tables from
``run.predictions()`` with :func:`deepaudit.audit.fairness.group_metrics` and
:func:`deepaudit.audit.fairness.disparities`,
the same functions and the same settings the audit used (bootstrap B and seed, minimum group share,
impact-ratio threshold, favourable label). So at the run's own decision rule, default reference and a
stored attribute, the live tables equal the stored ones exactly (a unit test checks this).

Decision rule. For a binary model with a favourable label, ``score`` in the predictions is
P(favourable) and the model's rule is the argmax, i.e. "favourable when P(favourable) > 0.5" (ties go to
the first class). A threshold ``t`` from the slider means "favourable when P(favourable) >= t"; at the
default (0.5) the stored predictions ``y_pred`` are used as they are, so the live numbers never depend on
how a tie at exactly 0.5 would fall. Models without a favourable label (digit recognition) are audited on
correctness, which no threshold changes: :func:`threshold_applies` is False for them.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from deepaudit.audit.fairness import disparities, encode_groups, group_metrics
from deepaudit.dashboard import data
from deepaudit.dashboard.context import Memo

if TYPE_CHECKING:
    from deepaudit.audit.result import AuditResult

DEFAULT_THRESHOLD = 0.5
THRESHOLD_MIN, THRESHOLD_MAX = 0.05, 0.95
SWEEP = np.round(np.arange(THRESHOLD_MIN, THRESHOLD_MAX + 1e-9, 0.01), 2)

UNKNOWN_REFERENCE_NOTE = "{reference!r} is not a group of {view!r}; using the default reference."
UNKNOWN_COLUMNS_NOTE = "{columns} not a column of this run; showing {shown!r}."
MISSING_COLUMNS = ("the predictions of run {run_id} have no column {columns} (columns: {have}). Pick other "
                   "columns, or rerun the audit with a current deepaudit.")


@dataclass(frozen=True)
class Settings:
    """The audit settings of one run that the live recomputation must reuse."""

    favorable: int | None          # class index of the favourable label; None: rates are accuracy per group
    binary: bool
    n_boot: int
    seed: int
    min_share: float
    four_fifths: float
    exclude_small: bool = True     # the policy's exclude_small_groups: small groups never set the impact yardstick

    @property
    def threshold_applies(self) -> bool:
        return self.favorable is not None and self.binary


def run_settings(run: AuditResult) -> Settings:
    """The settings recorded in a run (policy of the fairness section, seed of the run)."""
    classes = list(run.model.class_names)
    fav_label = run.model.favorable_label
    policy = run.fairness.policy
    return Settings(
        favorable=classes.index(fav_label) if fav_label is not None and fav_label in classes else None,
        binary=len(classes) == 2, n_boot=int(policy.get("n_boot", 1000)),
        seed=int(run.provenance.seed), min_share=float(policy.get("min_group_share", 0.02)),
        four_fifths=float(policy.get("impact_ratio_min", 0.8)),
        exclude_small=bool(policy.get("exclude_small_groups", True)))


def threshold_applies(run: AuditResult) -> bool:
    return run_settings(run).threshold_applies


def is_default_threshold(threshold: float | None) -> bool:
    return threshold is None or abs(float(threshold) - DEFAULT_THRESHOLD) < 1e-9


def outcomes(preds: pd.DataFrame, settings: Settings, threshold: float | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(y, yhat, favourable score) as 0/1 outcomes at ``threshold`` (None: the model's own decision rule).

    Without a favourable label the outcome is a correct prediction, as in the audit, and there is no score.
    """
    y_true, y_pred = preds["y_true"].to_numpy(), preds["y_pred"].to_numpy()
    if settings.favorable is None:
        correct = (y_pred == y_true).astype(np.int64)
        return correct, correct, None
    score = preds["score"].to_numpy(dtype=float)
    y = (y_true == settings.favorable).astype(np.int64)
    if not settings.threshold_applies or is_default_threshold(threshold):
        yhat = (y_pred == settings.favorable).astype(np.int64)
    else:
        yhat = (score >= float(threshold)).astype(np.int64)
    return y, yhat, score


def sensitive_frame(preds: pd.DataFrame, columns: Sequence[str], run_id: str = "") -> pd.Series | pd.DataFrame:
    missing = [c for c in columns if c not in preds.columns]
    if missing:
        raise ValueError(MISSING_COLUMNS.format(run_id=run_id, columns=missing, have=list(preds.columns)))
    return preds[columns[0]] if len(columns) == 1 else preds[list(columns)]


#: What the page's comparison table and charts show of ``disparities``: each group's selection rate against the
#: reference and the impact ratio, with score intervals. A view recomputed for the page computes only that
#: (``page=True``): no spreads over all groups, hence no bootstrap (equal rows, a test checks it).
PAGE_COMPARISONS = dict(metrics=("selection_rate",), spreads=False)


def live_tables(preds: pd.DataFrame, columns: Sequence[str], settings: Settings, *, threshold: float | None = None,
                reference: str | None = None, run_id: str = "", page: bool = False) -> dict[str, pd.DataFrame]:
    """``{"groups": group_metrics(...), "disparities": disparities(...)}`` for one column or an intersection.

    Parameters
    ----------
    preds : DataFrame
        ``run.predictions()``: ``y_true, y_pred, score`` and the sensitive/cohort columns.
    columns : sequence of str
        One column, or several crossed into intersectional groups (``"black & female"``).
    settings : Settings
        From :func:`run_settings` of the same run.
    threshold : float, optional
        Decision threshold on P(favourable); None (or 0.5) keeps the model's own decisions.
    reference : str, optional
        Reference group for differences and ratios; None is the engine's default (largest known group).
    page : bool
        Only the comparisons the page shows (:data:`PAGE_COMPARISONS`); default: the full table, as stored.
    """
    y, yhat, score = outcomes(preds, settings, threshold)
    kw = dict(sensitive=sensitive_frame(preds, columns, run_id), pos_label=1, min_share=settings.min_share,
              reference=reference)
    return {"groups": group_metrics(y, yhat, y_score=score, **kw),
            "disparities": disparities(y, yhat, y_score=score, n_boot=settings.n_boot, seed=settings.seed,
                                       four_fifths=settings.four_fifths, exclude_small=settings.exclude_small,
                                       **(PAGE_COMPARISONS if page else {}), **kw)}


def group_labels(preds: pd.DataFrame, columns: Sequence[str], run_id: str = "") -> list[str]:
    """The groups of one column or intersection, in the engine's order ("unknown" last)."""
    sens = sensitive_frame(preds, columns, run_id)
    return encode_groups(sens, len(preds))[0].labels


def selection_sweep(preds: pd.DataFrame, columns: Sequence[str], settings: Settings,
                    thresholds: np.ndarray = SWEEP, run_id: str = "") -> pd.DataFrame:
    """Each group's selection rate at every threshold (tidy: ``group, threshold, selection_rate, n``).

    Groups are the engine's (:func:`deepaudit.audit.fairness.encode_groups`); the rate is the share of the group with
    P(favourable) >= threshold. Computed through the same per-group sorted scores a run stores
    (:class:`~deepaudit.audit.fairness.score_index.ScoreIndex`), built here from the predictions for runs
    without one: one sort, then a binary search per segment and threshold.
    """
    from deepaudit.audit.fairness.score_index import ScoreIndex

    if not settings.threshold_applies:
        return pd.DataFrame(columns=["group", "threshold", "selection_rate", "n"])
    y, _, score = outcomes(preds, settings)
    index = ScoreIndex.build(y, score, sensitive_frame(preds, columns, run_id), list(columns))
    return indexed_sweep(index, thresholds)


def indexed_sweep(index: Any, thresholds: np.ndarray = SWEEP) -> pd.DataFrame:
    """:func:`selection_sweep` from a stored score index (same groups, same order, same rates)."""
    rates = index.selection_rates(thresholds)
    k = len(index.labels)
    return pd.DataFrame({"group": np.tile(index.labels, len(thresholds)),
                         "threshold": np.repeat(np.asarray(thresholds, dtype=float), k),
                         "selection_rate": rates.ravel(), "n": np.tile(index.sizes, len(thresholds))})


# A bounded, thread-safe memo keyed by run id: the same object the pages use for stored views.
LiveCache = Memo


@dataclass
class ViewTables:
    """The tables of one view (an attribute or an intersection) at one reference and threshold.

    ``source`` is ``"stored"`` (read from the run) or ``"live"`` (recomputed with the engine, taking
    ``seconds``). ``baseline`` is the same view at the model's decision rule when the threshold moved.
    """

    name: str
    columns: tuple[str, ...]
    groups: pd.DataFrame
    disparities: pd.DataFrame
    reference: str | None
    threshold: float | None
    source: str
    seconds: float = 0.0
    baseline: "ViewTables | None" = None
    sweep: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[str] = field(default_factory=list)


def _cached(cache: LiveCache | None, key: tuple, compute: Callable[[], Any]) -> Any:
    return compute() if cache is None else cache.get(key, compute)


def _timed_tables(preds_fn, columns, settings, threshold, reference, run_id, index=None):
    t0 = time.perf_counter()
    if index is not None and not is_default_threshold(threshold):
        tables = indexed_tables(index, settings, threshold=threshold, reference=reference, page=True)
    else:
        tables = live_tables(preds_fn(), columns, settings, threshold=threshold, reference=reference, run_id=run_id,
                             page=True)
    return tables, time.perf_counter() - t0


def indexed_tables(index: Any, settings: Settings, *, threshold: float, reference: str | None = None,
                   page: bool = False) -> dict[str, pd.DataFrame]:
    """:func:`live_tables` at ``threshold`` from a run's stored score index instead of its predictions: the
    same engine on the same counts, so the same tables (a test compares both)."""
    prepared = index.prepared(float(threshold))
    kw = dict(sensitive=None, prepared=prepared, min_share=settings.min_share, reference=reference)
    return {"groups": group_metrics(None, None, **kw),
            "disparities": disparities(None, None, n_boot=settings.n_boot, seed=settings.seed,
                                       four_fifths=settings.four_fifths, exclude_small=settings.exclude_small,
                                       **(PAGE_COMPARISONS if page else {}), **kw)}


#: Score indexes by (run id, run path, columns): kept apart from the page's LRU memo, whose entries (one per
#: threshold moved to) would push a run's index out and make the next request read the file again.
_INDEXES = Memo(8)
_INDEX_LOCK = threading.Lock()


def score_index(run: AuditResult, columns: Sequence[str], cache: LiveCache | None = None) -> Any:
    """The run's stored score index of ``columns`` (audit/fairness/score_index.py), or None (older runs, other
    views, a damaged file: the caller reads the predictions instead). Read once per run and view, by one
    request while concurrent ones wait for it (a million rows decompress in ~0.1 s)."""
    from deepaudit.audit.fairness.score_index import ARRAY_NAME, ScoreIndex

    def load() -> Any:
        if ARRAY_NAME not in run.array_names():
            return None
        try:
            return ScoreIndex.from_arrays(run.arrays(ARRAY_NAME), columns)
        except (OSError, ValueError):
            return None

    if cache is None or run.path is None:
        return load()
    key = (run.run_id, str(run.path), tuple(columns))
    with _INDEX_LOCK:
        return _INDEXES.get(key, load)


def view_tables(run: AuditResult, attribute: str | None, intersect: Sequence[str] = (), reference: str | None = None,
                threshold: float | None = None, *, predictions: Callable[[], pd.DataFrame] | None = None,
                cache: LiveCache | None = None) -> ViewTables:
    """Stored tables when the run holds the view at its defaults, else the engine's live recomputation.

    ``attribute`` is a stored attribute (unknown: the first); ``intersect`` two or more of them crossed
    (overrides ``attribute``); ``reference`` a group of the view (None or unknown: the engine's default);
    ``threshold`` on P(favourable) (None, or a model without one: the model's decision rule).
    ``predictions`` loads ``run.predictions()`` (only called when something has to be computed).
    """
    run_id = run.run_id
    settings = run_settings(run)
    predictions = predictions or run.predictions
    names = data.attribute_names(run)
    attribute = attribute if attribute in names else names[0]
    notes: list[str] = []
    cols = tuple(intersect) if len(intersect) >= 2 else (attribute,)
    unknown = [c for c in cols if c not in names]
    if unknown:
        notes.append(UNKNOWN_COLUMNS_NOTE.format(columns=", ".join(map(repr, unknown)), shown=attribute))
        cols = (attribute,)
    stored = data.stored_attribute(run, cols)
    source_cols = (stored,) if stored else cols
    name = stored or " x ".join(cols)
    thr = None
    if settings.threshold_applies:
        thr = DEFAULT_THRESHOLD if threshold is None else round(float(threshold), 2)

    record = run.fairness.attribute(stored) if stored is not None else None
    # An attribute stored without its comparisons (``disparities`` is optional) is recomputed like any view.
    complete = record is not None and bool(record.groups) and bool(record.disparities)

    def tables(t: float | None, ref: str | None) -> ViewTables:
        if complete and ref is None and is_default_threshold(t):
            # read from the run once: a moved threshold shows these as its baseline on every request
            stored_groups, stored_disparities = _cached(cache, ("stored", run_id, stored),
                                                        lambda: (run.groups(stored), run.disparities(stored)))
            return ViewTables(name, source_cols, stored_groups, stored_disparities, None, t, "stored")
        key = ("tables", run_id, source_cols, None if is_default_threshold(t) else t, ref)
        index = score_index(run, source_cols, cache) if settings.threshold_applies else None
        (got, seconds) = _cached(cache, key, lambda: _timed_tables(predictions, source_cols, settings, t, ref,
                                                                   run_id, index))
        return ViewTables(name, source_cols, got["groups"], got["disparities"], ref, t, "live", seconds)

    try:
        view = tables(thr, reference)
    except ValueError as e:
        if reference is None:
            raise
        notes.append(UNKNOWN_REFERENCE_NOTE.format(reference=reference, view=name) if "reference group" in str(e)
                     else str(e))
        view = tables(thr, None)
    if settings.threshold_applies:
        if not is_default_threshold(thr):
            view.baseline = tables(DEFAULT_THRESHOLD, view.reference)
        index = score_index(run, source_cols, cache)
        view.sweep = _cached(cache, ("sweep", run_id, source_cols),
                             lambda: indexed_sweep(index) if index is not None else
                             selection_sweep(predictions(), source_cols, settings, run_id=run_id))
    view.notes = notes
    return view
