"""fairlearn's ThresholdOptimizer on fixed scores: the oracle :mod:`deepaudit.audit.fairness.thresholds` is tested
against and benchmarked with (fairlearn is imported only when these run)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin


class FixedScores(BaseEstimator, ClassifierMixin):
    """A "prefit" estimator whose single input column is the favourable-class score itself."""

    def fit(self, X, y):  # noqa: D401 - sklearn protocol
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        s = np.asarray(X, dtype=np.float64)[:, 0]
        return np.stack([1 - s, s], axis=1)


def fit_threshold_optimizer(scores, y, groups, constraint: str, tol: float | None):
    """fairlearn's ThresholdOptimizer (accuracy objective) fitted on ``scores``; call
    ``.predict(scores[:, None], sensitive_features=..., random_state=...)`` or ``._pmf_predict`` on it."""
    from fairlearn.postprocessing import ThresholdOptimizer

    X = np.asarray(scores, dtype=np.float64)[:, None]
    opt = ThresholdOptimizer(estimator=FixedScores().fit(X, y), constraints=constraint, objective="accuracy_score",
                             prefit=True, predict_method="predict_proba", tol=tol)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return opt.fit(X, y, sensitive_features=groups)


def what_if_with_fairlearn(y, scores, groups, seed: int = 0) -> dict[tuple[str, float | None], np.ndarray]:
    """The mitigation what-if's decisions per (constraint, tol), computed by refitting fairlearn per setting
    and fold on the folds :func:`deepaudit.audit.fairness.mitigation.threshold_what_if` uses."""
    from deepaudit.audit.fairness.mitigation import DEFAULT_CONSTRAINTS, DEFAULT_TOLS, _folds

    y, s, g = np.asarray(y), np.asarray(scores, dtype=np.float64), np.asarray(groups).astype(str)
    codes, names = pd.factorize(pd.Series(g), sort=True)
    fold = _folds(codes, y, seed, np.asarray(names, dtype=object))
    out = {}
    for constraint in DEFAULT_CONSTRAINTS:
        for tol in DEFAULT_TOLS if constraint != "equalized_odds" else [None]:
            pred = (s >= 0.5).astype(int)
            for k in (0, 1):
                fit, ev = fold != k, fold == k
                fitted = [v for v in np.unique(g[fit]) if len(np.unique(y[fit & (g == v)])) == 2]
                fit &= np.isin(g, fitted)
                ev &= np.isin(g, fitted)
                if len(fitted) < 2 or not ev.any():
                    continue
                opt = fit_threshold_optimizer(s[fit], y[fit], g[fit], constraint, tol)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    pred[ev] = opt.predict(s[ev][:, None], sensitive_features=g[ev], random_state=seed)
            out[(constraint, tol)] = pred
    return out
