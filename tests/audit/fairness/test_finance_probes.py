"""Reason codes, proxy analysis and the mitigation what-if on the bundled mortgage model."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from deepaudit.audit.explain import make_explainer, views
from deepaudit.audit.fairness.mitigation import threshold_what_if
from deepaudit.audit.fairness.proxy import correlation_ratio, proxy_table
from deepaudit.audit.fairness.reasons import MAX_REASONS, adverse_action_reasons, reason_summary
from deepaudit.audit.testing import linear_target
from deepaudit.audit.tolerance import FLOAT32_ATOL, FLOAT32_RTOL


@pytest.fixture(scope="module")
def mortgage(bundled_target):
    return bundled_target("mortgage")


@pytest.fixture(scope="module")
def reasons(mortgage):
    return adverse_action_reasons(mortgage)


def test_every_denied_applicant_gets_at_most_four_reasons_toward_denial(mortgage, reasons):
    probs = torch.softmax(mortgage.logits().double(), 1)[:, 1].numpy()
    denied_ids = set(np.asarray(mortgage.eval_data.sample_ids)[probs < 0.5])
    assert set(reasons["sample_id"]) == denied_ids and len(denied_ids) > 20
    per = reasons.groupby("sample_id")["rank"]
    assert per.max().max() <= MAX_REASONS
    given = reasons[reasons["rank"] > 0]
    assert (given["attribution"] < 0).all()
    # Ranked strongest first, and readable names from the model card.
    for _, r in given.groupby("sample_id"):
        assert list(r["rank"]) == list(range(1, len(r) + 1))
        assert (np.diff(r["attribution"].to_numpy()) >= 0).all()
    assert "credit history meets guidelines" in set(given["reason"])
    assert not given["feature"].str.endswith("_missing").any()   # merged with the base feature
    assert (given["share_of_denial"] <= 1 + FLOAT32_ATOL + FLOAT32_RTOL).all()   # a share of float32 attributions


def test_reasons_repeat_exactly(mortgage, reasons):
    pd.testing.assert_frame_equal(reasons, adverse_action_reasons(mortgage))


def test_reasons_on_linear_oracle():
    t = linear_target(n_features=6, n_samples=40)
    r = adverse_action_reasons(t, max_reasons=2, n_steps=8)
    x = t.eval_data.inputs
    fav = t.class_names.index(t.favorable_label)
    attr = (t.model.weight.detach()[fav] * (x - t.baseline)).numpy()    # exact IG of a linear model
    idx = {sid: i for i, sid in enumerate(t.eval_data.sample_ids)}
    assert (r["rank"] > 0).sum() >= 5     # the oracle comparison below must actually run
    for sid, rows in r[r["rank"] > 0].groupby("sample_id"):
        a = attr[idx[sid]]
        expected = [t.feature_names[j] for j in np.argsort(a, kind="stable")[:2] if a[j] < 0]
        assert list(rows["feature"]) == expected


def test_reason_summary_counts(reasons):
    s = reason_summary(reasons)
    first = s.set_index("feature")["n_first"].sum()
    assert first == (reasons["rank"] == 1).sum()
    assert (s["share_of_denied"] <= 1).all()


def test_reason_errors(mortgage, bundled_target):
    with pytest.raises(ValueError, match="max_reasons must be between 1"):
        adverse_action_reasons(mortgage, max_reasons=0)
    vision = bundled_target("mnist_cnn")
    with pytest.raises(ValueError, match="reason codes need tabular rows with feature_names"):
        adverse_action_reasons(vision)


def test_correlation_ratio_known_values():
    assert correlation_ratio(np.array([0.0, 0.0, 1.0, 1.0]), np.array([0, 0, 1, 1])) == pytest.approx(1.0)
    assert correlation_ratio(np.array([0.0, 1.0, 0.0, 1.0]), np.array([0, 0, 1, 1])) == pytest.approx(0.0)
    assert np.isnan(correlation_ratio(np.ones(4), np.array([0, 0, 1, 1])))


def test_proxy_table_on_mortgage(mortgage):
    x = mortgage.eval_data.inputs
    attr = make_explainer("integrated_gradients", mortgage).attribute(x, target=1)
    imp = views.feature_importance(attr, x, mortgage.feature_names)
    # Global importance only (no per-group evidence passed): the old rule, at the old eta floor of 0.2.
    p = proxy_table(x.numpy(), mortgage.feature_names, mortgage.eval_data.groups, mortgage.sensitive_columns, imp,
                    min_eta=0.2)
    assert len(p) == len(mortgage.feature_names) * len(mortgage.sensitive_columns)
    race = p[p.attribute == "race"].set_index("feature")
    # The tract-minority indicator is strongly associated with race but little used overall: globally it is
    # not a candidate (within groups it is: tests/audit/fairness/test_planted_proxy.py and the run's table).
    assert race.loc["min30", "eta"] > 0.35 and race.loc["min30", "importance_rank"] > 20
    assert not race.loc["min30", "proxy_candidate"]
    flagged = race[race.proxy_candidate]
    assert ((flagged.eta >= 0.2) & (flagged.importance_rank <= 10)).all() and len(flagged) >= 1
    assert flagged["evidence"].str.startswith("global rank").all()
    # With the attributions per row, reliance is judged within each group too.
    within = proxy_table(x.numpy(), mortgage.feature_names, mortgage.eval_data.groups, ["race"], imp,
                         attributions=attr.numpy(), attribution_rows=np.arange(len(x))).set_index("feature")
    assert within.loc["mi", "group_rank_group"] in ("black", "hispanic", "white")
    assert within["group_rank"].min() == 1
    sex = p[p.attribute == "sex"]
    assert (sex.n_unknown == mortgage.eval_data.groups["sex"].isna().sum()).all()


def test_mitigation_is_a_what_if(mortgage):
    before = {k: v.clone() for k, v in mortgage.model.state_dict().items()}
    p = torch.softmax(mortgage.logits().double(), 1)[:, 1].numpy()
    df = threshold_what_if(mortgage.eval_data.labels, p, sensitive=mortgage.eval_data.groups["race"], seed=0)
    base = df.iloc[0]
    assert base.setting == "model as audited"
    assert base.accuracy == pytest.approx(float(((p >= 0.5) == mortgage.eval_data.labels).mean()))
    dp = df[(df.setting == "demographic_parity") & df.tol.isna()].iloc[0]
    assert dp.min_impact_ratio > base.min_impact_ratio
    assert not df.applied.any()
    for k, v in mortgage.model.state_dict().items():
        assert torch.equal(v, before[k])
    again = threshold_what_if(mortgage.eval_data.labels, p, sensitive=mortgage.eval_data.groups["race"], seed=0)
    pd.testing.assert_frame_equal(df, again)
    with pytest.raises(ValueError, match="needs at least two groups"):
        threshold_what_if([0, 1, 1], [0.2, 0.8, 0.9], sensitive=pd.Series(["a", "a", "a"], name="g"))


def test_gap_decomposition_beside_the_section_gives_the_numbers_of_one_in_turn(mortgage):
    """With two torch threads the gap decomposition runs on a worker thread beside the rest of the fairness
    section (deepaudit.audit.threads.Beside); with one it runs in turn. The section and its checks are the same."""
    import json
    import threading
    from contextlib import contextmanager

    from deepaudit.audit.fairness.policy import load_policy
    from deepaudit.audit.fairness.section import build_fairness
    from deepaudit.audit.store import to_jsonable

    ran_on = {}

    @contextmanager
    def stage(name, total=1):
        ran_on[name] = threading.current_thread() is threading.main_thread()
        yield lambda n=1: None

    probs = torch.softmax(mortgage.logits().double(), 1).numpy()
    pred = probs.argmax(1)
    importance = views.feature_importance(torch.zeros(len(probs), len(mortgage.feature_names)),
                                          mortgage.eval_data.inputs, mortgage.feature_names)
    before, out = torch.get_num_threads(), {}
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            section, checks = build_fairness(mortgage, probs, pred, policy=load_policy(None), seed=0,
                                             importance=importance, stage=stage)
            out[threads] = json.dumps(to_jsonable({"section": section, "checks": [c.to_dict() for c in checks]}))
            assert ran_on["fairness: what drives each gap"] is (threads == 1)
            assert torch.get_num_threads() == threads          # the caller's threads are given back
    finally:
        torch.set_num_threads(before)
    # the same section: structure, counts and verdicts exactly; floats to float32 tolerance, since the model
    # ran under another thread count (its sums may move in the last bits on another CPU)
    from deepaudit.audit.tolerance import tree_differences

    assert tree_differences(json.loads(out[1]), json.loads(out[2])) == []
    assert '"gap"' in out[1] and '"proxy"' in out[1]
