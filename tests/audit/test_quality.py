"""Explanation-quality checks (audit/quality): completeness, deletion/insertion, robustness, randomization."""
import copy
import dataclasses
import json

import numpy as np
import pytest
import torch
from torch import nn

from deepaudit.audit.explain.base import NON_FINITE, TARGET_RANGE, make_explainer
from deepaudit.audit.quality import (
    QualityResult,
    deletion_insertion,
    ig_completeness,
    infidelity_and_sensitivity,
    randomization_check,
)
from deepaudit.audit.quality.completeness import BAD_STEPS, _path_start_logits
from deepaudit.audit.quality.curves import BAD_POINTS
from deepaudit.audit.quality.randomization import NO_RESET
from deepaudit.audit.quality.robustness import NOT_APPLICABLE_TEXT
from deepaudit.audit.testing import (
    EdgeDetectorExplainer,
    linear_target,
    linear_weights,
    tiny_image_target,
)
from deepaudit.audit.tolerance import FLOAT32_ATOL, FLOAT32_RTOL, FLOAT64_ATOL


@pytest.fixture(scope="module")
def mnist(bundled_target):
    return bundled_target("mnist_cnn")


@pytest.fixture(scope="module")
def sentiment(bundled_target):
    return bundled_target("sentiment")


@pytest.fixture(scope="module")
def mortgage(bundled_target):
    return bundled_target("mortgage")


def assert_json_safe(result: QualityResult):
    assert json.loads(json.dumps(result.summary, allow_nan=False)) == result.summary
    for check in result.checks:
        json.dumps(check.to_dict(), allow_nan=False)


# -- completeness -------------------------------------------------------------

def test_completeness_on_mnist_reaches_the_check(mnist):
    x = mnist.eval_data.inputs[:4]
    result = ig_completeness(mnist, x, start_steps=8)
    assert_json_safe(result)
    (check,) = result.checks
    assert check.id == "completeness_ig" and check.comparison == ">=" and check.threshold == 0.95
    assert check.passed
    assert result.summary["steps_tried"][-1]["n_steps"] == result.summary["n_steps"]
    assert len(result.tables["errors"]) == 4
    assert result.summary["p95_relative_error"] <= 0.05


def test_completeness_doubles_steps_until_max(mnist):
    # An impossible tolerance forces every doubling, and the check then fails.
    result = ig_completeness(mnist, mnist.eval_data.inputs[:2], start_steps=4, max_steps=16, tol=1e-9)
    assert [s["n_steps"] for s in result.summary["steps_tried"]] == [4, 8, 16]
    assert result.summary["converged"] is False
    assert not result.checks[0].passed


def test_text_completeness_on_sentiment(sentiment):
    result = ig_completeness(sentiment, sentiment.eval_data.inputs[:3], start_steps=16, max_steps=64)
    assert (result.tables["errors"].relative_error < 0.05).all()
    assert result.checks[0].passed


def test_text_completeness_starts_the_path_at_the_baseline_embedding(sentiment):
    # The shipped model's conv biases are all negative, so its output at the
    # baseline happens not to depend on the padding mask; positive biases make
    # the mask (real text vs all padding) change the path's starting logit.
    model = copy.deepcopy(sentiment.model)
    with torch.no_grad():
        for conv in model.convs:
            conv.bias.add_(5.0)
    t = dataclasses.replace(sentiment, model=model)
    x = sentiment.eval_data.inputs[:3]
    start = _path_start_logits(t, x, batch_size=2)
    assert not torch.allclose(start, t.logits(torch.zeros_like(x)), atol=1e-2)
    result = ig_completeness(t, x, target=0, start_steps=16, max_steps=64)
    errors = result.tables["errors"]
    assert (errors.relative_error < 0.05).all() and result.checks[0].passed
    # Measured against F(all-padding ids) the same attributions would not add up.
    classes = torch.tensor(errors.target.to_numpy())[:, None]
    naive = t.logits(torch.zeros_like(x)).gather(1, classes).squeeze(1).numpy()
    naive_rel = np.abs(errors.attribution_sum - (errors.logit - naive)) / np.abs(errors.logit - naive)
    assert (naive_rel > 0.5).all()


