"""Contract tests: every registered method on every bundled modality, plus error paths."""
from __future__ import annotations

import pytest
import torch

from deepaudit.audit import load_target
from deepaudit.audit.explain import base, get_explainer, list_explainers, make_explainer

MODELS = ["mortgage", "mnist_cnn", "sentiment"]
FAST = {"n_steps": 8, "n_samples": 4, "max_evals": 60, "n_background": 8}


def fast(method):
    """The FAST options ``method`` accepts (any other option is an error)."""
    valid = get_explainer(method).valid_options()
    return {k: v for k, v in FAST.items() if valid is None or k in valid}


@pytest.fixture(scope="module")
def targets(bundled_target):
    return {m: bundled_target(m) for m in MODELS}


def _cases():
    out = []
    for m in MODELS:
        domain = {"mortgage": "finance", "mnist_cnn": "vision", "sentiment": "nlp"}[m]
        # shap's Partition explainer (text) JIT-compiles with numba (~9 s) once per process: one worker does it.
        out += [pytest.param(m, method, marks=pytest.mark.xdist_group("shap_text"))
                if (m, method) == ("sentiment", "shap") else (m, method) for method in list_explainers(domain)]
    return out


def test_every_method_is_registered_for_some_domain():
    names = set(list_explainers())
    assert {"integrated_gradients", "saliency", "input_x_gradient", "deeplift", "gradient_shap", "occlusion",
            "grad_cam", "shap"} <= names
    assert "grad_cam" not in list_explainers("finance")
    assert "grad_cam" in list_explainers("vision")


@pytest.mark.parametrize("model,method", _cases())
def test_contract_shape_finite_deterministic(targets, model, method):
    t = targets[model]
    x = t.eval_data.inputs[:2]
    ex = make_explainer(method, t, seed=3, **fast(method))
    a = ex.attribute(x, target=[0, 1])
    assert a.shape == x.shape
    assert a.dtype == torch.float32 and a.device.type == "cpu"
    assert torch.isfinite(a).all()
    assert a.abs().sum() > 0, "an attribution that is all zero explains nothing"
    b = make_explainer(method, t, seed=3, **fast(method)).attribute(x, target=[0, 1])
    assert torch.equal(a, b)
    if t.domain == "nlp":
        # Padding positions never get attribution (they are not part of the text).
        assert (a[x == 0] == 0).all()


def test_chunking_does_not_change_results(targets):
    t = targets["mnist_cnn"]
    x = t.eval_data.inputs[:5]
    whole = make_explainer("integrated_gradients", t, n_steps=16).attribute(x, target=3)
    chunked = make_explainer("integrated_gradients", t, n_steps=16, batch_size=2).attribute(x, target=3)
    torch.testing.assert_close(whole, chunked, rtol=1e-4, atol=1e-6)


def test_chunk_size_bounded_for_long_inputs(targets):
    t = targets["sentiment"]
    ex = make_explainer("integrated_gradients", t, n_steps=50, batch_size=10_000)
    n = ex.chunk_size(t.eval_data.inputs[:100], {"n_steps": 50})
    emb = t.submodule("embedding").embedding_dim
    assert n * 50 * t.eval_data.inputs.shape[1] * emb <= base.MAX_BATCH_ELEMENTS
    assert n >= 1


def test_none_target_explains_predicted_class(targets):
    t = targets["mortgage"]
    x = t.eval_data.inputs[:4]
    pred = t.logits(x).argmax(1)
    ex = make_explainer("saliency", t)
    assert torch.equal(ex.attribute(x), ex.attribute(x, target=pred))


def test_errors_name_the_problem(targets):
    t = targets["mortgage"]
    with pytest.raises(ValueError, match="unknown explanation method 'lime'"):
        get_explainer("lime")
    with pytest.raises(ValueError, match="does not apply to tabular target"):
        make_explainer("grad_cam", t)
    ex = make_explainer("integrated_gradients", t)
    with pytest.raises(ValueError, match="target class 5 is out of range for 2 classes"):
        ex.attribute(t.eval_data.inputs[:2], target=5)
    x = t.eval_data.inputs[:2].clone()
    x[1, 3] = float("nan")
    with pytest.raises(ValueError, match="1 non-finite values"):
        ex.attribute(x, target=1)
    with pytest.raises(ValueError, match="no inputs to explain"):
        ex.attribute(t.eval_data.inputs[:0], target=1)
    with pytest.raises(ValueError, match="has 3 entries for 2 inputs"):
        ex.attribute(t.eval_data.inputs[:2], target=[0, 1, 1])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_cuda_matches_cpu():
    cpu, gpu = load_target("mortgage", device="cpu"), load_target("mortgage", device="cuda")
    x = cpu.eval_data.inputs[:32]
    a = make_explainer("integrated_gradients", cpu).attribute(x, target=1)
    b = make_explainer("integrated_gradients", gpu).attribute(x, target=1)
    torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("model", ["mortgage", "mnist_cnn"])
def test_native_ig_equals_captum(targets, model):
    from captum.attr import IntegratedGradients

    t = targets[model]
    x = t.eval_data.inputs[:6]
    ours = make_explainer("integrated_gradients", t, n_steps=32).attribute(x, target=[0, 1, 1, 0, 1, 0])
    ref = IntegratedGradients(t.model).attribute(x, baselines=t.baseline.expand_as(x), n_steps=32,
                                                 target=torch.tensor([0, 1, 1, 0, 1, 0]))
    torch.testing.assert_close(ours, ref.float(), rtol=1e-5, atol=1e-6)
    # Other quadratures go through captum itself.
    riemann = make_explainer("integrated_gradients", t, n_steps=32, method="riemann_trapezoid").attribute(x, target=1)
    assert not torch.equal(riemann, ours) and torch.isfinite(riemann).all()
