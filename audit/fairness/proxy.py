"""Proxy analysis: which model inputs carry information about a sensitive attribute?

A feature can stand in for a protected attribute the model never sees. For
every input feature and every sensitive attribute this reports the feature's
association with the attribute beside the feature's attribution importance,
so a feature that is both important to the model and predictive of race
stands out.

Association is the correlation ratio eta (Pearson 1903): the square root of
the share of the feature's variance explained by group means, in [0, 1]
(0 = identical group means; 1 = the feature determines the group). It is
computed on known values of the attribute only ("unknown" rows left out, and
counted). The one-way ANOVA p-value says whether the association could be
chance. A feature is flagged ``proxy_candidate`` when eta >= ``min_eta``
(default 0.2) and it ranks within the ``top_k`` (default 10) most important
features.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from audit.special import f_sf

NO_ATTRIBUTES = "proxy analysis needs at least one sensitive column; got none. Fix: set sensitive_columns."
SHAPE = ("inputs have {n_in} rows and {n_feat} columns but {what} has {n_other}. "
         "Fix: pass the same samples and one name per column.")


def correlation_ratio(values: np.ndarray, codes: np.ndarray) -> float:
    """eta = sqrt(between-group sum of squares / total sum of squares); NaN for a constant feature."""
    total = ((values - values.mean()) ** 2).sum()
    if total == 0 or len(np.unique(codes)) < 2:
        return float("nan")
    counts = np.bincount(codes)
    means = np.bincount(codes, weights=values) / np.maximum(counts, 1)
    between = (counts * (means - values.mean()) ** 2).sum()
    return float(np.sqrt(between / total))


def anova_pvalue(parts: Sequence[np.ndarray]) -> float:
    """p-value of the one-way ANOVA F-test that ``parts`` share one mean.

    The arithmetic of ``scipy.stats.f_oneway`` (centred sums of squares, F = MSB / MSW, p from the
    F distribution's survival function), so equal to it; without importing scipy.stats. NaN when a
    part is empty, every part has one value, or every value is the same; 0 when each part is
    constant but the parts differ.
    """
    if len(parts) < 2 or any(len(q) == 0 for q in parts) or all(len(q) == 1 for q in parts):
        return float("nan")
    data = np.concatenate(parts).astype(np.float64)
    n, k = len(data), len(parts)
    offset = data.mean()
    centred = data - offset
    normalized_ss = centred.sum() ** 2. / n
    sstot = np.vecdot(centred, centred) - normalized_ss
    ssbn = 0
    for q in parts:
        ssbn = ssbn + np.sum(np.asarray(q, dtype=np.float64) - offset) ** 2. / len(q)
    ssbn = ssbn - normalized_ss
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (ssbn / (k - 1)) / ((sstot - ssbn) / (n - k))
    if all(np.all(np.diff(q) == 0) for q in parts):
        f = np.nan if np.all(np.diff(data) == 0) else np.inf
    return f_sf(k - 1, n - k, float(f))


def proxy_table(inputs: np.ndarray, feature_names: Sequence[str], groups: pd.DataFrame,
                sensitive_columns: Sequence[str], importance: pd.DataFrame, *, min_eta: float = 0.2,
                top_k: int = 10, labels: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per (sensitive attribute, feature): eta, p-value, importance rank and share, flag.

    ``importance`` is :func:`audit.explain.views.feature_importance` output
    (columns ``feature``, ``rank``, ``share``). Sorted by attribute, then by
    eta x importance share, descending.
    """
    x = np.asarray(inputs, dtype=np.float64)
    if not sensitive_columns:
        raise ValueError(NO_ATTRIBUTES)
    if x.ndim != 2 or x.shape[1] != len(feature_names) or len(groups) != len(x):
        raise ValueError(SHAPE.format(n_in=x.shape[0], n_feat=x.shape[1] if x.ndim == 2 else "?",
                                      what="feature_names/groups", n_other=(len(feature_names), len(groups))))
    # plain dicts: one lookup per (attribute, feature) instead of two DataFrame .loc calls
    rank_of = {str(f): int(r) for f, r in zip(importance["feature"], importance["rank"])}
    share_of = {str(f): float(v) for f, v in zip(importance["feature"], importance["share"])}
    labels = labels or {}
    rows = []
    for col in sensitive_columns:
        g = groups[col]
        known = g.notna().to_numpy()
        codes, uniques = pd.factorize(g[known], sort=True)
        for j, f in enumerate(feature_names):
            v = x[known, j]
            eta = correlation_ratio(v, codes)
            parts = [v[codes == k] for k in range(len(uniques))]
            p = anova_pvalue(parts) if np.isfinite(eta) and all(len(q) > 1 for q in parts) else float("nan")
            means = {str(u): float(q.mean()) for q, u in zip(parts, uniques)}
            rank = rank_of.get(f)
            share = share_of.get(f, float("nan"))
            rows.append({"attribute": col, "feature": f,
                         "label": labels.get(f, labels.get(f.removesuffix("_missing"), f)),
                         "eta": eta, "p_value": p, "importance_rank": rank, "importance_share": share,
                         "n_known": int(known.sum()), "n_unknown": int((~known).sum()),
                         "group_means": means,
                         "proxy_candidate": bool(np.isfinite(eta) and eta >= min_eta and rank is not None
                                                 and rank <= top_k)})
    df = pd.DataFrame(rows)
    df["score"] = df["eta"].fillna(0) * df["importance_share"].fillna(0)
    return df.sort_values(["attribute", "score", "feature"], ascending=[True, False, True],
                          kind="mergesort").drop(columns="score").reset_index(drop=True)
