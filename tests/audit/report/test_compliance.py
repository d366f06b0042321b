"""Compliance profiles (audit/compliance): every requirement filled from the run or marked as needing input;
LL144 numbers equal the fairness engine's; profile files validated on load; the report and its PDF carry the
checklists."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from deepaudit.audit.compliance import PROFILE_NAMES, evaluate_profile, load_profile
from deepaudit.audit.compliance.evidence import EVIDENCE
from deepaudit.audit.compliance.profiles import PROFILE_DIR, STATUSES
from deepaudit.audit.report import build_report, validate_report
from deepaudit.audit.store import RunStore
from deepaudit.audit.tolerance import FLOAT64_RTOL


@pytest.fixture(scope="module")
def mortgage(report_store):
    run = RunStore(report_store).load("latest:mortgage")
    return run, build_report(run, with_examples=False).data


def test_the_four_shipped_profiles_load():
    assert set(PROFILE_NAMES) == {"ll144", "eu-ai-act", "sr11-7", "reg-b"}
    for name in PROFILE_NAMES:
        p = load_profile(name)
        assert p.id == name and len(p.items) >= 7 and all(i.evidence in EVIDENCE for i in p.items)


@pytest.mark.parametrize("name", sorted(PROFILE_NAMES))
def test_every_requirement_is_filled_from_the_run_or_needs_input(mortgage, name):
    run, report = mortgage
    result = evaluate_profile(load_profile(name), run, report)
    assert len(result["items"]) == len(load_profile(name).items)
    for item in result["items"]:
        assert item["status"] in STATUSES and len(item["detail"]) > 20, item
        if item["evidence"] == "human":
            assert item["status"] == "needs input"
    assert sum(result["counts"].values()) == len(result["items"]) and result["counts"]["covered"] >= 4


def test_ll144_rates_are_the_fairness_engines(mortgage):
    run, report = mortgage
    result = evaluate_profile(load_profile("ll144"), run, report)
    table = next(t for t in result["tables"] if t["id"] == "ll144_rates")
    preds = run.predictions()
    fav = run.model.class_names.index(run.model.favorable_label)
    for col in ("sex", "race", "race_x_sex"):
        engine = run.table(f"fairness/{col}/groups").set_index("group")
        mine = [r for r in table["rows"] if r["column"] == col]
        assert {r["group"] for r in mine} == set(engine.index.astype(str))
        kept = [r for r in mine if not r["excluded"]]
        top = max(r["selection_rate"] for r in kept)
        for r in mine:
            # the engine's number read back (the same stored value), and count ratios from the same stored
            # predictions: identical float64 inputs, so FLOAT64_RTOL holds on any CPU (no float32 model output is
            # recomputed; a borderline prediction that flips on another CPU flips in both)
            assert r["selection_rate"] == engine.loc[r["group"], "selection_rate"]
            assert r["n"] == engine.loc[r["group"], "n"]
            assert r["excluded"] == (r["share"] < 0.02)
            if not r["excluded"]:
                assert r["impact_ratio"] == pytest.approx(r["selection_rate"] / top, rel=FLOAT64_RTOL)
        # and the engine's rates are the predictions' own (an oracle outside the fairness code)
        if col != "race_x_sex":
            g = preds[col].astype("string").fillna("unknown")
            for group, rate in (preds["y_pred"] == fav).groupby(g).mean().items():
                assert next(r for r in mine if r["group"] == group)["selection_rate"] == pytest.approx(
                    rate, rel=FLOAT64_RTOL)
    cats = {r["category"] for r in table["rows"]}
    assert cats == {"sex", "race_ethnicity", "intersection"}
    # the unknown category is counted and shown
    unknown = next(i for i in result["items"] if i["id"] == "unknown_category")
    assert unknown["status"] == "covered" and "sex 5" in unknown["detail"]


def test_sr11_7_reads_the_excluded_inputs_from_the_card(mortgage):
    run, report = mortgage
    items = {i["id"]: i for i in evaluate_profile(load_profile("sr11-7"), run, report)["items"]}
    assert items["inputs_excluded"]["status"] == "covered"
    assert "protected: black, hispan" in items["inputs_excluded"]["detail"]
    plan = next(t for t in evaluate_profile(load_profile("sr11-7"), run, report)["tables"]
                if t["id"] == "monitoring_plan")
    assert {r["check"] for r in plan["rows"]} == {c["id"] for c in report["policy"]["checks"]}


def test_reg_b_flags_proxies_among_stated_reasons(mortgage):
    run, report = mortgage
    items = {i["id"]: i for i in evaluate_profile(load_profile("reg-b"), run, report)["items"]}
    assert items["reasons_per_applicant"]["status"] == "covered"
    flagged = items["no_protected_reasons"]
    proxy = run.table("fairness/probes/proxy")
    candidates = set(proxy.loc[proxy["proxy_candidate"].astype(bool), "feature"])
    stated = set(run.table("fairness/probes/reason_codes")["feature"])
    geographic = {f for f, v in (run.model.features.get("flags") or {}).items() if v == "geographic"}
    expected = sorted(stated & (candidates | geographic))
    if expected:
        assert flagged["status"] == "not covered" and all(f in flagged["detail"] for f in expected)
    else:
        assert flagged["status"] == "covered"


def test_a_user_target_without_race_is_told_what_is_missing(tmp_path):
    from deepaudit.audit.runner import RunConfig, audit_target
    from deepaudit.audit.testing import zoo

    store = RunStore(tmp_path / "runs")
    run = audit_target(zoo.tabular_other(), RunConfig(progress=False, samples=20, quality_samples=4), store=store)
    run = store.load(run.run_id)
    report = build_report(run, with_examples=False).data
    items = {i["id"]: i for i in evaluate_profile(load_profile("ll144"), run, report)["items"]}
    assert items["categories"]["status"] == "not covered" and "race_ethnicity" in items["categories"]["detail"]
    assert items["selection_rates"]["status"] == "not covered"       # sex only: no intersection
    reg_b = {i["id"]: i for i in evaluate_profile(load_profile("reg-b"), run, report)["items"]}
    assert reg_b["reasons_per_applicant"]["status"] == "covered"
    for name in PROFILE_NAMES:   # every profile evaluates on a user's model
        assert all(i["status"] in STATUSES for i in evaluate_profile(load_profile(name), run, report)["items"])


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace('id = "ll144"', 'id = "ll144"\nfavourite = "x"'), "unknown key 'favourite'"),
    (lambda t: t.replace('evidence = "ll144_rates"', 'evidence = "ll144_ratez"'), "unknown evidence 'll144_ratez'"),
    (lambda t: t.replace('id = "scoring_rates"', 'id = "selection_rates"'), "used twice"),
    (lambda t: t.replace('citation = "6 RCNY 5-301(c)"\n', ''), "lacks 'citation'"),
    (lambda t: t + "\n[[item\n", "not valid TOML"),
])
def test_profile_files_are_validated(tmp_path, edit, message):
    path = tmp_path / "mine.toml"
    path.write_text(edit((PROFILE_DIR / "ll144.toml").read_text()))
    with pytest.raises(ValueError, match=message):
        load_profile(path)


def test_a_validator_extends_a_copy(tmp_path, mortgage):
    run, report = mortgage
    path = tmp_path / "bank-ll144.toml"
    path.write_text((PROFILE_DIR / "ll144.toml").read_text().replace('id = "ll144"', 'id = "bank-ll144"') + '''
[[item]]
id = "bank_policy"
requirement = "Our policy 4.2: the model owner confirms the tool's purpose"
citation = "Bank policy 4.2"
evidence = "intended_use"
''')
    result = evaluate_profile(load_profile(path), run, report)
    assert result["id"] == "bank-ll144" and result["items"][-1]["id"] == "bank_policy"
    assert result["items"][-1]["status"] == "covered"
    with pytest.raises(ValueError, match="unknown compliance profile 'sox'"):
        load_profile("sox")


def test_report_carries_the_checklists_in_json_html_and_pdf(report_store, tmp_path):
    run = RunStore(report_store).load("latest:mortgage")
    formats = "html,json,pdf" if shutil.which("pdftotext") else "html,json"
    res = subprocess.run([sys.executable, "-m", "deepaudit.audit.cli", "report", run.run_id, "--store",
                          str(report_store), "--out", str(tmp_path), "--format", formats, "--profile", "ll144",
                          "--profile", "reg-b"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    doc = json.loads((tmp_path / f"{run.run_id}.report.json").read_text())
    validate_report(doc)
    assert [p["id"] for p in doc["compliance"]] == ["ll144", "reg-b"]
    assert any(s["id"] == "compliance" for s in doc["sections"])
    html = (tmp_path / f"{run.run_id}.html").read_text()
    assert "9. Compliance profiles" in html and "NYC Local Law 144 bias audit" in html
    if "pdf" in formats:
        text = subprocess.run(["pdftotext", str(tmp_path / f"{run.run_id}.pdf"), "-"], capture_output=True,
                              text=True).stdout
        assert "Compliance profiles" in text and "Reg B adverse action reasons" in text
        # the LL144 table's numbers appear in the PDF as in the JSON
        first = next(r for r in doc["compliance"][0]["tables"][0]["rows"] if not r["excluded"])
        assert f"{first['selection_rate']:.3f}" in text
    assert np.isfinite([r["selection_rate"] for r in doc["compliance"][0]["tables"][0]["rows"]]).all()
