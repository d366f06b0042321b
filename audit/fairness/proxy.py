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
chance.

Whether the model relies on the feature is judged for every group, not only
overall: a feature that encodes a minority status moves only that minority's
scores (most of the majority get zero attribution from it, because the
baseline is a majority applicant), so its global importance rank can be low
while it is among the most cited denial reasons for the minority. A feature
is flagged ``proxy_candidate`` when eta >= ``min_eta`` and at least one of:

- ``global``: it ranks within the ``top_k`` most important features overall;
- ``within group``: it ranks within ``top_k`` by mean |attribution| over the
  explained rows of some known group of the attribute (``group_rank``);
- ``reasons``: it is among the adverse-action reasons of at least
  ``reason_share_min`` of some group's denied applicants (``reason_share``;
  groups with at least 5 denied applicants);
- ``gap``: it is among the top 3 drivers of some group's gap to the reference
  (``gap_rank``, :mod:`deepaudit.audit.fairness.gap`).

``evidence`` names which held, with the group. Reasons and gap drivers are
per merged feature (``x`` with ``x_missing``), so both columns of a pair carry
the pair's value.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from deepaudit.audit.special import f_sf

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


GAP_TOP = 3


def _best(values: dict[str, float], *, lowest: bool) -> tuple[float, str]:
    """The best value over groups and its group ((nan, "") when there is none)."""
    items = [(v, g) for g, v in values.items() if np.isfinite(v)]
    if not items:
        return float("nan"), ""
    return min(items) if lowest else max(items, key=lambda t: t[0])


#: A group's own importance ranks count only with at least this many explained rows.
MIN_GROUP_ROWS = 10


def group_ranks(attributions: np.ndarray, rows: np.ndarray, column: pd.Series) -> dict[str, np.ndarray]:
    """Rank (1 = most important) of each feature by mean |attribution| within each known group with at least
    :data:`MIN_GROUP_ROWS` explained rows.

    ``attributions`` (m, F) are the explained rows ``rows`` (indices into ``column``)."""
    a = np.abs(np.asarray(attributions, dtype=np.float64))
    g = column.iloc[np.asarray(rows)]
    out = {}
    for value in sorted(g.dropna().unique(), key=str):
        mask = (g == value).to_numpy()
        if mask.sum() < MIN_GROUP_ROWS:
            continue
        mean = a[mask].mean(0)
        order = np.argsort(-mean, kind="stable")
        rank = np.empty(len(mean), int)
        rank[order] = np.arange(1, len(mean) + 1)
        out[str(value)] = rank
    return out


#: A group's reason shares count only with at least this many denied applicants (2 of 3 says little).
MIN_DENIED = 5


def reason_shares(reasons: pd.DataFrame, column: pd.Series, sample_ids: Sequence[Any]) -> dict[str, dict[str, float]]:
    """Per merged feature, per known group with at least :data:`MIN_DENIED` denied applicants: share of the
    group's denied applicants citing it among their reasons."""
    if reasons is None or len(reasons) == 0:
        return {}
    group_of = dict(zip(map(str, sample_ids), column.astype("object").where(column.notna(), None)))
    r = reasons.assign(_g=[group_of.get(str(s)) for s in reasons["sample_id"]])
    r = r[r["_g"].notna()]
    denied = r.groupby("_g")["sample_id"].nunique()
    cited = r[r["rank"] > 0].groupby(["feature", "_g"])["sample_id"].nunique()
    out: dict[str, dict[str, float]] = {}
    for (feature, g), n in cited.items():
        if denied[g] >= MIN_DENIED:
            out.setdefault(str(feature), {})[str(g)] = float(n / denied[g])
    return out


