"""Group comparisons with score and stratified-bootstrap intervals (docs/statistics.md).

One tidy row per reported number; every row carries ``value, lo, hi,
method, n, positives, negatives, reference``.

Decisions a reviewer should know:

- Spreads (max - min, min / max) and the named criteria (demographic parity,
  equal opportunity, equalized odds, predictive parity) run over *every*
  group, including "unknown" and small groups, exactly as fairlearn's
  ``MetricFrame.difference()/.ratio()`` on the same labels. Groups whose
  rate is undefined (e.g. TPR with no positives) are left out of that spread
  and named in ``note``. Spreads are biased upward when there are many small
  groups, hence the per-group rows against a reference group.
- Reference group: configurable, default the largest group other than
  "unknown".
- Impact ratio (LL144 / EEOC four-fifths): a group's selection (or scoring)
  rate over the highest rate among *known* groups -- LL144 excludes the
  unknown category from the calculation; the unknown group still gets its own
  row. ``four_fifths_flag`` is True exactly when the impact ratio is < 0.8.
- A single group: nothing to compare. Spread, criterion and impact-ratio rows
  are NaN with a note (not 0 / 1, which a policy check would read as "fair").
- A ratio whose denominator rate is 0 (e.g. a constant predictor that never
  selects) is NaN with a note; its difference is still defined.
- One group against one other (``difference_vs_reference``, ``ratio_vs_reference``,
  ``impact_ratio``): score intervals from the two groups' counts, Newcombe's
  hybrid score interval for a difference and MOVER-R for a ratio
  (:mod:`deepaudit.audit.fairness.intervals`). A bootstrap of a 0/n or n/n cell resamples
  to the same rate and gives an interval that only reflects the other side;
  these stay valid there (exact coverage at n <= 10 is tested by enumeration).
  Impact-ratio intervals are conditional on the reference group the rule
  picked. ``n_boot_valid`` is 0 on these rows (no bootstrap).
- ``too_small``: no outcome of the group (0 of n nor n of n) would give a
  difference interval excluding 0 against its reference; such a group is
  reported and marked, never read as "no difference".
- Spreads and criteria over all groups (a max and a min, no closed form) use
  the stratified bootstrap. LL144 scoring rate: the full-sample median is held
  at its observed value (the rates are resampled given that cut). Replicates
  where a needed rate is undefined are dropped and counted in ``n_boot_valid``,
  so such intervals are conditional on the rate existing.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from deepaudit.audit.fairness.counts import Prepared, prepare, rate_masks, rates_from_counts
from deepaudit.audit.fairness.groups import UNKNOWN, check_min_share, resolve_reference
from deepaudit.audit.fairness.intervals import (
    SCORE_DIFFERENCE_METHOD,
    SCORE_RATIO_METHOD,
    bootstrap_counts,
    bootstrap_method,
    check_confidence,
    log_ratio_interval,
    mover_ratio,
    newcombe_difference,
    percentile_interval,
    too_small_for_conclusion,
)

ALL_GROUPS = "all groups"
# Notes are read by reviewers in the report, so they say "not computable" rather than the table's NaN.
SINGLE_GROUP_NOTE = ("only one group ({group!r}) in {attribute!r}: no comparison is possible, so this is not "
                     "computable. Add data from other groups to compare.")
ZERO_DENOMINATOR_NOTE = "the denominator rate is 0, so the ratio is not computable; see the difference row."
UNDEFINED_GROUPS_NOTE = "left out (rate undefined, empty denominator): {groups}."
SPREAD_NOTE = "max {hi_group!r} = {hi:.4g}, min {lo_group!r} = {lo:.4g}; over all groups incl. unknown/small."
IMPACT_NOTE = "rate / highest rate among known groups ({top!r}); LL144 excludes 'unknown' from the denominator."
IMPACT_SMALL_NOTE = (" Groups under {share:.0%} of the data are never the denominator (too few to set the "
                     "yardstick for everyone else).")
CRITERIA = {
    "demographic_parity": ("selection_rate",),
    "equal_opportunity": ("tpr",),
    "equalized_odds": ("tpr", "fpr"),
    "predictive_parity": ("ppv",),
}
IMPACT_METRICS = ("selection_rate", "scoring_rate")
COLUMNS = ["attribute", "metric", "statistic", "group", "reference", "value", "lo", "hi", "method", "n",
           "positives", "negatives", "n_reference", "n_boot_valid", "small_group", "too_small", "four_fifths_flag",
           "note"]
TOO_SMALL_NOTE = ("too small for any conclusion: even 0 or all of its {n} would not differ from {ref!r} at this "
                  "confidence.")
REFERENCE_ITSELF_NOTE = "the reference group itself (ratio 1 by definition)."


def _spread(rates: np.ndarray, boot: np.ndarray, defined: np.ndarray):
    """Point and replicate max-min spread and log min/max over the defined groups."""
    r, b = rates[defined], boot[:, defined]
    with np.errstate(invalid="ignore"):
        b_max, b_min = b.max(axis=1), b.min(axis=1)  # NaN propagates: that replicate is invalid
    return r.max(), r.min(), b_max, b_min


def impact_reference(rate: np.ndarray, known: np.ndarray, small: np.ndarray, *,
                     exclude_small: bool = True) -> tuple[int, np.ndarray]:
    """The one rule for an impact ratio's denominator: (index of the group, mask of the groups it was picked from).

    The highest defined rate among known groups with at least the minimum share (``exclude_small``), else
    among known groups, else the first known group (every rate undefined). :func:`disparities` and the
    policy check (:func:`deepaudit.audit.fairness.checks.impact_ratio_check`) both call this, so tables, charts,
    reports and the check divide by the same group.
    """
    rate, known, small = np.asarray(rate, dtype=float), np.asarray(known, bool), np.asarray(small, bool)
    pool = known & ~np.isnan(rate)
    if exclude_small and (pool & ~small).any():
        pool = pool & ~small
    if not pool.any():
        pool = known.copy()
    candidates = np.flatnonzero(pool)
    return int(candidates[np.argmax(np.where(np.isnan(rate[candidates]), -np.inf, rate[candidates]))]), pool


def disparities(y_true, y_pred, *, sensitive, pos_label=None, y_score=None, columns=None,
                breakdown: str = "intersection", reference=None, n_boot: int = 1000, seed: int = 0,
                confidence: float = 0.95, min_share: float = 0.02, four_fifths: float = 0.8,
                exclude_small: bool = True, prepared: Prepared | None = None, metrics: Sequence[str] | None = None,
                spreads: bool = True) -> pd.DataFrame:
    """Differences, ratios, impact ratios and fairness criteria with bootstrap intervals.

    Parameters
    ----------
    y_true, y_pred, sensitive, pos_label, y_score, columns, breakdown, reference, min_share
        As in :func:`deepaudit.audit.fairness.metrics.group_metrics`.
    n_boot : int
        Stratified bootstrap replicates B (default 1000).
    seed : int
        Seed of the bootstrap; each attribute restarts from it, so its rows do
        not depend on which other attributes are audited.
    confidence : float
        Coverage of the percentile intervals.
    four_fifths : float
        Impact-ratio threshold of ``four_fifths_flag`` (default 0.8).
    exclude_small : bool
        The impact ratio's denominator is the highest rate among known groups with at least ``min_share``
        of the rows (default; the policy's ``exclude_small_groups``), so that a handful of rows never sets
        the yardstick; among all known groups when False, or when no group is large enough
        (:func:`impact_reference`, shared with the policy check).
    prepared : Prepared, optional
        Per-group counts instead of the rows, as in :func:`deepaudit.audit.fairness.metrics.group_metrics`.
    metrics : sequence of str, optional
        Only these rates (default: every rate the data allows) and the criteria built from them alone.
    spreads : bool
        With the spreads over all groups and the criteria (default). False gives only the per-group rows
        (each group against the reference, and impact ratios), whose intervals are score intervals: no
        bootstrap is drawn. The dashboard's threshold slider shows only those; each row equals the
        corresponding row of the full table.

    Returns
    -------
    DataFrame
        Columns ``attribute, metric, statistic, group, reference, value, lo,
        hi, method, n, positives, negatives, n_reference, n_boot_valid,
        small_group, four_fifths_flag, note``. ``metric`` is a rate
        (``selection_rate, tpr, fpr, ppv, accuracy, scoring_rate``) or a
        criterion (``demographic_parity, equal_opportunity, equalized_odds,
        predictive_parity``). ``statistic`` is one of
        ``difference_vs_reference, ratio_vs_reference`` (per group),
        ``impact_ratio`` (per group), ``max_min_difference, min_max_ratio``
        (rates, ``group == "all groups"``), ``difference, ratio``
        (criteria). Ratios of spreads lie in [0, 1]; ratio intervals are
        computed on the log scale.

    Example
    -------
    >>> d = disparities([1, 0, 1, 0], [1, 0, 0, 0], sensitive=["a", "a", "b", "b"], n_boot=200)
    >>> d.query("metric == 'demographic_parity' and statistic == 'difference'")["value"].item()
    0.5
    """
    check_min_share(min_share)
    confidence = check_confidence(confidence)
    prep = prepared if prepared is not None else prepare(
        y_true, y_pred, sensitive=sensitive, pos_label=pos_label, y_score=y_score, columns=columns,
        breakdown=breakdown)
    masks = rate_masks(prep.n_cells)
    if metrics is not None:
        unknown = [m for m in metrics if m not in masks]
        if unknown:
            raise ValueError(f"unknown rate(s) {unknown} for these counts; choose from {list(masks)}")
        masks = {k: v for k, v in masks.items() if k in set(metrics)}
    boot_m = bootstrap_method(n_boot, seed)
    boot_log = bootstrap_method(n_boot, seed, log_scale=True)
    boot_m_s, boot_log_s = (m + ", median cut fixed" for m in (boot_m, boot_log))
    score_d = SCORE_DIFFERENCE_METHOD.format(confidence=confidence)
    score_r = SCORE_RATIO_METHOD.format(confidence=confidence)
    rows: list[dict] = []
    for groups, counts in prep.attributes:
        labels, attr = groups.labels, groups.attribute
        n_g = counts.sum(axis=1)
        small = groups.small(min_share)
        pos = counts[:, [2, 3]].sum(1) + (counts[:, [6, 7]].sum(1) if prep.n_cells == 8 else 0)
        neg = n_g - pos
        ref = resolve_reference(groups, reference)
        known = np.array([lab != UNKNOWN for lab in labels]) if len(labels) > 1 else np.ones(1, bool)
        boot = bootstrap_counts(counts, n_boot=n_boot, seed=seed) if spreads else None
        point, reps, nums, dens = {}, {}, {}, {}
        for name, (num_mask, den_mask) in masks.items():
            nums[name], dens[name], point[name] = rates_from_counts(counts, num_mask, den_mask)
            if boot is not None:
                reps[name] = rates_from_counts(boot, num_mask, den_mask)[2]

        def row(metric, statistic, group, ref_idx, value, lo, hi, method, idx=None, n_valid=0,
                flag=False, note="", too_small=False):
            # idx: the group (int) or the groups (bool mask) the number is about; None = all groups.
            sel = slice(None) if idx is None else idx
            rows.append({
                "attribute": attr, "metric": metric, "statistic": statistic, "group": group,
                "reference": "" if ref_idx is None else labels[ref_idx], "value": float(value),
                "lo": float(lo), "hi": float(hi), "method": method, "n": int(np.sum(n_g[sel])),
                "positives": int(np.sum(pos[sel])), "negatives": int(np.sum(neg[sel])),
                "n_reference": 0 if ref_idx is None else int(n_g[ref_idx]), "n_boot_valid": int(n_valid),
                "small_group": bool(np.any(small[sel])), "too_small": bool(too_small),
                "four_fifths_flag": bool(flag), "note": note})

        single = groups.n_groups == 1
        single_note = SINGLE_GROUP_NOTE.format(group=labels[0], attribute=attr)
        spread, notes = {}, {}
        for name in masks:
            m_lin, m_log = (boot_m_s, boot_log_s) if name == "scoring_rate" else (boot_m, boot_log)
            rate, rb = point[name], reps.get(name)
            num, den = nums[name], dens[name]
            cut = ", median cut fixed" if name == "scoring_rate" else ""
            s_d, s_r = score_d + cut, score_r + cut
            # Per group vs the reference: score intervals from the two groups' counts (valid at 0/n and n/n).
            d_lo, d_hi = newcombe_difference(num, den, num[ref], den[ref], confidence=confidence)
            r_lo, r_hi = mover_ratio(num, den, num[ref], den[ref], confidence=confidence)
            # only where both rates exist (an undefined rate is noted as such, not as "too small")
            tiny = too_small_for_conclusion(den, num[ref], den[ref], confidence=confidence) & (den > 0) & (
                den[ref] > 0)
            for g in range(groups.n_groups):
                if g == ref:
                    continue
                ratio_ok = rate[ref] > 0
                size_note = TOO_SMALL_NOTE.format(n=int(den[g]), ref=labels[ref]) if tiny[g] else ""
                row(name, "difference_vs_reference", labels[g], ref, rate[g] - rate[ref], d_lo[g], d_hi[g],
                    s_d, g, too_small=tiny[g], note=size_note)
                row(name, "ratio_vs_reference", labels[g], ref,
                    rate[g] / rate[ref] if ratio_ok else np.nan, r_lo[g] if ratio_ok else np.nan,
                    r_hi[g] if ratio_ok else np.nan, s_r, g, too_small=tiny[g],
                    note=" ".join(filter(None, ["" if ratio_ok or np.isnan(rate[ref]) else ZERO_DENOMINATOR_NOTE,
                                                size_note])))
            # Spread over every group with a defined rate.
            defined = ~np.isnan(rate)
            left_out = [labels[g] for g in np.flatnonzero(~defined)]
            if not spreads:
                spread[name] = None
            elif single or defined.sum() < 1:
                spread[name] = None
                notes[name] = single_note if single else UNDEFINED_GROUPS_NOTE.format(groups=left_out)
                for stat in ("max_min_difference", "min_max_ratio"):
                    row(name, stat, ALL_GROUPS, None, np.nan, np.nan, np.nan, m_lin, note=notes[name])
            else:
                hi_v, lo_v, b_max, b_min = _spread(rate, rb, defined)
                top, bottom = np.flatnonzero(defined & (rate == hi_v))[0], np.flatnonzero(defined & (rate == lo_v))[0]
                note = SPREAD_NOTE.format(hi_group=labels[top], hi=hi_v, lo_group=labels[bottom], lo=lo_v)
                if left_out:
                    note += " " + UNDEFINED_GROUPS_NOTE.format(groups=left_out)
                spread[name] = (hi_v, lo_v, b_max, b_min, top, note)
                dlo, dhi, dn = percentile_interval(b_max - b_min, confidence=confidence)
                row(name, "max_min_difference", ALL_GROUPS, top, hi_v - lo_v, dlo, dhi, m_lin, defined,
                    int(dn), note=note)
                rlo, rhi, rn = log_ratio_interval(b_min, b_max, confidence=confidence)
                ok = hi_v > 0
                row(name, "min_max_ratio", ALL_GROUPS, top, lo_v / hi_v if ok else np.nan,
                    rlo if ok else np.nan, rhi if ok else np.nan, m_log, defined, int(rn),
                    note=note if ok else ZERO_DENOMINATOR_NOTE)
            # Impact ratio against the highest known group.
            if name in IMPACT_METRICS:
                top, pool = impact_reference(rate, known, small, exclude_small=exclude_small)
                small_note = (IMPACT_SMALL_NOTE.format(share=min_share)
                              if exclude_small and (known & small).any() else "")
                # Conditional on the reference group the rule picked (the same group every view names).
                i_lo, i_hi = mover_ratio(num, den, num[top], den[top], confidence=confidence)
                i_tiny = too_small_for_conclusion(den, num[top], den[top], confidence=confidence) & (den > 0) & (
                    den[top] > 0)
                ok = rate[top] > 0 and not single
                for g in range(groups.n_groups):
                    value = rate[g] / rate[top] if ok else np.nan
                    lo, hi = (1.0, 1.0) if g == top else (i_lo[g], i_hi[g])
                    note = single_note if single else (IMPACT_NOTE.format(top=labels[top]) + small_note if ok
                                                       else ZERO_DENOMINATOR_NOTE)
                    if g == top and ok:
                        note = REFERENCE_ITSELF_NOTE + " " + note
                    elif i_tiny[g] and ok:
                        note = TOO_SMALL_NOTE.format(n=int(den[g]), ref=labels[top]) + " " + note
                    row(name, "impact_ratio", labels[g], top, value, lo if ok else np.nan,
                        hi if ok else np.nan, s_r, g, flag=ok and value < four_fifths,
                        too_small=bool(i_tiny[g]) and g != top, note=note)
        if spreads:
            _criteria(spread, notes, masks, row, boot_m, boot_log, confidence)
    return pd.DataFrame(rows, columns=COLUMNS)


def _criteria(spreads, notes, masks, row, boot_m, boot_log, confidence):
    """Named criteria rows from the per-rate spreads of the same bootstrap replicates."""
    for criterion, parts in CRITERIA.items():
        if any(p not in masks for p in parts):
            continue
        missing = [p for p in parts if spreads[p] is None]
        if missing:
            for stat, method in (("difference", boot_m), ("ratio", boot_log)):
                row(criterion, stat, ALL_GROUPS, None, np.nan, np.nan, np.nan, method, note=notes[missing[0]])
            continue
        got = [spreads[p] for p in parts]
        what = " and ".join(parts)
        diffs = [hi - lo for hi, lo, *_ in got]
        worst = int(np.argmax(diffs))
        diff_b = np.max(np.stack([bm - bn for _, _, bm, bn, *_ in got]), axis=0)
        dlo, dhi, dn = percentile_interval(diff_b, confidence=confidence)
        # the note names the groups that set the spread: over all groups, a handful of 'unknown' rows can
        # set it where the policy check (eligible groups only) sees almost none
        row(criterion, "difference", ALL_GROUPS, got[worst][4], diffs[worst], dlo, dhi, boot_m, n_valid=dn,
            note=f"max-min spread of {what}" + (f" (the larger: {parts[worst]})" if len(parts) > 1 else "")
            + f": {got[worst][5]}")
        if any(hi <= 0 for hi, *_ in got):
            row(criterion, "ratio", ALL_GROUPS, None, np.nan, np.nan, np.nan, boot_log, note=ZERO_DENOMINATOR_NOTE)
            continue
        ratios = [lo / hi for hi, lo, *_ in got]
        worst = int(np.argmin(ratios))
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio_b = np.min(np.stack([np.where(bm > 0, bn / np.where(bm > 0, bm, 1), np.nan)
                                       for _, _, bm, bn, *_ in got]), axis=0)
        rlo, rhi, rn = log_ratio_interval(ratio_b, np.ones_like(ratio_b), confidence=confidence)
        row(criterion, "ratio", ALL_GROUPS, got[worst][4], ratios[worst], rlo, rhi, boot_log, n_valid=rn,
            note=f"min/max ratio of {what}" + (f" (the smaller: {parts[worst]})" if len(parts) > 1 else "")
            + f": {got[worst][5]}")
