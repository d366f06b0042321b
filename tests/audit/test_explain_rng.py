"""Randomness and state: explainers leave the global RNGs alone and keep no per-call state."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from deepaudit.audit import load_target
from deepaudit.audit.explain import get_explainer, list_explainers, make_explainer
from deepaudit.audit.testing import linear_target, linear_weights

FAST = {"n_steps": 8, "n_samples": 8, "n_background": 8, "max_evals": 40}


def _fast(method):
    valid = get_explainer(method).valid_options()
    return {k: v for k, v in FAST.items() if k in valid}


def _global_states():
    return torch.random.get_rng_state(), np.random.get_state()


def _assert_same_states(before, after):
    assert torch.equal(before[0], after[0]), "the global torch RNG was touched"
    b, a = before[1], after[1]
    assert b[0] == a[0] and np.array_equal(b[1], a[1]) and b[2:] == a[2:], "the global numpy RNG was touched"


@pytest.fixture(scope="module")
def linear():
    return linear_target(n_features=5, n_samples=40)


@pytest.fixture(scope="module")
def sentiment():
    return load_target("sentiment", device="cpu")


@pytest.mark.parametrize("method", sorted(set(list_explainers("other"))))
def test_explaining_leaves_global_rngs_unchanged(linear, method):
    x = linear.eval_data.inputs[:6]
    before = _global_states()
    make_explainer(method, linear, seed=5, **_fast(method)).attribute(x, target=[0, 1, 0, 1, 0, 1])
    _assert_same_states(before, _global_states())


@pytest.mark.parametrize("method", ["gradient_shap", "shap"])
def test_stochastic_results_depend_on_the_seed_only(linear, method):
    x = linear.eval_data.inputs[:6]

    def run(seed, global_seed):
        torch.manual_seed(global_seed)
        np.random.seed(global_seed)
        return make_explainer(method, linear, seed=seed, **_fast(method)).attribute(x, target=1)

    a = run(seed=1, global_seed=10)
    assert torch.equal(a, run(seed=1, global_seed=99)), "the result depends on the global RNG state"
    assert not torch.equal(a, run(seed=2, global_seed=10)), "the seed is not used"


def test_gradient_shap_with_one_background_row_is_w_times_x_minus_it(linear):
    # Linear model: every sampled gradient is w_c, so the attribution is exactly w_c * (x - b).
    x = linear.eval_data.inputs[:6]
    ex = make_explainer("gradient_shap", linear, seed=3, n_background=1, n_samples=4)
    b = ex.background(1, torch.device("cpu"))
    attr = ex.attribute(x, target=[0, 1, 0, 1, 0, 1])
    expected = linear_weights(5)[torch.tensor([0, 1, 0, 1, 0, 1])] * (x - b)
    torch.testing.assert_close(attr, expected, atol=1e-5, rtol=1e-5)
    # Noise on the inputs changes the result, and repeats for a given seed.
    noisy = make_explainer("gradient_shap", linear, seed=3, n_background=1, stdevs=0.5)
    assert not torch.allclose(noisy.attribute(x, target=1), attr)
    assert torch.equal(noisy.attribute(x, target=1), noisy.attribute(x, target=1))


def test_text_gradient_shap_is_seeded_locally(sentiment):
    x = sentiment.eval_data.inputs[:2]
    before = _global_states()
    a = make_explainer("gradient_shap", sentiment, seed=4, n_samples=4).attribute(x, target=1)
    _assert_same_states(before, _global_states())
    torch.manual_seed(123)
    assert torch.equal(a, make_explainer("gradient_shap", sentiment, seed=4, n_samples=4).attribute(x, target=1))


def test_shap_threads_match_sequential(linear):
    ex = make_explainer("shap", linear, seed=2, n_samples=8, n_background=8)
    xs = [linear.eval_data.inputs[i * 5:(i + 1) * 5] for i in range(4)]
    sequential = [ex.attribute(x, target=1) for x in xs]
    results: dict[int, torch.Tensor] = {}
    errors: list[BaseException] = []

    def work(i):
        try:
            results[i] = ex.attribute(xs[i], target=1)
        except BaseException as e:  # noqa: BLE001 - surfaced below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i, want in enumerate(sequential):
        assert torch.equal(results[i], want)


@pytest.mark.xdist_group("shap_text")  # shap's Partition explainer JIT-compiles (numba, ~9 s) once per process
def test_shap_text_keeps_no_per_call_state_across_interleaved_calls(sentiment):
    # batch_size=1: one chunk per text. While call A runs its first chunk, the model's forward starts call B
    # on the same explainer; A's later chunks must still explain A's texts.
    ex = make_explainer("shap", sentiment, seed=1, max_evals=40, batch_size=1)
    fields = set(vars(ex))
    data = sentiment.eval_data
    a_in, b_in = data.inputs[:2], data.inputs[2:4]
    a_texts, b_texts = list(data.raw[:2]), list(data.raw[2:4])
    want_a = ex.attribute(a_in, target=1, texts=a_texts)
    want_b = ex.attribute(b_in, target=0, texts=b_texts)
    nested: dict[str, torch.Tensor] = {}

    def hook(_module, _inputs):
        if not nested:
            nested["b"] = torch.empty(0)  # mark first, so B's own forwards do not recurse
            nested["b"] = ex.attribute(b_in, target=0, texts=b_texts)

    handle = sentiment.model.register_forward_pre_hook(hook)
    try:
        before = _global_states()
        got_a = ex.attribute(a_in, target=1, texts=a_texts)
        _assert_same_states(before, _global_states())
    finally:
        handle.remove()
    assert torch.equal(nested["b"], want_b)
    assert torch.equal(got_a, want_a)
    assert set(vars(ex)) == fields, "attribute() stored state on the explainer"
