"""A proxy that acts only on a minority is caught, and ranked first by what drives the gap (issue 15 items 3-4).

Two planted flaws (deepaudit.audit.testing.planted_proxy): synthetic applications with known weights, and a copy of the
bundled HMDA mortgage target with a column set for half the black applicants that the model penalises. In
both the planted feature is outside the global top 10 (the old proxy rule missed it); a decoy just as
associated with the group but ignored by the model must not be flagged.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from deepaudit.audit.fairness.gap import gap_decomposition, pair_weights
from deepaudit.audit.runner import RunConfig, audit_target
from deepaudit.audit.testing.planted_proxy import DECOY, PLANTED, planted_on_mortgage, planted_proxy_target

pytestmark = pytest.mark.slow


def _audit(target):
    return audit_target(target, RunConfig(progress=False, methods=["integrated_gradients"])).result


def _proxy_rows(result, attribute):
    px = pd.DataFrame(result["fairness"]["probes"]["proxy"])
    return px[px["attribute"] == attribute].set_index("feature")


def _check(result, cid):
    return next(c for c in result["checks"] if c["id"] == cid)


def _gap(result, attribute, group):
    g = result["fairness"]["probes"]["gap"]
    table = pd.DataFrame(g["table"])
    summary = pd.DataFrame(g["summary"]).set_index(["attribute", "group"]).loc[(attribute, group)]
    return table[(table["attribute"] == attribute) & (table["group"] == group)].sort_values("rank"), summary


def test_synthetic_planted_proxy_is_caught_and_the_decoy_is_not():
    result = _audit(planted_proxy_target())
    rows = _proxy_rows(result, "group")
    top_k = result["fairness"]["policy"]["proxy_top_k"]
    # the old rule (global importance rank <= 10) would have missed it
    assert rows.loc[PLANTED, "importance_rank"] > top_k
    assert rows.loc[PLANTED, "proxy_candidate"] and "within B" in rows.loc[PLANTED, "evidence"]
    assert rows.loc[PLANTED, "group_rank"] == 1 and rows.loc[PLANTED, "reason_share"] >= 0.5
    # the decoy is as associated with the group, but the model ignores it
    assert rows.loc[DECOY, "eta"] >= result["fairness"]["policy"]["proxy_eta_min"]
    assert not rows.loc[DECOY, "proxy_candidate"]
    check = _check(result, "fairness.proxy.group")
    assert not check["passed"] and check["value"] == 1.0 and PLANTED in check["note"] and DECOY not in check["note"]
    table, summary = _gap(result, "group", "B")
    assert table.iloc[0]["feature"] == PLANTED
    # completeness: the contributions add up to the gap of the rows decomposed (a linear model: IG is exact);
    # the majority has more than MAX_ROWS rows, so a systematic sample along its scores, close to the full gap
    assert not summary["all_rows"]
    assert abs(table["contribution"].sum() - summary["pair_gap"]) <= 1e-5
    assert abs(table["rate_contribution"].sum() - summary["pair_rate_gap"]) <= 1e-5
    assert abs(summary["pair_gap"] - summary["gap"]) <= 2e-3
    assert table.iloc[0]["hi"] < 0  # its contribution is negative, with an interval that excludes 0


def test_planted_proxy_on_the_bundled_mortgage_data():
    from deepaudit.audit.target import load_target

    result = _audit(planted_on_mortgage(load_target("mortgage", device="cpu")))
    rows = _proxy_rows(result, "race")
    assert rows.loc[PLANTED, "importance_rank"] > result["fairness"]["policy"]["proxy_top_k"]
    assert rows.loc[PLANTED, "proxy_candidate"] and rows.loc[PLANTED, "group_rank_group"] == "black"
    check = _check(result, "fairness.proxy.race")
    assert not check["passed"] and PLANTED in check["note"]
    table, summary = _gap(result, "race", "black")
    assert table.iloc[0]["feature"] == PLANTED
    # a ReLU network: Gauss-Legendre IG is not exact per pair, but the mean residual is small (measured 1e-4)
    assert abs(table["contribution"].sum() - summary["gap"]) <= 0.01 * abs(summary["gap"]) + 1e-3
    assert summary["pair_gap"] == pytest.approx(summary["gap"], abs=1e-9)


def test_gap_decomposition_on_a_linear_model_is_exact():
    """Analytic oracle: for a linear score s(x) = w.x, contribution_j = w_j (mean_g x_j - mean_r x_j)."""
    rng = np.random.default_rng(4)
    n, f = 300, 5
    x = torch.from_numpy(rng.standard_normal((n, f)).astype(np.float32))
    group = np.where(rng.random(n) < 0.3, "g", "r")
    x[group == "g", 2] += 1.5  # the groups differ on feature 2
    w = torch.tensor([0.5, -1.0, 2.0, 0.0, 0.25])

    def forward(z):  # linear, so IG against any baseline is exact
        return z @ w

    out = gap_decomposition(forward, x, np.zeros(n, bool), pd.DataFrame({"a": group}), ["a"],
                            [f"x{i}" for i in range(f)], references={"a": "r"}, max_pairs=64)
    table = out["table"].set_index("feature")
    expected = w.numpy().astype(float) * (x[group == "g"].double().mean(0) - x[group == "r"].double().mean(0)).numpy()
    assert np.allclose(table.loc[[f"x{i}" for i in range(f)], "contribution"], expected, atol=1e-5)
    assert table["rank"].idxmin() == "x2"
    summary = out["summary"].iloc[0]
    assert not summary["all_pairs"] and summary["n_pairs"] >= 4 * 209  # sampled, balanced design


def test_pair_weights_balance_both_sides():
    rng = np.random.default_rng(0)
    # 80 pairs: rows of g used 11 or 12 times, rows of r 3 or 4 times, so equal weights would not balance
    gi = np.concatenate([rng.permutation(7) for _ in range(12)])[:80]
    ri = np.concatenate([rng.permutation(21) for _ in range(4)])[:80]
    w = pair_weights(gi, ri, 7, 21)
    # float64 iteration that stops at 1e-12 / n: 1e-10 holds whatever the platform's summation order
    assert np.allclose(np.bincount(gi, weights=w), 1 / 7, atol=1e-10, rtol=0)
    assert np.allclose(np.bincount(ri, weights=w), 1 / 21, atol=1e-10, rtol=0)
    assert not np.allclose(w, w[0])  # an unbalanced design: the weights had to move


def test_reason_codes_are_faithful_and_a_broken_reason_is_caught():
    """Reg B: the first stated reason must move the score more than a random unstated feature."""
    from deepaudit.audit.fairness.checks import reason_faithfulness_check
    from deepaudit.audit.fairness.policy import load_policy
    from deepaudit.audit.fairness.reasons import adverse_action_reasons, reason_faithfulness

    target = planted_proxy_target()
    reasons = adverse_action_reasons(target, n_steps=32)
    good = reason_faithfulness(target, reasons, seed=0)["summary"]
    assert good["n_compared"] > 50 and good["share_faithful"] >= 0.95
    assert reason_faithfulness_check(good, "approve", load_policy()).passed
    # A reason method that names a feature the model ignores: every first reason becomes the decoy.
    broken = reasons.copy()
    broken.loc[broken["rank"] == 1, "feature"] = DECOY
    bad = reason_faithfulness(target, broken, seed=0)
    assert (bad["table"]["gain_top"].abs() < 1e-6).all()   # moving an ignored feature changes nothing
    assert bad["summary"]["share_faithful"] < 0.7
    check = reason_faithfulness_check(bad["summary"], "approve", load_policy())
    assert not check.passed and check.id == "fairness.reason_faithfulness"


def test_report_and_dashboard_show_the_planted_proxy_as_the_first_driver():
    from deepaudit.audit.report.fairness import fairness_section
    from deepaudit.dashboard.pages.fairness import gap_rows

    res = audit_target(planted_proxy_target(), RunConfig(progress=False, methods=["integrated_gradients"]))
    view = fairness_section(res)["gap"]
    (group,) = view["groups"]
    assert group["group"] == "B" and group["drivers"][0]["feature"] == PLANTED and group["drivers"][0]["proxy"]
    assert view["max_residual"] < 2e-3  # the sampled majority's gap (see the test above)
    (row,) = gap_rows(res)
    assert row["drivers"].startswith("zip-code cluster") and "(proxy)" in row["drivers"].split(";")[0]
    proxy = fairness_section(res)["proxy"]
    assert proxy["rows"][0]["feature"] == PLANTED and "within a group" in proxy["rule"]


def test_proxy_check_names_a_feature_by_its_own_row():
    from deepaudit.audit.fairness.checks import proxy_check
    from deepaudit.audit.fairness.policy import load_policy

    rows = pd.DataFrame([
        {"attribute": "a", "feature": "income", "eta": 0.8, "proxy_candidate": True, "evidence": "global rank 1"},
        {"attribute": "a", "feature": "income_missing", "eta": 0.31, "proxy_candidate": True,
         "evidence": "rank 9 within b"},
    ])
    check = proxy_check("a", rows, load_policy())
    assert check.value == 1.0 and "income (eta 0.80: global rank 1)" in check.note