def test_completeness_errors(mnist):
    x = mnist.eval_data.inputs[:2]
    with pytest.raises(ValueError) as e:
        ig_completeness(mnist, x, start_steps=32, max_steps=16)
    assert str(e.value) == BAD_STEPS.format(start=32, max=16)
    with pytest.raises(ValueError) as e:
        ig_completeness(mnist, x, target=10)
    assert str(e.value) == TARGET_RANGE.format(bad=10, n=10, classes=mnist.class_names)
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError) as e:
        ig_completeness(mnist, bad)
    assert str(e.value) == NON_FINITE.format(count=1)


# -- deletion / insertion ---------------------------------------------------------

def test_deletion_curve_on_linear_target_follows_the_attribution_order():
    t = linear_target(n_features=4, n_samples=8)
    x = t.eval_data.inputs
    attr = make_explainer("integrated_gradients", t).attribute(x, target=1)
    # n_points = features + 1: point p has the top-p features at the baseline.
    result = deletion_insertion(t, x, attr, target=1, n_points=5)
    curves = result.tables["curves"]
    got = curves[(curves.curve == "deletion") & (curves.order == "attribution")].probability.to_numpy()
    expected = []
    order = attr.argsort(dim=1, descending=True)
    for p in range(5):
        xp = x.clone()
        rows = torch.arange(len(x))[:, None]
        xp[rows, order[:, :p]] = t.baseline.expand_as(x)[rows, order[:, :p]]
        expected.append(t.logits(xp).softmax(1)[:, 1].mean().item())
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert result.summary["deletion_ratio"] < 1 < result.summary["insertion_ratio"]
    assert all(c.passed for c in result.checks)


def test_deletion_insertion_stores_the_interval_of_each_mean_auc():
    from deepaudit.audit.fairness.intervals import z_value
    from deepaudit.audit.quality.curves import auc_intervals

    t = linear_target(n_features=4, n_samples=8)
    x = t.eval_data.inputs
    attr = make_explainer("integrated_gradients", t).attribute(x, target=1)
    result = deletion_insertion(t, x, attr, target=1, n_points=5)
    assert_json_safe(result)
    per, iv = result.tables["auc"], result.summary["auc_intervals"]
    assert set(iv) == {"deletion", "insertion"} and all(set(v) == {"attribution", "random"} for v in iv.values())
    for curve in ("deletion", "insertion"):
        for order in ("attribution", "random"):
            a = per[(per.curve == curve) & (per.order == order)].auc.to_numpy()
            r = iv[curve][order]
            half = z_value(0.95) * a.std(ddof=1) / np.sqrt(len(a))
            point = result.summary[f"{'random_' if order == 'random' else ''}{curve}_auc"]
            assert r["n"] == len(a) == 8 and r["level"] == 0.95 and r["value"] == point
            # the stored per-sample AUCs themselves, in float64: an identical-input comparison, hence FLOAT64_ATOL
            assert r["lo"] == pytest.approx(max(0.0, point - half), abs=FLOAT64_ATOL)
            assert r["hi"] == pytest.approx(min(1.0, point + half), abs=FLOAT64_ATOL)
            assert r["method"] == "normal approximation of the per-sample mean, 95%"
    # the same function on the stored records gives the stored intervals (what the migration of old runs calls)
    stored = json.loads(json.dumps(per.to_dict(orient="records")))
    assert auc_intervals(stored, points=result.summary) == iv
    # one sample: the mean without bounds, and why
    one = auc_intervals(per[per["sample"] == 0])["deletion"]["attribution"]
    assert one["n"] == 1 and one["lo"] is None and one["hi"] is None
    assert one["method"].endswith("not computable from a single sample")
    assert one["value"] == pytest.approx(float(per[(per["sample"] == 0) & (per.curve == "deletion")
                                                   & (per.order == "attribution")].auc.iloc[0]))


