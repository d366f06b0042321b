"""Explanation samples (audit/sampling.py): stratified prefixes, the size rule, and a run on a large target."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepaudit.audit.runner import RunConfig, audit_target
from deepaudit.audit.sampling import (
    Z95,
    achieved_precision,
    size_for_precision,
    strata_codes,
    stratified_order,
)


def test_every_prefix_is_proportionally_stratified():
    rng = np.random.default_rng(0)
    strata = rng.choice(7, size=20_000, p=[0.5, 0.2, 0.1, 0.1, 0.05, 0.04, 0.01])
    order = stratified_order(strata, seed=3)
    assert sorted(order.tolist()) == list(range(len(strata)))          # a permutation of every row
    sizes = np.bincount(strata)
    for m in (10, 100, 777, 5_000, 19_999):
        got = np.bincount(strata[order[:m]], minlength=7)
        assert np.all(np.abs(got - m * sizes / len(strata)) <= 1.0 + 1e-9), (m, got)


def test_order_is_seeded_and_random_within_strata():
    strata = np.repeat([0, 1], 500)
    a, b, c = (stratified_order(strata, s) for s in (1, 1, 2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert not np.array_equal(np.sort(a[:100]), np.r_[np.arange(50), 500 + np.arange(50)])


def test_strata_cross_class_and_groups_with_missing_as_a_group():
    groups = pd.DataFrame({"race": ["a", "b", None, "a"], "sex": ["f", "f", "m", "f"]})
    codes = strata_codes(np.array([1, 1, 1, 0]), groups, ["race", "sex"])
    assert codes[0] != codes[3]                       # same groups, other class
    assert len(set(codes.tolist())) == 4


def test_size_rule_matches_the_formula():
    rng = np.random.default_rng(1)
    a = np.abs(rng.standard_normal((1_000, 3))) * np.array([1.0, 0.5, 0.1])
    mean, sd = a.mean(0), a.std(0, ddof=1)
    want = int(np.ceil(((Z95 * sd / (0.05 * mean.max())) ** 2).max()))
    got = size_for_precision(a, 10**6, precision=0.05, min_rows=10, max_rows=10**6)
    assert got["required"] == want and got["n"] == max(want, len(a))       # never fewer than the pilot
    assert size_for_precision(a, 10**6, precision=0.05, min_rows=10, max_rows=500)["n"] == 1_000  # never < pilot
    assert size_for_precision(a, 10**6, precision=0.5, min_rows=5_000)["n"] == 5_000               # the floor
    assert size_for_precision(a, 3_000, precision=0.001)["n"] == 3_000                             # the rows
    with pytest.raises(ValueError, match="--precision"):
        size_for_precision(a, 10, precision=0)


def test_achieved_precision_reads_the_upper_half_width():
    table = pd.DataFrame({"mean_abs": [2.0, 1.0], "mean_abs_lo": [1.9, 0.0], "mean_abs_hi": [2.1, 1.15]})
    assert achieved_precision(table) == pytest.approx(0.15 / 2.0)


@pytest.fixture(scope="module")
def big_run():
    from deepaudit.audit.testing.scale import scale_target

    target = scale_target(12_000)
    return target, audit_target(target, RunConfig(progress=False, methods=["integrated_gradients"]))


def test_a_large_tabular_run_explains_a_sized_sample_and_predicts_every_row(big_run):
    target, res = big_run
    sample = res.result["explanations"]["sample"]
    assert sample["n_rows"] == 12_000 and 5_000 <= sample["n_explained"] < 12_000
    assert sample["sizing"]["n"] == sample["n_explained"] and sample["strata"] == "predicted class x race x sex"
    idx = res.arrays("attr_integrated_gradients")["sample_index"]
    assert len(idx) == sample["n_explained"] and np.all(np.diff(idx) > 0)
    # stratified: each race's share of the sample within a row of its share of the data
    races = target.eval_data.groups["race"].to_numpy()
    for r in np.unique(races):
        assert abs((races[idx] == r).sum() - len(idx) * (races == r).mean()) <= 8   # <= 1 per stratum crossing it
    assert len(res.predictions()) == 12_000                                  # every row predicted
    race = next(a for a in res.result["fairness"]["attributes"] if a["name"] == "race")
    assert sum(g["n"] for g in race["groups"]) == 12_000                      # every row in the statistics
    imp = pd.DataFrame(res.result["explanations"]["methods"]["integrated_gradients"]["tables"]["feature_importance"])
    assert sample["achieved_precision"] == pytest.approx(achieved_precision(imp))
    assert sample["achieved_precision"] < 0.08        # sized for 0.05 from a pilot; the estimate moves a little


def test_reason_codes_cover_the_denied_applicants_of_the_sample(big_run):
    target, res = big_run
    rc = res.result["fairness"]["probes"]["reason_codes"]
    idx = res.arrays("attr_integrated_gradients")["sample_index"]
    preds = res.predictions()
    denied_in_sample = set(preds["sample_id"].to_numpy()[idx][preds["y_pred"].to_numpy()[idx] == 0].tolist())
    assert {r["sample_id"] for r in rc["table"]} == denied_in_sample and denied_in_sample
    assert "explained rows" in rc["scope"]


def test_small_sets_are_explained_in_full():
    from deepaudit.audit.testing.scale import scale_target

    res = audit_target(scale_target(800), RunConfig(progress=False, methods=["integrated_gradients"]))
    sample = res.result["explanations"]["sample"]
    assert sample["n_explained"] == 800 and sample["how"] == "every row" and sample["sizing"] is None
    assert res.result["fairness"]["probes"]["reason_codes"]["scope"] == "every denied applicant"


def test_a_bad_precision_is_refused_before_any_work():
    from deepaudit.audit.testing.scale import scale_target

    for bad in (0, 1.5, -0.1):
        with pytest.raises(ValueError, match="--precision"):
            audit_target(scale_target(200), RunConfig(progress=False, precision=bad))
