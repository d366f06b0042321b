"""Mitigation what-if: per-group thresholds (the post-processing of fairlearn's ThresholdOptimizer).

Reported as a what-if, never applied to the audited model: the result is a
table of (constraint, tolerance) -> accuracy, selection rates and impact ratio
on held-out rows, beside the unmitigated model. To keep the estimate honest
the evaluation rows are split in two halves (stratified by group and label,
seeded): thresholds are fitted on one half and evaluated on the other, then
the halves swap and the two evaluations are pooled (2-fold cross-fitting).
The rules randomise between two thresholds per group; the draw uses the
run's seed, so the what-if repeats.

The thresholds come from :mod:`deepaudit.audit.fairness.thresholds`: the algorithm of
fairlearn's ``ThresholdOptimizer`` (accuracy objective, grid of 1000) computed
from scores sorted once per group and fold, which makes the 13 settings cost
about one fairlearn fit; a test checks decisions equal to fairlearn's.

Tolerance sweep: ``tol`` relaxes the constraint (``None`` = no relaxation;
fairlearn's meaning: the constrained rate may differ by at most ``tol`` across
groups); sweeping it traces the trade-off between accuracy and the impact
ratio. Relaxation applies to the single-rate constraints, not to equalized
odds, which is reported at ``tol=None`` only.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from deepaudit.audit.fairness.thresholds import GroupCurve, fit_rules, randomised_decisions

NEED_TWO_GROUPS = ("mitigation what-if needs at least two groups in {column!r} with both outcomes "
                   "(found {groups}). Fix: pick another attribute.")
DEFAULT_CONSTRAINTS = ("demographic_parity", "equalized_odds", "true_positive_rate_parity")
DEFAULT_TOLS = (None, 0.2, 0.1, 0.05, 0.02)


def _rates(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray, eligible: list[int],
           names: np.ndarray) -> dict[str, Any]:
    """``groups``: integer codes into ``names``; selection rates keyed by name."""
    n = np.bincount(groups, minlength=len(names))
    fav = np.bincount(groups, weights=y_pred, minlength=len(names))
    rate = {int(k): float(fav[k] / n[k]) for k in np.flatnonzero(n)}
    sr = {str(names[k]): v for k, v in rate.items()}
    top = max(rate[g] for g in eligible)
    return {"accuracy": float((y_true == y_pred).mean()), "selection_rate": float(y_pred.mean()),
            "min_impact_ratio": min(rate[g] for g in eligible) / top if top > 0 else float("nan"),
            "selection_rates": sr}


def _folds(groups: np.ndarray, y: np.ndarray, seed: int, names: np.ndarray) -> np.ndarray:
    """Half of each (group, label) cell in fold 1, seeded; cells taken in the order of ``"name|label"``."""
    rng = np.random.RandomState(seed)
    fold = np.zeros(len(y), dtype=int)
    cells = sorted({(str(names[g]), int(v), int(g)) for g, v in zip(*np.unique(
        np.c_[groups, y], axis=0).T)}, key=lambda c: f"{c[0]}|{c[1]}")
    order = np.lexsort((y, groups))   # rows of each cell together, in row order within it
    code = (groups * 2 + y)[order]
    for _, v, g in cells:
        perm = rng.permutation(order[np.searchsorted(code, 2 * g + v):np.searchsorted(code, 2 * g + v, "right")])
        fold[perm[: len(perm) // 2]] = 1
    return fold


def threshold_what_if(y_true: Sequence[int], scores: Sequence[float], *, sensitive: pd.Series, seed: int = 0,
                      min_share: float = 0.02, constraints: Sequence[str] = DEFAULT_CONSTRAINTS,
                      tolerances: Sequence[float | None] = DEFAULT_TOLS) -> pd.DataFrame:
    """Accuracy and impact ratio of per-group thresholds vs the model's single 0.5 threshold.

    Parameters
    ----------
    y_true : array of {0, 1}
        1 = favourable outcome.
    scores : array of float
        The model's probability of the favourable outcome.
    sensitive : Series
        Group per row; missing values become the group ``"unknown"``.
    seed : int
        Fold split and the rules' randomisation.
    min_share : float
        ``min_impact_ratio`` compares known groups of at least this share (the
        policy's rule for checks); every group keeps its selection-rate column.

    Returns
    -------
    DataFrame
        One row per setting: ``setting`` ("model as audited" or the
        constraint), ``tol``, ``accuracy``, ``selection_rate``,
        ``min_impact_ratio`` (lowest group selection rate / highest),
        ``accuracy_change`` and ``impact_ratio_change`` vs the audited model,
        ``selection_rate_<group>`` columns, ``groups_at_model_threshold``
        (groups that cannot be fitted because a fitting fold holds only one
        label for them; they keep the model's 0.5 threshold) and ``applied``
        (always False).
    """
    y = np.asarray(y_true, dtype=int)
    s = np.asarray(scores, dtype=np.float64)
    # Groups as integer codes into their sorted names: comparing and sorting strings per row was most of the
    # cost at 100,000 rows. Every group-ordered step (fold cells, fitting) keeps the order of the names.
    g, names = pd.factorize(sensitive.astype("object").where(sensitive.notna(), "unknown").astype(str), sort=True)
    names = np.asarray(names, dtype=object)
    n_by = np.bincount(g, minlength=len(names))
    pos_by = np.bincount(g, weights=y, minlength=len(names))
    present = np.flatnonzero(n_by)
    usable = [k for k in present if 0 < pos_by[k] < n_by[k]]
    if len(usable) < 2:
        raise ValueError(NEED_TWO_GROUPS.format(column=sensitive.name, groups=sorted(names[present].tolist())))
    share = n_by / n_by.sum()
    known = [int(k) for k in present if names[k] != "unknown"]
    eligible = [k for k in known if share[k] >= min_share] or known or [int(k) for k in present]
    fold = _folds(g, y, seed, names)
    base_pred = (s >= 0.5).astype(int)
    base = _rates(y, base_pred, g, eligible, names)
    rows = [{"setting": "model as audited", "tol": None, **{k: v for k, v in base.items() if k != "selection_rates"},
             **{f"selection_rate_{k}": v for k, v in base["selection_rates"].items()},
             "groups_at_model_threshold": ""}]
    # Per fold: the groups that can be fitted (both labels in the fitting half) and their sorted scores,
    # computed once and shared by every (constraint, tolerance) setting.
    folds = []
    for k in (0, 1):
        fit, ev = fold != k, fold == k
        n_fit = np.bincount(g[fit], minlength=len(names))
        pos_fit = np.bincount(g[fit], weights=y[fit], minlength=len(names))
        fitted = [int(v) for v in np.flatnonzero(n_fit) if 0 < pos_fit[v] < n_fit[v]]
        ev &= np.isin(g, fitted)
        curves = {v: GroupCurve.from_scores(s[fit & (g == v)], y[fit & (g == v)]) for v in fitted} \
            if len(fitted) >= 2 and ev.any() else None
        folds.append(({str(names[v]) for v in present} - {str(names[v]) for v in fitted},
                      [str(names[v]) for v in fitted], ev, curves))
    for constraint in constraints:
        # relaxation applies to the single-rate constraints, not to equalized odds (as in fairlearn).
        for tol in tolerances if constraint != "equalized_odds" else [None]:
            pred = base_pred.copy()
            kept: set[str] = set()
            for unfit, fitted, ev, curves in folds:
                kept |= unfit
                if curves is None:
                    kept |= set(fitted)
                    continue
                rules = fit_rules(curves, constraint, tol)
                pred[ev] = randomised_decisions(rules, s[ev], g[ev], seed)
            r = _rates(y, pred, g, eligible, names)
            rows.append({"setting": constraint, "tol": tol, **{k: v for k, v in r.items() if k != "selection_rates"},
                         **{f"selection_rate_{k}": v for k, v in r["selection_rates"].items()},
                         "groups_at_model_threshold": ", ".join(sorted(kept))})
    df = pd.DataFrame(rows)
    df["accuracy_change"] = df["accuracy"] - base["accuracy"]
    df["impact_ratio_change"] = df["min_impact_ratio"] - base["min_impact_ratio"]
    df["applied"] = False
    return df
