"""Reference targets with known answers (audit/testing): the oracles the quality tests rely on."""
import numpy as np
import pytest
import torch

from deepaudit.audit.explain.base import make_explainer
from deepaudit.audit.quality import ig_completeness
from deepaudit.audit.testing import (
    EdgeDetectorExplainer,
    linear_target,
    linear_weights,
    tiny_image_target,
)
from deepaudit.audit.testing.images import NOT_IMAGES
from deepaudit.audit.testing.linear import BAD_SIZE


def test_linear_target_is_the_documented_linear_map():
    t = linear_target(n_features=4, n_samples=10)
    x = t.eval_data.inputs
    w = linear_weights(4)
    expected = x @ w.T + torch.tensor([0.1, -0.1])
    torch.testing.assert_close(t.logits(x), expected)
    assert np.array_equal(t.eval_data.labels, expected.argmax(1).numpy())
    assert t.baseline.abs().min() > 0  # so that x - baseline differs from x
    assert list(t.eval_data.groups.columns) == ["group"]


@pytest.mark.parametrize("n_steps", [2, 50])
def test_ig_on_linear_target_is_weights_times_input_difference(n_steps):
    t = linear_target(n_features=6, n_samples=12)
    x = t.eval_data.inputs
    classes = torch.tensor([0, 1] * 6)
    attr = make_explainer("integrated_gradients", t).attribute(x, target=classes, n_steps=n_steps)
    expected = linear_weights(6)[classes] * (x - t.baseline)
    torch.testing.assert_close(attr, expected, atol=1e-5, rtol=0)


def test_linear_target_completeness_error_is_zero():
    t = linear_target(n_features=5, n_samples=16)
    result = ig_completeness(t, t.eval_data.inputs, start_steps=4)
    errors = result.tables["errors"]
    assert (errors.relative_error < 1e-4).all()
    assert result.summary["n_steps"] == 4  # no doubling needed
    assert result.checks[0].passed


def test_linear_target_rejects_bad_sizes():
    with pytest.raises(ValueError) as e:
        linear_target(n_features=0)
    assert str(e.value) == BAD_SIZE.format(n_features=0, n_samples=64)


def test_edge_detector_finds_the_edge_of_a_square_and_ignores_the_target():
    img = torch.zeros(1, 1, 9, 9)
    img[..., 3:6, 3:6] = 1.0
    edges = EdgeDetectorExplainer().attribute(img, target=3)
    assert edges.shape == img.shape
    assert edges[0, 0, 4, 4] == 0  # flat inside
    assert edges[0, 0, 0, 0] == 0  # flat outside
    assert edges[0, 0, 3, 2] > 0  # on the boundary
    torch.testing.assert_close(edges, EdgeDetectorExplainer().attribute(img, target=0))


def test_edge_detector_refuses_non_images():
    with pytest.raises(ValueError) as e:
        EdgeDetectorExplainer().attribute(torch.zeros(2, 5))
    assert str(e.value) == NOT_IMAGES.format(shape=(2, 5))


def test_tiny_image_target_is_deterministic_and_leaves_the_global_rng_alone():
    torch.manual_seed(5)
    before = torch.rand(1)
    torch.manual_seed(5)
    a = tiny_image_target(seed=1)
    after = torch.rand(1)
    b = tiny_image_target(seed=1)
    assert torch.equal(before, after)
    for (ka, va), (kb, vb) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    assert torch.equal(a.eval_data.inputs, b.eval_data.inputs)
    assert a.logits(a.eval_data.inputs[:2]).shape == (2, 3)
