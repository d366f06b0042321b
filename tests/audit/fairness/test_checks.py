"""Policy checks: one eligibility rule, defined results on degenerate data."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from deepaudit.audit.fairness import disparities, group_metrics
from deepaudit.audit.fairness.checks import cohort_gap_check, policy_checks
from deepaudit.audit.fairness.policy import load_policy

POLICY = load_policy()


def _tables(y, yhat, s):
    s = pd.Series(s, name="g")
    return {"groups": group_metrics(y, yhat, sensitive=s), "disparities": disparities(y, yhat, sensitive=s)}


def _by_id(checks):
    return {c.id.split(".")[1]: c for c in checks}


def test_small_and_unknown_groups_are_excluded_by_name_not_silently():
    rng = np.random.RandomState(0)
    n = 1000
    s = np.array(["a"] * 600 + ["b"] * 385 + ["tiny"] * 10 + [None] * 5, dtype=object)
    y = rng.randint(0, 2, n)
    yhat = np.where(s == "b", rng.rand(n) < 0.5, rng.rand(n) < 0.9).astype(int)
    yhat[s == "tiny"] = 0        # rate 0 in a 1% group
    yhat[pd.isna(s)] = 1
    c = _by_id(policy_checks("g", _tables(y, yhat, s), POLICY))
    ir = c["impact_ratio"]
    rates = pd.Series(yhat).groupby(pd.Series(s)).mean()
    assert ir.value == pytest.approx(rates["b"] / rates["a"])
    assert "tiny (n=10)" in ir.note and "excluded" in ir.note
    # Without the exclusion the 1% group decides the verdict (rate 0 -> ratio 0).
    strict = dataclasses.replace(POLICY, exclude_small_groups=False)
    assert _by_id(policy_checks("g", _tables(y, yhat, s), strict))["impact_ratio"].value == 0.0
    # The unknown group (5 rows, rate 1) never enters the parity spreads.
    dp = c["demographic_parity_difference"]
    assert dp.value == pytest.approx(rates["a"] - rates["b"])


def test_nobody_approved_gives_a_failed_check_with_a_reason():
    y = [1, 0, 1, 0, 1, 0]
    c = _by_id(policy_checks("g", _tables(y, [0] * 6, ["a", "a", "a", "b", "b", "b"]), POLICY))
    assert c["impact_ratio"].value is None and not c["impact_ratio"].passed
    assert "no eligible group receives the favourable outcome" in c["impact_ratio"].note
    assert c["demographic_parity_difference"].value == 0.0


def test_single_group_is_defined_and_not_passed():
    c = _by_id(policy_checks("g", _tables([1, 0, 1, 0], [1, 0, 1, 1], ["a"] * 4), POLICY))
    assert c["impact_ratio"].value is None and "fewer than two eligible groups" in c["impact_ratio"].note
    assert c["equalized_odds_difference"].value is None and not c["equalized_odds_difference"].passed


def test_group_without_positives_leaves_tpr_out_of_equalized_odds():
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0])      # group b has no positives: TPR undefined there
    yhat = np.array([1, 0, 1, 0, 1, 1, 0, 0])
    s = ["a", "a", "a", "a", "b", "b", "b", "b"]
    c = _by_id(policy_checks("g", _tables(y, yhat, s), POLICY))
    fpr_a, fpr_b = 1 / 2, 2 / 4
    assert c["equalized_odds_difference"].value == pytest.approx(abs(fpr_a - fpr_b))


def test_cohort_gap_with_every_cohort_too_small():
    def groups(min_share):
        # The section builds group tables with the policy's min_group_share.
        return group_metrics([1, 1, 0, 1], [1, 1, 0, 1], sensitive=pd.Series(["x", "y", "z", "w"], name="c"),
                             min_share=min_share)

    check = cohort_gap_check("c", groups(0.4), dataclasses.replace(POLICY, min_group_share=0.4))
    assert check.value is None and "fewer than two eligible cohorts" in check.note
    ok = cohort_gap_check("c", groups(0.1), dataclasses.replace(POLICY, min_group_share=0.1))
    assert ok.value == 1.0 and not ok.passed