def test_deletion_beats_random_on_mnist_with_ig(mnist):
    x = mnist.eval_data.inputs[:8]
    attr = make_explainer("integrated_gradients", mnist).attribute(x, n_steps=16)
    result = deletion_insertion(mnist, x, attr, n_points=10)
    assert_json_safe(result)
    checks = {c.id: c for c in result.checks}
    assert checks["deletion_auc_vs_random"].passed and checks["deletion_auc_vs_random"].value < 0.5
    assert checks["insertion_auc_vs_random"].passed
    assert "integrated_gradients" in checks["deletion_auc_vs_random"].description
    curves = result.tables["curves"]
    assert set(curves.columns) == {"curve", "order", "fraction", "probability"}
    assert len(curves) == 4 * 10


def test_text_curves_remove_only_real_tokens(sentiment):
    x = sentiment.eval_data.inputs[:4]
    attr = torch.randn(x.shape)
    result = deletion_insertion(sentiment, x, attr, n_points=6, method="random_test")
    curves = result.tables["curves"]
    assert len(curves) == 4 * 6 and len(result.tables["auc"]) == 4 * 4
    assert curves.probability.between(0, 1).all()
    classes = sentiment.logits(x).argmax(1)[:, None]
    start = sentiment.logits(x).softmax(1).gather(1, classes).mean().item()
    empty = sentiment.logits(torch.zeros_like(x)).softmax(1).gather(1, classes).mean().item()
    for order in ("attribution", "random"):
        dele = curves[(curves.curve == "deletion") & (curves.order == order)].probability.to_numpy()
        ins = curves[(curves.curve == "insertion") & (curves.order == order)].probability.to_numpy()
        # Fraction 0 is the text itself for deletion, all padding for insertion; fraction 1 the reverse.
        assert dele[0] == pytest.approx(start, abs=1e-6) and dele[-1] == pytest.approx(empty, abs=1e-6)
        assert ins[0] == pytest.approx(empty, abs=1e-6) and ins[-1] == pytest.approx(start, abs=1e-6)


def test_curves_errors(mnist):
    x = mnist.eval_data.inputs[:2]
    attr = torch.zeros_like(x)
    with pytest.raises(ValueError) as e:
        deletion_insertion(mnist, x, attr, target=[0, 12])
    assert str(e.value) == TARGET_RANGE.format(bad=12, n=10, classes=mnist.class_names)
    with pytest.raises(ValueError) as e:
        deletion_insertion(mnist, x, attr, n_points=1)
    assert str(e.value) == BAD_POINTS.format(value=1)
    with pytest.raises(ValueError, match="do not match inputs"):
        deletion_insertion(mnist, x, attr[:1])
    bad = x.clone()
    bad[1, 0, 3, 3] = float("inf")
    with pytest.raises(ValueError) as e:
        deletion_insertion(mnist, bad, attr)
    assert str(e.value) == NON_FINITE.format(count=1)


# -- infidelity / max-sensitivity ------------------------------------------------

@pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")
def test_robustness_oracle_on_linear_target():
    t = linear_target(n_features=5, n_samples=8)
    x = t.eval_data.inputs
    ig = make_explainer("integrated_gradients", t)
    result = infidelity_and_sensitivity(t, ig, x, target=1)
    # IG / (x - baseline) is the weight vector, which predicts a linear model exactly.
    assert result.summary["multiply_by_inputs"] is True
    assert result.summary["relative_infidelity"]["p95"] < 1e-6
    assert all(c.passed for c in result.checks)
    unscaled = infidelity_and_sensitivity(t, ig, x, target=1, multiply_by_inputs=False)
    assert unscaled.summary["relative_infidelity"]["mean"] > 0.01
    # |w| does not move with the input at all.
    saliency = infidelity_and_sensitivity(t, make_explainer("saliency", t), x, target=1)
    assert saliency.summary["max_sensitivity"]["p95"] == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(make_explainer("saliency", t).attribute(x[:1], target=1)[0],
                               linear_weights(5)[1].abs())


