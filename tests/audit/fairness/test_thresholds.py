"""Our one-sweep per-group thresholds against fairlearn's ThresholdOptimizer, the oracle.

Same scores, labels, groups and seed: the same favourable-decision
probabilities per row (float64 arithmetic in fairlearn's order, so equal to
FLOAT64_ATOL) and the same randomised decisions (counts, exact).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from deepaudit.audit.fairness.mitigation import threshold_what_if
from deepaudit.audit.fairness.thresholds import (
    CONSTRAINTS,
    GroupCurve,
    favourable_probability,
    fit_rules,
    randomised_decisions,
)
from deepaudit.audit.testing.fairlearn_reference import fit_threshold_optimizer, what_if_with_fairlearn
from deepaudit.audit.tolerance import FLOAT64_ATOL


def _fairlearn(scores, y, g, constraint, tol, seed):
    opt = fit_threshold_optimizer(scores, y, g, constraint, tol)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return opt._pmf_predict(scores[:, None], sensitive_features=g)[:, 1], opt.predict(
            scores[:, None], sensitive_features=g, random_state=seed)


def _ours(scores, y, g, constraint, tol, seed):
    curves = {k: GroupCurve.from_scores(scores[g == k], y[g == k]) for k in np.unique(g)}
    rules = fit_rules(curves, constraint, tol)
    return favourable_probability(rules, scores, g), randomised_decisions(rules, scores, g, seed)


def _data(rng, n, n_groups, ties):
    g = rng.choice([f"g{i}" for i in range(n_groups)], size=n, p=rng.dirichlet(np.ones(n_groups) * 2))
    shift = {k: rng.normal(0, 0.8) for k in np.unique(g)}
    z = rng.normal(size=n) + np.array([shift[k] for k in g])
    y = (z + rng.normal(scale=1.2, size=n) > 0).astype(int)
    s = 1 / (1 + np.exp(-z))
    if ties:  # coarse scores: many rows share a threshold
        s = np.round(s, 1)
    # every group needs both labels (fairlearn raises otherwise; the what-if leaves such groups out)
    for k in np.unique(g):
        idx = np.flatnonzero(g == k)
        y[idx[0]], y[idx[-1]] = 0, 1
    return s, y, g


CASES = [(seed, n, groups, ties) for seed, n, groups, ties in
         [(0, 300, 2, False), (1, 500, 3, False), (2, 200, 4, True), (3, 800, 5, False), (4, 150, 2, True),
          (5, 60, 3, False)]]


@pytest.mark.parametrize("seed,n,n_groups,ties", CASES)
@pytest.mark.parametrize("constraint,tol", [(c, None) for c in CONSTRAINTS] +
                         [(c, t) for c in ("demographic_parity", "true_positive_rate_parity",
                                           "false_positive_rate_parity") for t in (0.2, 0.05, 0.01)])
def test_same_decisions_as_fairlearn(seed, n, n_groups, ties, constraint, tol):
    s, y, g = _data(np.random.default_rng(seed), n, n_groups, ties)
    p_ref, d_ref = _fairlearn(s, y, g, constraint, tol, seed)
    p, d = _ours(s, y, g, constraint, tol, seed)
    # Both implementations read the same float64 scores (no model here) and do the same float64 operations in
    # the same order: an identical-input comparison, so FLOAT64_ATOL holds on any CPU.
    np.testing.assert_allclose(p, p_ref, rtol=0, atol=FLOAT64_ATOL)
    assert np.array_equal(d, d_ref)


def test_same_decisions_on_the_mortgage_scores(bundled_target):
    """Real scores (the bundled mortgage model) and real groups, every default setting."""
    target = bundled_target("mortgage")
    data = target.eval_data
    s = torch.softmax(target.logits().double(), 1)[:, 1].numpy()   # class 1 = approved
    y = np.asarray(data.labels).astype(int)
    for col in target.sensitive_columns:
        g = data.groups[col].astype("object").where(data.groups[col].notna(), "unknown").astype(str).to_numpy()
        ok = np.isin(g, [k for k in np.unique(g) if len(np.unique(y[g == k])) == 2])
        for constraint, tol in [("demographic_parity", None), ("demographic_parity", 0.05),
                                ("equalized_odds", None), ("true_positive_rate_parity", 0.1)]:
            p_ref, d_ref = _fairlearn(s[ok], y[ok], g[ok], constraint, tol, 0)
            p, d = _ours(s[ok], y[ok], g[ok], constraint, tol, 0)
            # The model's scores move in their last bits between CPUs, but both sides get this process's
            # scores: identical float64 inputs, so the two implementations agree to FLOAT64_ATOL on any CPU.
            np.testing.assert_allclose(p, p_ref, rtol=0, atol=FLOAT64_ATOL)
            assert np.array_equal(d, d_ref), (col, constraint, tol)


def test_what_if_table_matches_a_fairlearn_refit():
    """The whole what-if (2 folds, every setting) equals the same loop written with fairlearn."""
    rng = np.random.default_rng(7)
    s, y, g = _data(rng, 600, 3, False)
    g = g.astype(object)
    g[:5] = None  # missing -> "unknown", a group with too few rows to fit in some fold
    y[:5] = 1
    sens = pd.Series(g, name="grp")
    table = threshold_what_if(y, s, sensitive=sens, seed=3)
    reference = what_if_with_fairlearn(y, s, sens.where(sens.notna(), "unknown"), seed=3)
    assert len(reference) == len(table) - 1
    for (constraint, tol), pred in reference.items():
        row = table[(table["setting"] == constraint) &
                    (table["tol"].isna() if tol is None else table["tol"] == tol)].iloc[0]
        # accuracy is a count over n: the same decisions give the same float64
        assert row["accuracy"] == (pred == y).mean(), (constraint, tol)
        assert row["selection_rate"] == pred.mean(), (constraint, tol)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="both labels"):
        GroupCurve.from_scores(np.array([0.2, 0.9]), np.array([1, 1]))
    curves = {"a": GroupCurve.from_scores(np.array([0.2, 0.9]), np.array([0, 1]))}
    with pytest.raises(ValueError, match="unknown constraint 'parity'.*demographic_parity"):
        fit_rules(curves, "parity")
    with pytest.raises(ValueError, match="equalized odds"):
        fit_rules(curves, "equalized_odds", 0.1)
