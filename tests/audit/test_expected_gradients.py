"""SHAP by expected gradients in one batched pass, against shap's GradientExplainer (the oracle) and an
analytic oracle (a linear model), with shap's random draws reproduced exactly."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from deepaudit.audit.explain import make_explainer
from deepaudit.audit.explain.shap_methods import expected_gradients, shap_draws
from deepaudit.audit.tolerance import FLOAT32_ATOL, FLOAT32_RTOL


@pytest.mark.parametrize("n_background", [1, 2, 3, 5, 7, 32, 33, 100, 597])
@pytest.mark.parametrize("seed", [0, 12345])
def test_draws_are_shaps_draws(seed, n_background):
    rows, samples = 7, 11
    np.random.seed(seed)
    want = [(np.random.choice(n_background), np.random.uniform()) for _ in range(rows * samples)]
    index, t = shap_draws(seed, rows, samples, n_background)
    assert index.shape == t.shape == (rows, samples)
    assert index.ravel().tolist() == [w[0] for w in want]
    assert t.ravel().tolist() == [w[1] for w in want]          # the same doubles, bit for bit


class _Select(nn.Module):
    def __init__(self, model, cls):
        super().__init__()
        self.model, self.cls = model, cls

    def forward(self, x):
        return self.model(x)[:, self.cls:self.cls + 1]


def _shap(model, x, background, cls, n_samples, seed):
    import shap

    explainer = shap.GradientExplainer(_Select(model, cls), background)
    return torch.from_numpy(np.asarray(explainer.shap_values(x, nsamples=n_samples, rseed=seed))
                            .reshape(x.shape)).float()


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(7, 16), nn.Tanh(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3)).eval()


def _cnn():
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 2)).eval()


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_equals_shap_gradient_explainer(kind):
    g = torch.Generator().manual_seed(2)
    model, shape = (_mlp(), (7,)) if kind == "mlp" else (_cnn(), (2, 8, 8))
    x = torch.randn((13,) + shape, generator=g)
    background = torch.randn((9,) + shape, generator=g)
    for cls in (0, 1):
        got = expected_gradients(model, x, background, cls, n_samples=20, seed=7)
        want = _shap(model, x, background, cls, 20, 7)
        torch.testing.assert_close(got, want, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
        assert got.abs().sum() > 0


def test_linear_model_matches_the_closed_form():
    """f = w.x + b: the gradient is w everywhere, so phi = w * mean_k (x - b_k) over the drawn rows."""
    torch.manual_seed(3)
    lin = nn.Linear(5, 2).eval()
    x, background = torch.randn(4, 5), torch.randn(6, 5)
    phi = expected_gradients(lin, x, background, 1, n_samples=30, seed=11)
    index, _ = shap_draws(11, 4, 30, 6)
    expected = lin.weight[1].detach().double() * (x.double().unsqueeze(1) - background.double()[index]).mean(1)
    torch.testing.assert_close(phi.double(), expected, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)


def test_the_explainer_equals_shap_on_the_mortgage_model(bundled_target):
    """The audit's SHAP on real rows of the bundled mortgage model: same background, same draws."""
    target = bundled_target("mortgage")
    x = target.eval_data.inputs[:30]
    explainer = make_explainer("shap", target, seed=5)
    got = explainer.attribute(x, target=1)
    data = target.eval_data.inputs
    background = data[torch.randperm(len(data), generator=explainer.generator(5))[:32]]
    want = _shap(target.model, x, background, 1, 50, 5)
    torch.testing.assert_close(got, want, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