def proxy_table(inputs: np.ndarray, feature_names: Sequence[str], groups: pd.DataFrame,
                sensitive_columns: Sequence[str], importance: pd.DataFrame, *, min_eta: float = 0.3,
                top_k: int = 10, labels: dict[str, str] | None = None, attributions: np.ndarray | None = None,
                attribution_rows: np.ndarray | None = None, reasons: pd.DataFrame | None = None,
                sample_ids: Sequence[Any] | None = None, gap: pd.DataFrame | None = None,
                reason_share_min: float = 0.1, small: dict[str, set] | None = None) -> pd.DataFrame:
    """One row per (sensitive attribute, feature): eta, p-value, importance overall and within groups, flag.

    ``importance`` is :func:`deepaudit.audit.explain.views.feature_importance` output
    (columns ``feature``, ``rank``, ``share``). ``attributions`` / ``attribution_rows``: the run's published
    attributions and the rows they explain (for ranks within groups); ``reasons`` with ``sample_ids``: the
    adverse-action reason table; ``gap``: the gap decomposition table. Each is optional; without it that
    criterion is not evaluated (its column is empty). ``small``: per attribute, the labels of groups under the
    minimum share, whose own ranks and reason shares are not evidence (too few rows). Sorted by attribute,
    flagged first, then by eta x importance share, descending.
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
        # per attribute, not per feature: each feature's known values (contiguous rows) and each group's rows
        x_known = np.ascontiguousarray(x[known].T)
        in_group = [codes == k for k in range(len(uniques))]
        labels_u = [str(u) for u in uniques]
        tiny = (small or {}).get(col, set())
        within = (group_ranks(attributions, attribution_rows, g)
                  if attributions is not None and attribution_rows is not None else {})
        within = {k: v for k, v in within.items() if k not in tiny}
        shares = reason_shares(reasons, g, sample_ids) if reasons is not None and sample_ids is not None else {}
        shares = {f: {k: v for k, v in by.items() if k not in tiny} for f, by in shares.items()}

        def named(group: str) -> str:  # "black"; a bare number says which attribute it is ("race=1")
            return group if not group.replace(".", "", 1).lstrip("-").isdigit() else f"{col}={group}"

        gap_rank: dict[str, dict[str, float]] = {}
        if gap is not None and len(gap):
            for r in gap[gap["attribute"] == col].itertuples():
                gap_rank.setdefault(str(r.feature), {})[str(r.group)] = float(r.rank)
        for j, f in enumerate(feature_names):
            v = x_known[j]
            eta = correlation_ratio(v, codes)
            parts = [v[m] for m in in_group]
            p = anova_pvalue(parts) if np.isfinite(eta) and all(len(q) > 1 for q in parts) else float("nan")
            means = {u: float(q.mean()) for q, u in zip(parts, labels_u)}
            rank = rank_of.get(f)
            share = share_of.get(f, float("nan"))
            merged = f.removesuffix("_missing")
            g_rank, g_rank_group = _best({k: float(v[j]) for k, v in within.items()}, lowest=True)
            r_share, r_share_group = _best(shares.get(merged, {}), lowest=False)
            d_rank, d_rank_group = _best(gap_rank.get(merged, {}), lowest=True)
            evidence = []
            if rank is not None and rank <= top_k:
                evidence.append(f"global rank {rank}")
            if g_rank <= top_k:
                evidence.append(f"rank {int(g_rank)} within {named(g_rank_group)}")
            if r_share >= reason_share_min:
                evidence.append(f"a denial reason for {r_share:.0%} of denied {named(r_share_group)}")
            if d_rank <= GAP_TOP:
                evidence.append(f"driver {int(d_rank)} of the {named(d_rank_group)} gap")
            associated = bool(np.isfinite(eta) and eta >= min_eta)
            rows.append({"attribute": col, "feature": f,
                         "label": labels.get(f, labels.get(merged, f)),
                         "eta": eta, "p_value": p, "importance_rank": rank, "importance_share": share,
                         "group_rank": g_rank, "group_rank_group": g_rank_group,
                         "reason_share": r_share, "reason_share_group": r_share_group,
                         "gap_rank": d_rank, "gap_rank_group": d_rank_group,
                         "n_known": int(known.sum()), "n_unknown": int((~known).sum()),
                         "group_means": means, "evidence": "; ".join(evidence) if associated else "",
                         "proxy_candidate": associated and bool(evidence)})
    df = pd.DataFrame(rows)
    df["score"] = df["eta"].fillna(0) * df["importance_share"].fillna(0)
    return df.sort_values(["attribute", "proxy_candidate", "score", "feature"], ascending=[True, False, False, True],
                          kind="mergesort").drop(columns="score").reset_index(drop=True)
