"""Every published method gets the explanation-quality checks that apply to it (audit/quality/suite.py), and the
completeness identities of DeepLIFT, SHAP and GradientSHAP (audit/quality/completeness.py)."""
import copy
import json
from collections import OrderedDict

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from deepaudit.audit.explain.base import make_explainer
from deepaudit.audit.quality import attribution_completeness, deletion_insertion, infidelity_and_sensitivity, suite
from deepaudit.audit.quality.completeness import (
    COMPLETENESS_UNDEFINED,
    ESTIMATOR_Z,
    NO_IDENTITY,
    completeness_not_applicable,
)
from deepaudit.audit.quality.robustness import NOT_APPLICABLE_TEXT
from deepaudit.audit.result import AuditResult
from deepaudit.audit.runner import RunConfig, run_target
from deepaudit.audit.schema import CHECK_FAMILIES, check_area, validate_result
from deepaudit.audit.target import AuditTarget, EvalData
from deepaudit.audit.testing import linear_target, tiny_image_target
from deepaudit.audit.tolerance import FLOAT32_ATOL, FLOAT32_RTOL, tree_differences

ALL_TABULAR = ["integrated_gradients", "deeplift", "shap", "gradient_shap", "saliency", "occlusion",
               "input_x_gradient"]


def relu_target(n_samples: int = 48, seed: int = 0) -> AuditTarget:
    """A small ReLU MLP with a non-zero baseline: DeepLIFT's rescale rule is exact on it, gradients are not."""
    g = torch.Generator().manual_seed(seed)
    torch_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = nn.Sequential(OrderedDict([("fc1", nn.Linear(6, 16)), ("relu1", nn.ReLU()),
                                           ("fc2", nn.Linear(16, 8)), ("relu2", nn.ReLU()), ("out", nn.Linear(8, 2))]))
    finally:
        torch.random.set_rng_state(torch_state)
    x = torch.randn(n_samples, 6, generator=g)
    with torch.no_grad():
        labels = model(x).argmax(1).numpy()
    groups = pd.DataFrame({"group": np.where(np.arange(n_samples) % 2 == 0, "a", "b")})
    return AuditTarget(
        name="relu_reference", domain="other", task="ReLU MLP for tests", class_names=["no", "yes"],
        favorable_label="yes", model=model, eval_data=EvalData(inputs=x, labels=labels, groups=groups),
        sensitive_columns=["group"], feature_names=[f"x{i}" for i in range(6)],
        baseline=torch.linspace(-0.5, 0.5, 6), provenance={"recipe": "random init, not trained"}).validate()


@pytest.fixture(scope="module")
def relu():
    return relu_target()


# -- DeepLIFT completeness ------------------------------------------------------------------------------------

