"""A model that never gives the favourable outcome is a finding of its own, not a pass of demographic parity."""
from __future__ import annotations

import numpy as np
import torch

from deepaudit.audit.fairness.section import favourable_outcome_check
from deepaudit.audit.report import build_report
from deepaudit.audit.runner import RunConfig, audit_target
from deepaudit.audit.store import RunStore
from deepaudit.audit.testing import linear_target


def test_the_check_counts_favourable_decisions():
    ok = favourable_outcome_check(np.array([0, 1, 1, 0]), 1, "yes")
    assert ok.passed and ok.value == 2.0 and "2 of 4" in ok.note
    none = favourable_outcome_check(np.array([0, 0, 0]), 1, "yes")
    assert not none.passed and none.value == 0.0 and "no one receives the favourable outcome" in none.note


def test_a_model_that_never_approves_fails_it_and_the_report_names_it(tmp_path):
    t = linear_target(n_samples=120)
    with torch.no_grad():
        t.model.bias.copy_(torch.tensor([100.0, -100.0]))       # 'yes' (favourable) never wins
    store = RunStore(tmp_path / "store")
    res = audit_target(t, RunConfig(samples=8, quality_samples=4, progress=False), store=store)
    checks = {c.id: c for c in res.checks}
    never = checks["fairness.favourable_outcome_given"]
    assert not never.passed and never.value == 0.0
    # the parity check alone would have passed: every group's rate is 0
    assert checks["fairness.demographic_parity_difference.group"].passed
    report = build_report(store.load(res.run_id), with_examples=False).data
    titles = [f["title"] for f in report["summary"]["findings"]]
    assert "No one receives the favourable outcome (yes)" in titles, titles      # among the top findings