def test_robustness_is_finite_and_deterministic(mortgage, mnist):
    for target, method, n in ((mortgage, "integrated_gradients", 8), (mnist, "saliency", 4)):
        x = target.eval_data.inputs[:n]
        explainer = make_explainer(method, target)
        first = infidelity_and_sensitivity(target, explainer, x, n_perturb=4, seed=3)
        torch.rand(10)  # the global stream moves; results must not
        second = infidelity_and_sensitivity(target, explainer, x, n_perturb=4, seed=3)
        assert_json_safe(first)
        assert first.summary == second.summary
        table = first.tables["per_sample"]
        assert np.isfinite(table.drop(columns=["sample", "target"]).to_numpy()).all()
        assert {c.id for c in first.checks} == {f"infidelity_{method}", f"max_sensitivity_{method}"}
        other_seed = infidelity_and_sensitivity(target, explainer, x, n_perturb=4, seed=4)
        assert other_seed.summary["relative_infidelity"] != first.summary["relative_infidelity"]


def test_robustness_is_not_applicable_to_text(sentiment):
    explainer = make_explainer("saliency", sentiment)
    result = infidelity_and_sensitivity(sentiment, explainer, sentiment.eval_data.inputs[:2])
    assert result.summary["applicable"] is False
    assert result.summary["reason"] == NOT_APPLICABLE_TEXT
    assert result.checks == []


def test_robustness_errors(mortgage):
    x = mortgage.eval_data.inputs[:3].clone()
    explainer = make_explainer("saliency", mortgage)
    with pytest.raises(ValueError) as e:
        infidelity_and_sensitivity(mortgage, explainer, x, target=2)
    assert str(e.value) == TARGET_RANGE.format(bad=2, n=2, classes=mortgage.class_names)
    x[0, 0] = float("nan")
    with pytest.raises(ValueError) as e:
        infidelity_and_sensitivity(mortgage, explainer, x)
    assert str(e.value) == NON_FINITE.format(count=1)


# -- model-parameter randomization --------------------------------------------------

def test_model_blind_explainer_fails_randomization(mnist):
    before = {k: v.clone() for k, v in mnist.model.state_dict().items()}
    result = randomization_check(mnist, "edge_detector", mnist.eval_data.inputs[:8],
                                 explainer_factory=EdgeDetectorExplainer)
    (check,) = result.checks
    assert check.id == "sanity_randomization_edge_detector"
    assert check.value == pytest.approx(1.0) and not check.passed
    layers = result.tables["layers"]
    assert list(layers.layer) == ["none (original)", "classifier.fc2", "classifier.fc1", "features.conv4",
                                  "features.conv3", "features.conv2", "features.conv1"]
    after = mnist.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_saliency_passes_randomization_and_leaves_the_model_alone(mnist):
    before = {k: v.clone() for k, v in mnist.model.state_dict().items()}
    result = randomization_check(mnist, "saliency", mnist.eval_data.inputs[:8])
    assert_json_safe(result)
    (check,) = result.checks
    assert check.passed and check.value < 0.3
    layers = result.tables["layers"]
    assert layers.mean_spearman_abs.iloc[0] == pytest.approx(1.0)
    # Similarity falls as more of the model is random.
    assert layers.mean_spearman_abs.iloc[-1] < layers.mean_spearman_abs.iloc[1]
    after = mnist.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_randomization_summary_and_note_name_each_view_for_a_signed_method():
    """IG is judged on signed attributions; the summary's ``*_abs`` and the note's "magnitudes" must still be the
    magnitudes (they once carried the signed value)."""
    t = tiny_image_target(n_samples=6)
    result = randomization_check(t, "integrated_gradients", t.eval_data.inputs, seed=0)
    (check,) = result.checks
    layers, summary = result.tables["layers"], result.summary
    assert summary["measure"] == "spearman_signed"
    # correlations of float32 attributions: compared at float32 tolerance, never bit for bit
    tol = dict(rel=FLOAT32_RTOL, abs=FLOAT32_ATOL)
    assert summary["final_mean_spearman"] == pytest.approx(check.value, **tol)
    assert check.value == pytest.approx(layers.mean_spearman_signed.iloc[-1], **tol)
    assert summary["final_mean_spearman_abs"] == pytest.approx(layers.mean_spearman_abs.iloc[-1], **tol)
    assert summary["final_mean_spearman_signed"] == pytest.approx(layers.mean_spearman_signed.iloc[-1], **tol)
    assert f"magnitudes after full randomisation: {layers.mean_spearman_abs.iloc[-1]:.2f}" in check.note


