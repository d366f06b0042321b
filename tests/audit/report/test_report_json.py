"""The JSON report and model card: schema, intervals, ratios, flags, determinism, summary."""
from __future__ import annotations

import json
import math
from importlib import resources

import jsonschema
import pytest

from deepaudit.audit.report import build_report, report_schema, validate_report
from deepaudit.audit.report.fairness import ECE_EXCLUDES_ESTIMATE, EXCLUDES_ESTIMATE, attribute_section
from deepaudit.audit.report.writer import dumps
from deepaudit.audit.result import FairnessAttribute
from deepaudit.audit.tolerance import FLOAT32_ATOL

#: Slack for "the interval contains its value": some values (metrics of float32 scores) and their intervals are
#: computed along different summation paths (audit/tolerance.py).
EPS = FLOAT32_ATOL


def _estimates(obj, path=""):
    """Every {value, lo, hi} estimate and every performance row anywhere in the report."""
    if isinstance(obj, dict):
        if {"value", "lo", "hi"} <= obj.keys():
            yield path, obj
        for k, v in obj.items():
            yield from _estimates(v, f"{path}/{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _estimates(v, f"{path}/{i}")


@pytest.mark.parametrize("model", ["mortgage", "mnist_cnn_shortcut"])
def test_json_validates_against_shipped_schema(reports, model):
    schema = json.loads(resources.files("deepaudit.audit.report").joinpath("report.schema.json").read_text())
    assert schema == report_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(reports[model]["json"], schema)


def test_invalid_report_names_the_violation(reports):
    bad = json.loads(json.dumps(reports["mortgage"]["json"]))
    bad["summary"]["verdict"] = "MAYBE"
    with pytest.raises(ValueError, match="summary/verdict"):
        validate_report(bad)


@pytest.mark.parametrize("model", ["mortgage", "mnist_cnn_shortcut"])
def test_every_interval_contains_its_value(reports, model):
    found = 0
    for path, e in _estimates(reports[model]["json"]):
        if e["value"] is None or e["lo"] is None or e["hi"] is None:
            continue
        found += 1
        inside = e["lo"] - EPS <= e["value"] <= e["hi"] + EPS
        if "/summary/" in path and not inside:
            # A percentile-bootstrap interval of a max-min spread can exclude an estimate near 0 (the spread is
            # biased upward under resampling); the report must then say so next to the number.
            assert e["warning"] == EXCLUDES_ESTIMATE, (path, e)
            continue
        if path.endswith("/ece") and not inside:     # an ECE is biased upward under resampling too
            assert e["warning"] == ECE_EXCLUDES_ESTIMATE, (path, e)
            continue
        assert inside and "warning" not in e, (path, e)
    assert found > 20


def test_an_ece_outside_its_bootstrap_interval_is_flagged():
    """A well-calibrated group's ECE can lie below its whole percentile-bootstrap interval (resampling noise only
    adds absolute gaps): the report flags that estimate and keeps the one inside its interval unflagged."""
    group = {"group": "a", "n": 500, "share": 0.5, "small_group": False, "is_reference": True,
             "positives": 250, "negatives": 250, "selection_rate": 0.5}
    attr = FairnessAttribute(name="g", kind="sensitive", groups=[group, {**group, "group": "b", "is_reference": False}],
                             calibration=[{"group": "a", "n": 500, "ece": 0.006, "lo": 0.007, "hi": 0.014,
                                           "method": "bootstrap"},
                                          {"group": "b", "n": 500, "ece": 0.02, "lo": 0.01, "hi": 0.04,
                                           "method": "bootstrap"}])
    rows = attribute_section(attr, binary=True, checks=[])["calibration"]
    assert rows[0]["ece"]["warning"] == ECE_EXCLUDES_ESTIMATE
    assert "warning" not in rows[1]["ece"]


def test_ratios_lie_in_unit_interval(reports):
    fair = reports["mortgage"]["json"]["fairness"]
    n = 0
    for a in fair["attributes"]:
        # Impact ratios (vs the highest eligible group) and min/max ratios are <= 1 by construction; a ratio
        # against the reference group is not (a group may do better than the reference) and is not checked here.
        # 'unknown' (LL144) and groups under the minimum share never set the denominator (one reference rule,
        # tests/audit/test_reference_rule.py), so their ratios may exceed 1.
        # An impact ratio's interval is a score interval against the chosen reference (MOVER-R): the estimate is
        # <= 1, but the group's true rate may exceed the reference's, so the upper bound may pass 1. Spreads'
        # min/max ratios are bootstrap replicates of a min over a max, inside [0, 1].
        impact = [c["impact_ratio"] for c in a["comparisons"]
                  if c["impact_ratio"] and c["group"] != "unknown" and not c["small_group"]]
        for r in impact:
            assert 0.0 <= r["lo"] <= r["value"] <= 1.0 <= r["hi"] or 0.0 <= r["lo"] <= r["value"] <= r["hi"] <= 1.0, \
                (a["name"], r)
            n += 1
        for r in (s["ratio"] for s in a["summary"] if s["ratio"]):
            for v in (r["value"], r["lo"], r["hi"]):
                assert 0.0 <= v <= 1.0, (a["name"], r)
                n += 1
    assert n > 30


def test_flags_agree_with_thresholds(reports):
    data = reports["mortgage"]["json"]
    thr = data["fairness"]["policy"]["impact_ratio_min"]
    flagged = 0
    for a in data["fairness"]["attributes"]:
        for c in a["comparisons"]:
            if c["impact_ratio"]:
                assert c["four_fifths_flag"] == (c["impact_ratio"]["value"] < thr), (a["name"], c)
                flagged += c["four_fifths_flag"]
    assert flagged >= 1
    for c in data["policy"]["checks"]:
        if c["value"] is None:
            assert not c["passed"]
        else:
            ok = c["value"] <= c["threshold"] if c["comparison"] == "<=" else c["value"] >= c["threshold"]
            assert c["passed"] == ok, c


def test_summary_counts_and_ranking(reports):
    data = reports["mortgage"]["json"]
    s, checks = data["summary"], data["policy"]["checks"]
    assert s["n_checks"] == len(checks)
    assert s["n_failed"] == sum(not c["passed"] for c in checks) == len(s["failed"])
    assert s["verdict"] == ("FAIL" if s["n_failed"] else "PASS")
    assert 1 <= len(s["findings"]) <= 3
    ranked = [f["check_id"] for f in s["failed"]]
    assert [f["check_id"] for f in s["findings"]] == sorted((f["check_id"] for f in s["findings"]), key=ranked.index)
    # The four-fifths rule is a tier-1 finding and leads the mortgage report.
    assert s["findings"][0]["check_id"].startswith("fairness.impact_ratio.")
    section_ids = {x["id"] for x in data["sections"]}
    for f in s["findings"]:
        assert f["anchor"].startswith(("fairness", "quality", "explain")) or f["anchor"] in section_ids


def test_shortcut_canary_summary_says_shortcut_failed(reports):
    s = reports["mnist_cnn_shortcut"]["json"]["summary"]
    assert s["verdict"] == "FAIL"
    assert s["findings"][0]["check_id"] == "shortcut_corner_mark"
    assert s["findings"][0]["anchor"] == "explain-shortcut"
    assert "Shortcut" in s["findings"][0]["title"]


def test_regenerating_gives_identical_json(reports, tmp_path):
    from deepaudit.audit.report import write_reports

    item = reports["mortgage"]
    again = build_report(item["run"]).data
    assert dumps(again) == item["paths"][".report.json"].read_text()
    written = write_reports(item["run"], tmp_path, formats="json,model-card")
    for p in written.paths:
        assert p.read_bytes() == item["paths"][p.name[len(item["run"].run_id):]].read_bytes()


def test_report_json_has_provenance_and_every_section(reports):
    data = reports["mortgage"]["json"]
    md = data["metadata"]
    for k in ("weights_sha256", "data_sha256", "created_at", "packages", "seed", "device"):
        assert md[k] not in (None, "", {}), k
    assert md["sign_off"]
    assert data["intended_use"]["intended_use"]
    assert data["data"]["attributes"] and data["performance"]["overall"]
    assert data["fairness"]["attributes"] and data["fairness"]["mitigation"] and data["fairness"]["proxy"]
    assert data["explainability"]["importance"]["rows"] and data["explainability"]["reason_codes"]["applicants"]
    assert data["policy"]["checks"] and data["limitations"]["recommendations"]
    sex = next(a for a in data["data"]["attributes"] if a["name"] == "sex")
    assert sex["n_unknown"] > 0 and any(g["group"] == "unknown" for g in sex["groups"])


def test_model_card_sections_and_intervals(reports):
    card = json.loads(reports["mortgage"]["paths"][".model-card.json"].read_text())
    assert {"model_details", "model_parameters", "quantitative_analysis", "considerations"} <= card.keys()
    metrics = card["quantitative_analysis"]["performance_metrics"]
    assert any(m["type"] == "impact_ratio" and m["slice"] == "race=black" for m in metrics)
    for m in metrics:
        ci = m.get("confidence_interval")
        if ci:
            assert float(ci["lower_bound"]) - EPS <= float(m["value"]) <= float(ci["upper_bound"]) + EPS, m
    assert card["considerations"]["ethical_considerations"]
    assert all(math.isfinite(float(m["value"])) for m in metrics)