def test_deeplift_completeness_holds_on_a_relu_model_and_catches_broken_attributions(relu):
    x, cls = relu.eval_data.inputs[:16], torch.ones(16, dtype=torch.long)
    attr = make_explainer("deeplift", relu).attribute(x, target=cls)
    res = attribution_completeness(relu, "deeplift", x, attr, cls)
    (check,) = res.checks
    assert check.id == "completeness_deeplift" and check.family == "completeness"
    assert check.method == check.subject == "deeplift" and check.policy_key == "completeness_share_min"
    assert check.passed and check.value == 1.0 and not res.summary["estimator"]
    errors = res.tables["errors"]
    # summation-to-delta against the baseline is exact: float32 rounding only
    fx = relu.logits(x).double()[:, 1].numpy()
    fb = relu.logits(relu.baseline.expand_as(x)).double()[:, 1].numpy()
    np.testing.assert_allclose(errors["reference_logit"], fb, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
    np.testing.assert_allclose(errors["attribution_sum"], fx - fb, rtol=1e-4, atol=1e-5)
    assert json.loads(json.dumps(res.summary, allow_nan=False)) == res.summary

    # 1.5 x the attributions: every sample misses by 50% of |F(x) - F(baseline)|
    scaled = attribution_completeness(relu, "deeplift", x, 1.5 * attr, cls)
    assert not scaled.checks[0].passed and scaled.checks[0].value < 0.5
    # gradient x (x - baseline) is not a decomposition of a ReLU network's output
    grad = make_explainer("saliency", relu)  # |gradient|: wrong sign and no path, so far from complete
    wrong = attribution_completeness(relu, "deeplift", x, grad.attribute(x, target=cls) * (x - relu.baseline), cls)
    assert not wrong.checks[0].passed


def test_deeplift_completeness_on_the_linear_oracle_is_exact():
    t = linear_target(n_features=5, n_samples=16)
    x = t.eval_data.inputs
    attr = make_explainer("deeplift", t).attribute(x, target=1)
    w = t.model.weight.detach()[1]
    np.testing.assert_allclose(attr.numpy(), (w * (x - t.baseline)).numpy(), rtol=FLOAT32_RTOL, atol=1e-6)
    res = attribution_completeness(t, "deeplift", x, attr, 1)
    assert res.checks[0].passed and res.summary["median_relative_error"] < 1e-5


# -- SHAP / GradientSHAP completeness: an estimator's identity, judged within its Monte-Carlo error -----------

@pytest.mark.parametrize("method", ["shap", "gradient_shap"])
def test_expected_gradients_completeness_within_monte_carlo_error(relu, method):
    x, cls = relu.eval_data.inputs[:16], torch.ones(16, dtype=torch.long)
    ex = make_explainer(method, relu, seed=0)
    attr = ex.attribute(x, target=cls)
    res = attribution_completeness(relu, method, x, attr, cls, explainer=ex, seed=0)
    s, errors = res.summary, res.tables["errors"]
    assert s["estimator"] and s["n_draws"] == ex.default_passes and s["z"] == ESTIMATOR_Z
    assert res.checks[0].passed, errors
    # the reference is the mean over the explainer's own background sample
    bg = ex.background(32, torch.device("cpu"))
    np.testing.assert_allclose(errors["reference_logit"], relu.logits(bg).double()[:, 1].mean().item(),
                               rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
    assert (errors["standard_error"] > 0).all()
    assert (errors["allowed_error"] >= ESTIMATOR_Z * errors["standard_error"]).all()
    # a sum of zero misses F(x) - mean F(background) by many standard errors on most samples
    zero = attribution_completeness(relu, method, x, torch.zeros_like(attr), cls, explainer=ex, seed=0)
    assert not zero.checks[0].passed
    # so does the attribution of another class (the identity is per class)
    other = ex.attribute(x, target=torch.zeros(16, dtype=torch.long))
    assert not attribution_completeness(relu, method, x, other, cls, explainer=ex, seed=0).checks[0].passed


def test_expected_gradients_completeness_is_seeded(relu):
    x = relu.eval_data.inputs[:8]
    ex = make_explainer("shap", relu, seed=3)
    attr = ex.attribute(x, target=1)
    a = attribution_completeness(relu, "shap", x, attr, 1, explainer=ex, seed=5).tables["errors"]
    b = attribution_completeness(relu, "shap", x, attr, 1, explainer=ex, seed=5).tables["errors"]
    # the same draws: equal to float32 tolerance (another seed moves these numbers by far more, checked below)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
    c = attribution_completeness(relu, "shap", x, attr, 1, explainer=ex, seed=6).tables["errors"]
    assert not np.allclose(a.select_dtypes("number"), c.select_dtypes("number"), rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)


def test_completeness_not_applicable_says_why(relu):
    for method, reason in COMPLETENESS_UNDEFINED.items():
        assert completeness_not_applicable(method, relu) == reason and "not defined" in reason
    assert "Saliency: it is" in COMPLETENESS_UNDEFINED["saliency"]
    assert "knows no completeness identity" in completeness_not_applicable("my_plugin", relu)
    for method in ("integrated_gradients", "deeplift", "shap", "gradient_shap"):
        assert completeness_not_applicable(method, relu) is None
    noisy = make_explainer("gradient_shap", relu, stdevs=0.1)
    assert "stdevs=0.1" in completeness_not_applicable("gradient_shap", relu, noisy)
    for bad in ("integrated_gradients", "saliency"):
        with pytest.raises(ValueError, match=NO_IDENTITY.split("{")[0]):
            attribution_completeness(relu, bad, relu.eval_data.inputs[:2], torch.zeros(2, 6), 1)


# -- the suite: every method, every family that applies --------------------------------------------------------

def _assert_every_method_covered(result):
    """Each published method has a check in each family, or a not-applicable row with a reason."""
    methods = list(result["explanations"]["methods"])
    rows = result["quality"]["not_applicable"]["tables"]["rows"]
    assert result["quality"]["not_applicable"]["summary"]["methods"] == methods
    for m in methods:
        for fam in suite.FAMILIES:
            checks = [c for c in result["checks"] if c["method"] == m and c["family"] in suite.CHECK_FAMILIES_OF[fam]]
            na = [r for r in rows if r["method"] == m and r["check"] == fam]
            assert bool(checks) != bool(na), (m, fam, checks, na)  # exactly one of the two
            assert all(r["reason"] for r in na)
    overview = suite.method_overview(result)
    assert {r["status"] for r in overview if r["method"] in methods} <= {"checked", suite.NOT_APPLICABLE, suite.SKIPPED}
    assert {r["status"] for r in overview if r["method"] not in methods} <= {"checked", suite.NOT_PUBLISHED}
    quality = [c for c in result["checks"] if check_area(c["family"]) == "quality"]
    ids = [c["id"] for c in result["checks"]]
    assert len(ids) == len(set(ids))
    assert all(c["family"] in CHECK_FAMILIES and c["method"] and c["subject"] == c["method"] for c in quality)


@pytest.mark.slow
def test_every_published_tabular_method_gets_every_check_that_applies():
    t = linear_target(n_features=5, n_samples=40)
    result, _, _ = run_target(t, RunConfig(methods=ALL_TABULAR, progress=False, quality_samples=8))
    validate_result(result)
    _assert_every_method_covered(result)
    rows = {(r["method"], r["check"]): r for r in result["quality"]["not_applicable"]["tables"]["rows"]}
    assert set(rows) == {(m, "completeness") for m in ("saliency", "occlusion", "input_x_gradient")}
    ids = {c["id"] for c in result["checks"]}
    # the primary keeps the ids older runs have; the others carry their method
    assert {"completeness_ig", "deletion_auc_vs_random", "insertion_auc_vs_random", "completeness_deeplift",
            "completeness_shap", "completeness_gradient_shap", "deletion_auc_vs_random_shap",
            "insertion_auc_vs_random_occlusion", "infidelity_saliency", "max_sensitivity_gradient_shap",
            "sanity_randomization_input_x_gradient"} <= ids
    q = result["quality"]
    assert q["deletion_insertion"]["summary"]["method"] == "integrated_gradients"
    assert q["deletion_insertion_shap"]["summary"]["method"] == "shap"
    # every method's deletion/insertion judges the same (all explained) samples against the same random order
    for m in ALL_TABULAR[1:]:
        s = q[f"deletion_insertion_{m}"]["summary"]
        assert s["n_samples"] == q["deletion_insertion"]["summary"]["n_samples"] == 40
        assert s["random_deletion_auc"] == q["deletion_insertion"]["summary"]["random_deletion_auc"]
    assert q["robustness_shap"]["summary"]["reference"] == "background"
    assert q["robustness_deeplift"]["summary"]["reference"] == "baseline"
    for key in ("completeness_deeplift", "completeness_shap"):
        assert q[key]["summary"]["n_samples"] == 8
        assert next(c for c in result["checks"] if c["id"] == key)["passed"]
    # the summary line counts across every method
    quality = [c for c in result["checks"] if check_area(c["family"]) != "fairness"]
    line = suite.summary_line(result, quality)
    assert line.startswith(f"{sum(c['passed'] for c in quality)} of {len(quality)} explanation-quality checks "
                           f"passed across {len(ALL_TABULAR)} methods")


@pytest.mark.slow
def test_image_run_checks_grad_cam_and_says_completeness_does_not_apply():
    t = tiny_image_target(n_samples=12)
    result, _, _ = run_target(t, RunConfig(methods=["integrated_gradients", "saliency", "grad_cam"],
                                           progress=False, quality_samples=6))
    validate_result(result)
    _assert_every_method_covered(result)
    rows = result["quality"]["not_applicable"]["tables"]["rows"]
    assert [(r["method"], r["check"]) for r in rows] == [("saliency", "completeness"), ("grad_cam", "completeness")]
    assert "Grad-CAM" in rows[1]["reason"]
    ids = {c["id"] for c in result["checks"]}
    assert {"deletion_auc_vs_random_grad_cam", "infidelity_grad_cam", "max_sensitivity_grad_cam",
            "sanity_randomization_grad_cam"} <= ids


@pytest.mark.slow
def test_text_run_records_that_robustness_does_not_apply(bundled_target):
    t = bundled_target("sentiment")
    result, _, _ = run_target(t, RunConfig(samples=4, quality_samples=4, methods=["saliency", "deeplift"],
                                           progress=False))
    validate_result(result)
    _assert_every_method_covered(result)
    rows = {(r["method"], r["check"]): r["reason"] for r in result["quality"]["not_applicable"]["tables"]["rows"]}
    assert rows[("saliency", "robustness")] == rows[("deeplift", "robustness")] == NOT_APPLICABLE_TEXT
    # IG is not published but explains the reason codes / probes: its completeness is still checked
    assert any(c["id"] == "completeness_ig" for c in result["checks"])
    assert next(c for c in result["checks"] if c["id"] == "completeness_deeplift")["passed"]


def test_checks_over_the_time_budget_are_recorded_as_not_run(monkeypatch, relu):
    monkeypatch.setattr(suite, "CHECK_BUDGET_S", 0.0)
    x, cls = relu.eval_data.inputs[:8], torch.ones(8, dtype=torch.long)
    explainers = {m: make_explainer(m, relu) for m in ("integrated_gradients", "saliency", "deeplift")}
    attrs = {m: ex.attribute(x, target=cls) for m, ex in explainers.items()}
    out = suite.method_quality(relu, explainers, attrs, x, cls, primary="integrated_gradients", n_quality=8,
                               n_small=4, seconds_per_input={m: 1.0 for m in explainers})
    rows = out["not_applicable"].tables["rows"]
    skipped = rows[rows.status == suite.SKIPPED]
    # what runs always ran still runs (the primary's robustness, saliency's and the primary's randomization);
    # the checks that re-explain the other methods are skipped, with the estimate and the budget
    assert set(zip(skipped.method, skipped.check)) == {("deeplift", "robustness"), ("deeplift", "randomization"),
                                                       ("saliency", "robustness")}
    assert all("budget 0 s" in r and "about" in r for r in skipped.reason)
    assert {"robustness", "randomization_integrated_gradients", "randomization_saliency"} <= set(out)
    assert "randomization_deeplift" not in out and "robustness_saliency" not in out
    assert "completeness_deeplift" in out and "deletion_insertion_deeplift" in out  # cheap: never skipped


def test_random_order_curves_are_shared_between_methods(relu):
    x, cls = relu.eval_data.inputs[:12], torch.ones(12, dtype=torch.long)
    a = make_explainer("deeplift", relu).attribute(x, target=cls)
    b = make_explainer("saliency", relu).attribute(x, target=cls)
    cache = {}
    first = deletion_insertion(relu, x, a, cls, random_curves=cache)
    shared = deletion_insertion(relu, x, b, cls, random_curves=cache)
    alone = deletion_insertion(relu, x, b, cls)
    # float32 model outputs: compared to float32 tolerance (another draw of the random order would differ by far more)
    assert tree_differences(shared.summary, alone.summary) == []
    pd.testing.assert_frame_equal(shared.tables["auc"], alone.tables["auc"], check_exact=False, rtol=FLOAT32_RTOL,
                                  atol=FLOAT32_ATOL)
    # the cached curves are reused as they are, so the shared value is the very number computed first
    assert first.summary["random_insertion_auc"] == shared.summary["random_insertion_auc"]
    # other inputs: the cache is not used (and is replaced)
    other = deletion_insertion(relu, x[:6], b[:6], cls[:6], random_curves=cache)
    assert other.summary == deletion_insertion(relu, x[:6], b[:6], cls[:6]).summary
    assert cache["inputs"].shape[0] == 6


def test_shap_infidelity_uses_the_background_mean_as_reference(relu):
    x = relu.eval_data.inputs[:6]
    ex = make_explainer("shap", relu)
    res = infidelity_and_sensitivity(relu, ex, x, 1)
    assert res.summary["reference"] == "background" and res.summary["multiply_by_inputs"]
    plain = infidelity_and_sensitivity(relu, make_explainer("saliency", relu), x, 1)
    assert plain.summary["reference"] is None and not plain.summary["multiply_by_inputs"]


# -- readers: new runs and runs written before every method was checked --------------------------------------

def _strip_to_primary(result):
    """The run as deepaudit wrote it before every method was checked: primary-only quality entries and checks."""
    old = copy.deepcopy(result)
    keep = {"completeness", "deletion_insertion", "robustness", "randomization_integrated_gradients",
            "randomization_saliency"}
    old["quality"] = {k: v for k, v in old["quality"].items() if k in keep}
    primary = {"completeness_ig", "deletion_auc_vs_random", "insertion_auc_vs_random",
               "infidelity_integrated_gradients", "max_sensitivity_integrated_gradients",
               "sanity_randomization_integrated_gradients", "sanity_randomization_saliency"}
    # these three carried no subject then
    bare = {"completeness_ig", "deletion_auc_vs_random", "insertion_auc_vs_random"}
    old["checks"] = [dict(c, subject=None) if c["id"] in bare else c
                     for c in old["checks"] if c["id"] in primary or check_area(c["family"]) == "fairness"]
    return old


@pytest.fixture(scope="module")
def mixed_run():
    t = linear_target(n_features=5, n_samples=24)
    result, _, _ = run_target(t, RunConfig(methods=["integrated_gradients", "deeplift", "saliency"], progress=False,
                                           quality_samples=8))
    return result


def test_report_quality_section_covers_every_method(mixed_run, tmp_path):
    from deepaudit.audit.report.explain import quality_section

    q = quality_section(AuditResult.from_dict(mixed_run, path=tmp_path))
    assert [r["method"] for r in q["by_method"]] == ["integrated_gradients", "deeplift", "saliency"]
    assert "across 3 methods" in q["summary"]
    saliency = next(r for r in q["by_method"] if r["method"] == "saliency")
    assert [c["status"] for c in saliency["cells"]] == [suite.NOT_APPLICABLE, "checked", "checked", "checked"]
    assert q["not_applicable"] == [{"method": "saliency", "check": "completeness", "status": suite.NOT_APPLICABLE,
                                    "reason": COMPLETENESS_UNDEFINED["saliency"]}]
    assert [c["method"] for c in q["completeness_methods"]] == ["deeplift"]


def test_runs_written_before_every_method_was_checked_still_render(mixed_run, tmp_path):
    from deepaudit.audit.report import write_reports
    from deepaudit.audit.report.explain import quality_section
    from deepaudit.dashboard.pages import quality as page
    from deepaudit.dashboard.pages import quality_tables as qt

    old = _strip_to_primary(mixed_run)
    run = AuditResult.from_dict(old, path=tmp_path)  # validates against the schema
    q = quality_section(run)
    assert "not checked in this run: deeplift" in q["summary"] and q["completeness_methods"] == []
    cells = {r["method"]: {c["family"]: c["status"] for c in r["cells"]} for r in q["by_method"]}
    assert cells["deeplift"]["completeness"] == suite.ABSENT
    # a family that can never apply reads as not applicable in an old run too
    assert cells["saliency"]["completeness"] == suite.NOT_APPLICABLE
    assert cells["saliency"]["randomization"] == "checked"
    written = write_reports(run, tmp_path / "out", formats="html,json")
    html = next(p for p in written.paths if p.suffix == ".html").read_text()
    assert "not checked in this run: deeplift" in html and "Traceback" not in html
    layout = page.body(run, None, None)
    assert layout  # builds without error
    rows = {r["method"]: r for r in qt.coverage_rows(run.result)}
    assert rows["deeplift"]["deletion_insertion"] == suite.ABSENT
    assert rows["integrated_gradients"]["completeness"] == "pass"
    assert qt.unchecked_methods(run.result) == ["deeplift"]
    assert [r["method"] for r in qt.curve_method_rows(run.result)] == ["integrated_gradients"]


def test_v1_fixture_runs_read_with_coverage(tmp_path):
    import shutil
    from pathlib import Path

    from deepaudit.audit.report.explain import quality_section

    root = tmp_path / "store"
    shutil.copytree(Path(__file__).resolve().parents[1] / "fixtures" / "store_v1", root)
    for run_dir in sorted((root / "runs").iterdir()):
        run = AuditResult.load(run_dir)
        q = quality_section(run)
        assert "explanation-quality checks passed across" in q["summary"], q["summary"]
        overview = suite.method_overview(run.result)
        primary = next(iter(run.explanations.methods))
        assert all(r["status"] == "checked" for r in overview if r["method"] == primary
                   and r["family"] in ("completeness", "deletion_insertion", "randomization"))


def test_reading_the_quality_of_a_run_does_not_load_torch(mixed_run, tmp_path):
    """The report and dashboard read the per-method coverage through deepaudit.audit.quality.coverage: no torch, no
    captum."""
    import subprocess
    import sys

    doc = tmp_path / "result.json"
    doc.write_text(json.dumps(mixed_run))
    code = ("import json, sys\n"
            "from deepaudit.audit.result import AuditResult\n"
            "from deepaudit.audit.report.explain import quality_section\n"
            f"run = AuditResult.from_dict(json.loads(open({str(doc)!r}).read()), path={str(tmp_path)!r})\n"
            "q = quality_section(run)\n"
            "assert 'across 3 methods' in q['summary'], q['summary']\n"
            "print(sorted(m for m in ('torch', 'captum', 'shap') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
