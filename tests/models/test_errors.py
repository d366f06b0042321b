"""Bad input gets a clear error that names the problem and the fix."""
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from deepaudit.audit import weights as W
from deepaudit.models import get_model, get_weights, registry
from deepaudit.models.finance import preprocess as prep
from deepaudit.models.vision import preprocess as vision_preprocess
from deepaudit.models.vision.arch import MnistCNN


def test_unknown_model_lists_available():
    with pytest.raises(ValueError) as e:
        get_model("resnet9000")
    msg = str(e.value)
    assert "unknown model 'resnet9000'" in msg
    for name in ("mnist_cnn", "mortgage", "sentiment"):
        assert name in msg
    assert "path/to/file.py:factory" in msg


@pytest.fixture
def copied_weights(tmp_path):
    src = get_weights("mnist_cnn")
    dst = tmp_path / src.path.name
    shutil.copy(src.path, dst)
    shutil.copy(src.meta_path, dst.with_suffix(".json"))
    return registry.Weights("mnist_cnn", dst)


def test_truncated_weights_detected_by_checksum(copied_weights):
    data = copied_weights.path.read_bytes()
    copied_weights.path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError) as e:
        copied_weights.state_dict()
    assert "corrupt or truncated" in str(e.value)
    assert "deepaudit train mnist_cnn" in str(e.value)


def test_corrupt_file_without_checksum_is_named(tmp_path):
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ValueError, match="cannot be read"):
        W.read_state_dict(bad)


def test_missing_weights_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        W.read_state_dict(tmp_path / "nope.safetensors")


def test_wrong_shape_names_the_tensor(copied_weights):
    state = copied_weights.state_dict()
    with pytest.raises(ValueError) as e:
        W.load_state_dict_checked(MnistCNN(num_classes=5), state, source="test")
    assert "'classifier.fc2.weight'" in str(e.value) and "(10, 64)" in str(e.value) and "(5, 64)" in str(e.value)


def test_wrong_keys_are_listed():
    with pytest.raises(ValueError, match="missing tensors"):
        W.load_state_dict_checked(MnistCNN(), {"foo": torch.zeros(1)}, source="test")


def test_torch_checkpoint_loaded_weights_only(tmp_path):
    model = MnistCNN()
    path = tmp_path / "m.pt"
    torch.save({"state_dict": model.state_dict()}, path)
    state = W.read_state_dict(path)
    fresh = W.load_state_dict_checked(MnistCNN(), state, source=str(path))
    assert torch.equal(fresh.classifier.fc2.weight, model.classifier.fc2.weight)
    # A pickled arbitrary object is refused by weights_only loading.
    torch.save({"obj": object()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="cannot be read"):
        W.read_state_dict(tmp_path / "evil.pt")


def test_mortgage_preprocess_missing_column_and_non_numeric():
    spec = get_weights("mortgage").meta["preprocessing"]
    with pytest.raises(ValueError, match="missing input column"):
        prep.apply(pd.DataFrame({"loanamt": [100]}), spec)
    row = {f["name"]: 1.0 for f in spec["features"]}
    row["loanamt"] = "lots"
    with pytest.raises(ValueError, match="'loanamt' holds non-numeric"):
        prep.apply(row, spec)
    row["loanamt"] = np.nan  # missing values are imputed, not an error
    assert torch.isfinite(prep.apply(row, spec)).all()


def test_vision_preprocess_rejects_bad_images():
    with pytest.raises(ValueError, match="divide 0-255 pixels by 255"):
        vision_preprocess(np.full((28, 28), 255.0))
    with pytest.raises(ValueError, match="got shape"):
        vision_preprocess(np.zeros((27, 27)))
    assert vision_preprocess(np.zeros((3, 784))).shape == (3, 1, 28, 28)
