"""Adverse-action reasons for denials (Regulation B, 12 CFR 1002.9) from attributions.

For every applicant the model denies, attributions toward the favourable
outcome are computed against a documented reference: the target's baseline
(for the bundled mortgage model, the per-feature median of the preprocessed
training applications). A negative attribution means the applicant's value of
that feature, compared with the reference applicant's, pushed the score toward
denial. Features are merged with their missing-value indicator
(``x`` and ``x_missing`` are one reason), only features that pushed toward
denial are kept, and the strongest (at most 4) become the applicant's
principal reasons, with readable names. Integrated Gradients is deterministic,
so the same run gives the same reasons.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from deepaudit.audit.capabilities import infer_kind
from deepaudit.audit.explain import make_explainer
from deepaudit.audit.explain.views import feature_groups
from deepaudit.audit.features import Codebook
from deepaudit.audit.target import AuditTarget

MAX_REASONS = 4
NOT_TABULAR = ("reason codes need tabular rows with feature_names (got {domain} data, "
               "feature_names={names!r}). Fix: give (N, features) inputs and set AuditTarget.feature_names.")
NO_FAVORABLE = ("reason codes need a binary target with a favorable_label (target {name!r} has "
                "class_names={classes}, favorable_label={fav!r}). Fix: set favorable_label.")
BAD_MAX = "max_reasons must be between 1 and {limit}, got {value!r}."


NO_REASON = "no feature below the reference"


def rank_reasons(merged: np.ndarray, names: list[str], labels: dict[str, str],
                 max_reasons: int = MAX_REASONS) -> list[tuple[int, str, str, float, float]]:
    """One applicant's reasons from its attribution per feature group (toward the favourable class).

    The most negative groups first, at most ``max_reasons``, only those pushing toward denial: rows of
    (rank, feature, readable reason, attribution, share of all negative attribution). With no group below
    the reference: one row of rank 0 and :data:`NO_REASON`. The dashboard's what-if uses the same rule.
    """
    order = np.argsort(merged, kind="stable")
    picked = [j for j in order[:max_reasons] if merged[j] < 0]
    if not picked:
        return [(0, "", NO_REASON, 0.0, 0.0)]
    neg = float(np.where(merged < 0, -merged, 0.0).sum())
    return [(rank, names[j], labels.get(names[j], names[j]), float(merged[j]), float(-merged[j] / neg))
            for rank, j in enumerate(picked, start=1)]


def reason_code_params(*, n_steps: int, max_reasons: int = MAX_REASONS,
                       method: str = "integrated_gradients") -> dict[str, Any]:
    """The parameters of :func:`adverse_action_reasons`, stored as data with the reason codes
    (``result["fairness"]["probes"]["reason_codes"]["params"]``): ``method``, ``n_steps``, ``max_reasons``.
    Readers (the dashboard's what-if) take the attribution options from here, not from the prose ``method``."""
    return {"method": method, "n_steps": int(n_steps), "max_reasons": int(max_reasons)}


def adverse_action_reasons(audit_target: AuditTarget, *, max_reasons: int = MAX_REASONS,
                           method: str = "integrated_gradients", n_steps: int = 64,
                           rows: np.ndarray | None = None) -> pd.DataFrame:
    """Principal reasons for every denied applicant (of ``rows``, row positions, when given).

    Parameters
    ----------
    audit_target : AuditTarget
        Binary tabular target with ``favorable_label`` and ``feature_names``.
    max_reasons : int
        At most this many reasons per applicant (Regulation B practice: 4).
    method, n_steps : str, int
        Attribution method toward the favourable class and its step count.
    rows : array of int, optional
        Only these rows' denied applicants (a run passes its explanation sample when that is not every row;
        the dashboard gives any applicant's reasons on request).

    Returns
    -------
    DataFrame
        One row per (denied applicant, reason): ``sample_id``, ``score`` (P
        favourable), ``rank`` (1 = strongest), ``feature`` (group name),
        ``reason`` (readable), ``value`` (the applicant's raw value where the raw
        data has the column), ``attribution`` (negative: toward denial),
        ``share_of_denial`` (this reason's share of all negative attribution).
        A denied applicant with no feature pushing toward denial (possible when
        the reference itself is denied) gets one row with ``rank`` 0 and reason
        ``"no feature below the reference"``.
    """
    t = audit_target
    if infer_kind(t) != "tabular" or not t.feature_names:
        raise ValueError(NOT_TABULAR.format(domain=f"{infer_kind(t)} (domain {t.domain!r})", names=t.feature_names))
    if t.favorable_label is None or len(t.class_names) != 2:
        raise ValueError(NO_FAVORABLE.format(name=t.name, classes=t.class_names, fav=t.favorable_label))
    if not 1 <= max_reasons <= len(t.feature_names):
        raise ValueError(BAD_MAX.format(limit=len(t.feature_names), value=max_reasons))
    fav = t.class_names.index(t.favorable_label)
    x = t.eval_data.inputs
    probs = np.full(len(x), np.nan)
    among = np.arange(len(x)) if rows is None else np.unique(np.asarray(rows, dtype=np.int64))
    probs[among] = torch.softmax(t.logits(x[among]).double(), 1)[:, fav].numpy()
    denied = among[probs[among] < 0.5]
    cols = ["sample_id", "score", "rank", "feature", "reason", "value", "attribution", "share_of_denial"]
    if len(denied) == 0:
        return pd.DataFrame(columns=cols)
    attr = make_explainer(method, t, n_steps=n_steps).attribute(x[denied], target=fav).double().numpy()
    groups = feature_groups(t.feature_names)
    names = list(groups)
    merged = np.stack([attr[:, m].sum(1) for m in groups.values()], axis=1)   # (n_denied, n_groups)
    book = Codebook.from_provenance(t.provenance)
    labels = book.label_map(list(t.feature_names))
    raw = t.eval_data.raw if isinstance(t.eval_data.raw, pd.DataFrame) else None
    ids = np.asarray(t.eval_data.sample_ids)
    rows = []
    for r, i in enumerate(denied):
        for rank, f, reason, a, share in rank_reasons(merged[r], names, labels, max_reasons):
            value = ""
            if rank and raw is not None and f in raw.columns:
                v = raw[f].iloc[i]
                value = "missing" if pd.isna(v) else book.value(f, v)  # "no (0)" where the codebook says
            rows.append([ids[i], probs[i], rank, f, reason, value, a, share])
    return pd.DataFrame(rows, columns=cols)


def reason_summary(reasons: pd.DataFrame) -> pd.DataFrame:
    """How often each reason is given, and how often as the first reason."""
    r = reasons[reasons["rank"] > 0]
    if r.empty:
        return pd.DataFrame(columns=["feature", "reason", "n_applicants", "n_first", "share_of_denied"])
    n_denied = reasons["sample_id"].nunique()
    out = r.groupby(["feature", "reason"], sort=False).agg(
        n_applicants=("sample_id", "nunique"), n_first=("rank", lambda s: int((s == 1).sum()))).reset_index()
    out["share_of_denied"] = out["n_applicants"] / n_denied
    return out.sort_values(["n_applicants", "feature"], ascending=[False, True],
                           kind="mergesort").reset_index(drop=True)


FAITHFULNESS = ("share of denied applicants whose first stated reason, moved to the reference value, raises the "
                "approval score more than moving a randomly chosen unstated feature on which the applicant also "
                "differs from the reference, and at least as much as moving the last stated reason")


def reason_faithfulness(audit_target: AuditTarget, reasons: pd.DataFrame, *, seed: int = 0) -> dict[str, Any]:
    """Do the stated reasons describe what the model actually weighs? (Regulation B: the reasons must be the
    factors actually considered.)

    For each denied applicant with a first reason: ``gain_top`` = P(favourable) after setting that reason's
    columns (the feature and its missing indicator) to the reference's values, minus the current score;
    ``gain_random`` = the same for one unstated feature group drawn with ``seed`` among those where the
    applicant differs from the reference (moving a feature already at the reference changes nothing and would
    make the test trivial); ``gain_last`` = the same for the applicant's last stated reason when it has two or
    more. Faithful: ``gain_top > gain_random`` and ``gain_top >= gain_last`` (where there is a last reason).
    Returns ``{"summary": {...}, "table": DataFrame}``; the summary's
    ``share_faithful`` is over applicants with a comparison (``n_compared``).
    """
    t = audit_target
    fav = t.class_names.index(t.favorable_label)
    x = t.eval_data.inputs.float().cpu()
    base = (torch.zeros(x.shape[1]) if t.baseline is None else t.baseline.float().reshape(-1).cpu())
    groups = feature_groups(t.feature_names)
    names = list(groups)
    # (rows, groups): whether the row differs from the reference on any column of the group
    moved_by = (x != base).numpy().astype(np.float64) @ np.stack(list(groups.values()), axis=1).astype(np.float64) > 0
    ids = {str(v): i for i, v in enumerate(np.asarray(t.eval_data.sample_ids))}
    rng = np.random.default_rng(seed)
    r = reasons[reasons["rank"] > 0]
    rows, variants, owners = [], [], []
    for sid, own in r.groupby("sample_id", sort=False):
        i = ids[str(sid)]
        own = own.sort_values("rank")
        stated = set(own["feature"])
        differs = [g for g, d in zip(names, moved_by[i]) if d and g not in stated]
        pick = {"top": own["feature"].iloc[0],
                "random": differs[rng.integers(len(differs))] if differs else None,
                "last": own["feature"].iloc[-1] if len(own) > 1 else None}
        rows.append({"sample_id": sid, "top": pick["top"], "random": pick["random"] or "", "last": pick["last"] or ""})
        for kind, g in pick.items():
            if g is not None:
                moved = x[i].clone()
                moved[groups[g]] = base[groups[g]]
                variants.append(moved)
                owners.append((len(rows) - 1, kind))
    cols = ["sample_id", "score", "top", "gain_top", "random", "gain_random", "last", "gain_last", "faithful"]
    if not rows:
        return {"summary": {"n_denied_with_reasons": 0, "n_compared": 0, "share_faithful": None,
                            "rule": FAITHFULNESS, "seed": int(seed)}, "table": pd.DataFrame(columns=cols)}
    with torch.no_grad():
        moved_p = torch.softmax(t.logits(torch.stack(variants)).double(), 1)[:, fav].numpy()
        now = torch.softmax(t.logits(x[[ids[str(row["sample_id"])] for row in rows]]).double(), 1)[:, fav].numpy()
    for row, p in zip(rows, now):
        row.update(score=float(p), gain_top=np.nan, gain_random=np.nan, gain_last=np.nan)
    for (k, kind), p in zip(owners, moved_p):
        rows[k][f"gain_{kind}"] = float(p - rows[k]["score"])
    table = pd.DataFrame(rows)
    compared = table["gain_random"].notna()
    # faithful: beats the random unstated feature, and (with two or more reasons) gains at least as much as the
    # last stated reason, so the stated order means something
    beats_last = table["gain_last"].isna() | (table["gain_top"] >= table["gain_last"])
    ok = (table["gain_top"] > table["gain_random"]) & beats_last
    table["faithful"] = np.where(compared, ok, None)
    n_compared = int(compared.sum())
    share = float(ok[compared].mean()) if n_compared else None
    with_last = table["gain_last"].notna()
    summary = {"n_denied_with_reasons": int(len(table)), "n_compared": n_compared, "share_faithful": share,
               "share_top_raises_score": float((table["gain_top"] > 0).mean()),
               "share_top_beats_last": (float((table.loc[with_last, "gain_top"] >= table.loc[with_last, "gain_last"])
                                              .mean()) if with_last.any() else None),
               "median_gain_top": float(table["gain_top"].median()),
               "median_gain_random": float(table.loc[compared, "gain_random"].median()) if n_compared else None,
               "rule": FAITHFULNESS, "seed": int(seed)}
    return {"summary": summary, "table": table[cols]}