def test_randomization_hands_the_factory_a_randomised_copy():
    t = tiny_image_target(n_samples=4)
    seen = []

    def factory(target):
        seen.append(target)
        return make_explainer("saliency", target)

    result = randomization_check(t, "saliency", t.eval_data.inputs, seed=1, explainer_factory=factory)
    assert seen[0] is t and len(seen) == 1 + 3
    assert all(s.model is not t.model for s in seen[1:])
    assert not torch.equal(seen[-1].model.fc.weight, t.model.fc.weight)
    again = randomization_check(t, "saliency", t.eval_data.inputs, seed=1)
    assert again.summary == result.summary


def test_randomization_of_a_deep_model_cascades_in_groups_and_still_randomises_every_layer():
    """30 parametrised layers (a transformer has dozens): 12 cascade steps, top-down, every layer re-initialised
    by the last step, each layer once."""
    import pandas as pd

    from deepaudit.audit.quality.randomization import MAX_STEPS, cascade_steps
    from deepaudit.audit.target import AuditTarget, EvalData

    torch.manual_seed(0)
    model = nn.Sequential(*[m for _ in range(29) for m in (nn.Linear(4, 4), nn.Tanh())], nn.Linear(4, 2)).eval()
    deep = AuditTarget(name="deep", domain="other", task="toy", class_names=["a", "b"], favorable_label=None,
                       model=model, eval_data=EvalData(inputs=torch.randn(6, 4), labels=np.arange(6) % 2,
                                                       groups=pd.DataFrame(index=range(6)))).validate()
    layers = [n for n, m in model.named_modules() if next(m.parameters(recurse=False), None) is not None]
    assert len(layers) == 30
    steps = cascade_steps(list(reversed(layers)))
    assert len(steps) == MAX_STEPS and [x for g in steps for x in g] == list(reversed(layers))
    seen = []

    def factory(target):
        seen.append(target)
        return make_explainer("saliency", target)

    result = randomization_check(deep, "saliency", deep.eval_data.inputs, seed=1, explainer_factory=factory)
    table = result.tables["layers"]
    assert len(table) == MAX_STEPS + 1 and len(seen) == MAX_STEPS + 1
    assert table["layer"].iloc[1].endswith("layers)") and table["layer"].iloc[1].startswith(layers[-1])
    last = seen[-1].model
    assert all(not torch.equal(p, q) for p, q in zip(last.parameters(), model.parameters()))


def test_randomization_errors():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(2))

        def forward(self, x):
            return x[:, :2] * self.scale

    t = linear_target(n_features=3, n_samples=4)
    with pytest.raises(ValueError) as e:
        randomization_check(t, "saliency", t.eval_data.inputs, target=5)
    assert str(e.value) == TARGET_RANGE.format(bad=5, n=2, classes=t.class_names)
    t.model = Scaled()
    with pytest.raises(ValueError) as e:
        randomization_check(t, "saliency", t.eval_data.inputs)
    assert str(e.value) == NO_RESET.format(layer="", type="Scaled")
