"""Contract tests over a zoo of user targets (audit/testing/zoo.py): what is computed follows from what each
target provides, never from its domain label; every applicable method and probe runs, every report format is
written, every dashboard page builds."""
import json

import pytest

from deepaudit.audit.capabilities import capabilities, infer_kind, kind_of_run
from deepaudit.audit.runner import RunConfig, audit_target
from deepaudit.audit.store import RunStore
from deepaudit.audit.testing import zoo

# name: (kind, capabilities on, methods run by default, fairness probes stored)
EXPECT = {
    "tabular_other": ("tabular", {"reason_codes", "proxy", "gap", "what_if"},
                      {"integrated_gradients", "deeplift", "shap"}, {"reason_codes", "proxy", "gap", "mitigation"}),
    "tabular_three_class": ("tabular", {"proxy", "gap", "what_if"}, {"integrated_gradients", "deeplift", "shap"},
                            {"proxy", "gap", "mitigation"}),
    "float64_model": ("tabular", {"reason_codes", "proxy", "gap"}, {"integrated_gradients", "deeplift", "shap"},
                      {"reason_codes", "proxy", "gap", "mitigation"}),
    "token_ids_without_tokenizer": ("text", set(), {"integrated_gradients", "saliency"}, set()),
    "huggingface_text": ("text", set(), {"integrated_gradients", "saliency"}, {"counterfactual"}),
    "rgb_images": ("image", {"grad_cam"}, {"integrated_gradients", "saliency", "grad_cam"}, set()),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("zoo") / "runs")
    out = {}
    for name, factory in zoo.ZOO.items():
        target = factory()
        out[name] = (target, audit_target(target, RunConfig(progress=False, samples=40), store=store))
    return store, out


@pytest.mark.parametrize("name", list(EXPECT))
def test_capabilities_follow_the_data_not_the_label(runs, name):
    _, by_name = runs
    target, result = by_name[name]
    kind, on, methods, probes = EXPECT[name]
    caps = capabilities(target)
    assert infer_kind(target) == caps.kind == kind == kind_of_run(result.model)
    assert set(caps.to_dict()["enabled"]) - {"artifact_probes", "counterfactual"} == on
    # every capability that is off says why, in the stored result too
    stored = result.model.capabilities
    assert set(stored["not_applicable"]) == {k for k in ("reason_codes", "proxy", "gap", "what_if", "counterfactual",
                                                          "grad_cam", "artifact_probes") if k not in stored["enabled"]}
    assert all(isinstance(v, str) and len(v) > 15 for v in stored["not_applicable"].values())
    assert set(result.explanations.methods) == methods
    assert set(result.fairness.probes or {}) == probes


def test_domain_labels_decide_nothing(runs):
    """The tabular zoo model is labelled "other", the float64 one "insurance", the RGB one "retail": each still
    gets the probes its data allows (reason codes, proxy and gap for rows; Grad-CAM for images)."""
    _, by_name = runs
    assert by_name["tabular_other"][0].domain == "other" and by_name["float64_model"][0].domain == "insurance"
    assert "reason_codes" in by_name["float64_model"][1].fairness.probes
    rgb = by_name["rgb_images"][0]
    assert rgb.domain == "retail" and rgb.gradcam_layer == "features.3"   # the last convolution, found
    assert rgb.provenance["gradcam_layer_found"] == "features.3"


def test_three_classes_skip_reason_codes_with_the_reason(runs):
    _, by_name = runs
    target, result = by_name["tabular_three_class"]
    why = result.model.capabilities["not_applicable"]["reason_codes"]
    assert "two-outcome decision" in why and "3 classes" in why
    assert "reason_codes" not in result.fairness.probes and "gap" in result.fairness.probes


def test_cohort_that_restates_the_label_is_not_checked_as_a_gap(bundled_target):
    """The digit cohort of the MNIST model is the class itself: no cohort-gap check for it (per-class accuracy is
    reported under performance); other cohorts are checked. No column name is special-cased."""
    import numpy as np
    import pandas as pd

    from deepaudit.audit.fairness.section import _is_the_label

    y = np.array([0, 1, 2, 0, 1, 2])
    assert _is_the_label(pd.Series(["zero", "one", "two"] * 2), y)
    assert not _is_the_label(pd.Series(["a", "a", "b", "b", "a", "b"]), y)
    assert not _is_the_label(pd.Series([None] * 6), y)


def test_every_report_format_for_every_kind(runs, tmp_path):
    from deepaudit.audit.report import write_reports

    store, by_name = runs
    for name, (_, result) in by_name.items():
        stored = store.load(result.run_id)
        paths = write_reports(stored, tmp_path / name, formats="html,json,model-card").paths
        assert len(paths) == 3
        html = next(p for p in paths if str(p).endswith(".html")).read_text()
        assert result.model.name in html and "approval rate" not in html   # wording follows the task
        report = json.loads(next(p for p in paths if str(p).endswith(".report.json")).read_text())
        assert report["summary"]["n_checks"] == len(result.checks)


@pytest.mark.slow
def test_pdf_for_a_user_tabular_and_image_model(runs, tmp_path):
    import shutil
    import subprocess

    from deepaudit.audit.report import write_reports

    store, by_name = runs
    for name in ("tabular_other", "rgb_images"):
        written = write_reports(store.load(by_name[name][1].run_id), tmp_path / name, formats="pdf")
        assert written.pdf_error is None
        pdf = written.paths[0]
        assert pdf.read_bytes().startswith(b"%PDF")
        if shutil.which("pdftotext"):
            text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
            assert by_name[name][0].name in text


def test_an_optional_stage_that_cannot_apply_is_recorded_not_fatal(tmp_path):
    """No parameters to randomise, and an all-missing groups column nobody declared: the run is stored, each with
    its reason."""
    store = RunStore(tmp_path / "runs")
    result = audit_target(zoo.no_parameters(), RunConfig(progress=False), store=store)
    rows = result.quality["not_applicable"].tables["rows"]
    why = {r["check"]: r["reason"] for r in rows if r["check"] == "randomization"}
    assert "no layer with parameters of its own" in why["randomization"]
    assert not any(c.id.startswith("sanity_randomization") for c in result.checks)
    assert result.fairness.to_dict()["skipped_columns"] == [{"column": "notes", "reason": "every one of its 240 "
                                                                                         "values is missing"}]
    assert store.load(result.run_id).run_id == result.run_id


def test_image_inputs_are_shown_as_raw_images(runs):
    """An image target without eval_data.raw: its inputs, with the declared normalisation undone, are stored for
    display (the dashboard shows the raw image beside the maps)."""
    import numpy as np

    store, by_name = runs
    target, result = by_name["rgb_images"]
    display = store.load(result.run_id).arrays("display")
    k = int(display["sample_index"][0])
    expected = target.eval_data.inputs[k].numpy() * 0.25 + 0.2
    np.testing.assert_allclose(display["images"][0], expected, rtol=0, atol=1e-6)  # float32 arithmetic
    assert display["images"].max() <= 1.0 + 1e-6 and display["images"].min() >= -1e-6   # the raw pixel range

