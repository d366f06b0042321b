"""One reference rule, computed once: a group under the minimum share is never the impact ratio's denominator,
and every impact ratio a report states (tables, charts' data, the policy check) is the stored one."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from deepaudit.audit.fairness.checks import impact_ratio_check
from deepaudit.audit.fairness.comparisons import disparities
from deepaudit.audit.fairness.metrics import group_metrics
from deepaudit.audit.fairness.policy import Policy
from deepaudit.audit.report import build_report
from deepaudit.audit.runner import RunConfig, audit_target
from deepaudit.audit.store import RunStore
from deepaudit.audit.testing import linear_target


def _planted():
    """Groups a (~50%), b (~50%) and 'tiny': 4 of 400 rows (1%, under the 2% minimum), all approved."""
    t = linear_target(n_samples=400)
    pred = t.model(t.eval_data.inputs).argmax(1).numpy()
    grp = np.where(np.arange(400) % 2 == 0, "a", "b").astype(object)
    grp[np.flatnonzero(pred == 1)[:4]] = "tiny"
    return dataclasses.replace(t, eval_data=dataclasses.replace(t.eval_data, groups=pd.DataFrame({"group": grp}))), \
        pred, grp


def test_a_small_group_never_sets_the_impact_yardstick():
    _, pred, grp = _planted()
    y = pred.copy()
    kept = disparities(y, pred, sensitive=grp, pos_label=1, n_boot=50)
    ir = kept[(kept.metric == "selection_rate") & (kept.statistic == "impact_ratio")].set_index("group")
    rates = group_metrics(y, pred, sensitive=grp, pos_label=1).set_index("group")["selection_rate"]
    assert rates["tiny"] == 1.0 and rates["tiny"] > rates[["a", "b"]].max()
    top = rates[["a", "b"]].idxmax()
    assert set(ir["reference"]) == {top}                                   # not 'tiny', the highest rate
    assert ir.loc["tiny", "value"] == pytest.approx(1.0 / rates[top]) and ir.loc["tiny", "value"] > 1
    assert "never the denominator" in ir.loc["a", "note"]
    # the policy's exclude_small_groups = false: every known group may set it, as before
    every = disparities(y, pred, sensitive=grp, pos_label=1, n_boot=50, exclude_small=False)
    assert set(every[(every.metric == "selection_rate") & (every.statistic == "impact_ratio")]["reference"]) \
        == {"tiny"}


def test_the_policy_check_states_the_engines_numbers():
    _, pred, grp = _planted()
    groups = group_metrics(pred, pred, sensitive=grp, pos_label=1)
    dis = disparities(pred, pred, sensitive=grp, pos_label=1, n_boot=50)
    ir = dis[(dis.metric == "selection_rate") & (dis.statistic == "impact_ratio")].set_index("group")
    check = impact_ratio_check("group", groups, dis, Policy())
    eligible = ir.loc[["a", "b"], "value"]                                  # 'tiny' is excluded by the policy
    assert check.value == eligible.min() and check.group == eligible.idxmin()
    assert check.params["reference"] == ir["reference"].iloc[0]
    assert "tiny (n=4)" in check.note


@pytest.fixture(scope="module")
def planted_report(tmp_path_factory):
    target, _, _ = _planted()
    store = RunStore(tmp_path_factory.mktemp("ref") / "store")
    res = audit_target(target, RunConfig(samples=16, quality_samples=8, progress=False), store=store)
    run = store.load(res.run_id)
    return run, build_report(run, with_examples=False).data


def _impact_ratios_in(report: dict) -> list[tuple[str, float]]:
    """Every (where, value) the report states as an impact ratio."""
    found = []

    def walk(o, path):
        if isinstance(o, dict):
            for k, v in o.items():
                if k == "impact_ratio" and isinstance(v, dict) and "value" in v:
                    found.append((f"{path}/{k}", v["value"]))
                walk(v, f"{path}/{k}")
        elif isinstance(o, list):
            for i, v in enumerate(o):
                walk(v, f"{path}[{i}]")

    walk(report, "")
    return found


def test_every_impact_ratio_in_the_report_is_the_stored_one(planted_report):
    run, report = planted_report
    stored = run.disparities("group")
    stored = stored[(stored.metric == "selection_rate") & (stored.statistic == "impact_ratio")].set_index("group")
    assert set(stored["reference"]) != {"tiny"}
    shown = 0
    for attr in report["fairness"]["attributes"]:
        for comp in attr["comparisons"]:
            ir = comp.get("impact_ratio")
            if ir and ir.get("value") is not None:
                assert ir["value"] == stored.loc[comp["group"], "value"], comp["group"]
                shown += 1
    assert shown == len(stored) == 3
    assert len(_impact_ratios_in(report)) == shown                        # no other place states one
    [check] = [c for c in report["policy"]["checks"] if c["id"] == "fairness.impact_ratio.group"]
    assert check["value"] == stored.loc[["a", "b"], "value"].min()
    assert f"vs highest {stored['reference'].iloc[0]}" in check["note"]
    assert "at least 2% of the data" in run.fairness.reference_rule
