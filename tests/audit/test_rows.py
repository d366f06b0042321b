"""Evaluation inputs streamed from a dataset or a Parquet file (audit/rows.py): the audit equals the one on the
same rows held as a tensor, and whole-data passes read the rows in batches."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from deepaudit.audit.rows import RowSource
from deepaudit.audit.runner import RunConfig, audit_target
from deepaudit.audit.target import AuditTarget, EvalData
from deepaudit.audit.tolerance import tree_differences


class Images(torch.utils.data.Dataset):
    """uint8 images and labels, as an image dataset on disk gives them; counts what is read."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels, self.reads = images, labels, 0

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        self.reads += 1
        return torch.from_numpy(self.images[i]), int(self.labels[i])


def _scale(batch: torch.Tensor) -> torch.Tensor:
    return batch.float() / 255.0


def _same(a, b):
    ra, rb = dict(a.result), dict(b.result)
    for key in ("provenance", "run_id"):
        ra.pop(key), rb.pop(key)
    assert tree_differences(ra, rb) == []
    assert a.predictions()["y_pred"].tolist() == b.predictions()["y_pred"].tolist()


@pytest.fixture(scope="module")
def images():
    from deepaudit.audit.testing.images import tiny_image_target

    ref = tiny_image_target(64, size=8)
    u8 = (ref.eval_data.inputs.numpy() * 255).round().astype(np.uint8)
    return ref, u8


def _image_target(ref, inputs):
    return AuditTarget(name="streamed_images", domain="vision", task="t", class_names=ref.class_names,
                       favorable_label=None, model=ref.model,
                       eval_data=EvalData(inputs=inputs, labels=ref.eval_data.labels, groups=ref.eval_data.groups),
                       baseline=torch.zeros(1, 8, 8), gradcam_layer="conv2").validate()


def test_an_image_dataset_audits_like_the_same_images_in_memory(images):
    ref, u8 = images
    ds = Images(u8, ref.eval_data.labels)
    source = RowSource(ds, transform=_scale, batch_size=16)
    streamed = _image_target(ref, source)
    held = _image_target(ref, torch.from_numpy(u8).float() / 255.0)
    assert streamed.provenance["data_sha256"] == held.provenance["data_sha256"]      # same bytes hashed
    cfg = RunConfig(progress=False, samples=12, methods=["integrated_gradients", "saliency"], quality_samples=4)
    res = audit_target(streamed, cfg)
    _same(audit_target(held, cfg), res)
    # the images stored for display are the explained rows, looked up by their evaluation index
    shown = res.arrays("display")
    assert list(shown["sample_index"]) == list(res.arrays("attr_integrated_gradients")["sample_index"])
    np.testing.assert_array_equal(shown["images"], (torch.from_numpy(u8).float() / 255.0)[shown["sample_index"]])


def test_whole_data_passes_read_in_batches_and_the_sample_row_by_row(images):
    ref, u8 = images
    ds = Images(u8, ref.eval_data.labels)
    source = RowSource(ds, transform=_scale, batch_size=16)
    ds.reads = 0
    target = _image_target(ref, source)
    # validation: one pass for the finite check and the data hash together, 6 rows for the forward checks
    assert 64 <= ds.reads <= 64 + 6 + 2
    ds.reads = 0
    assert target.logits().shape == (64, 3) and ds.reads == 64                  # prediction: one pass
    ds.reads = 0
    assert source.std(per_feature=False) is source.std(per_feature=False)      # one pass, remembered
    assert ds.reads == 64
    with pytest.raises(AttributeError):
        source.reshape(64, -1)                # no whole-tensor operations beyond the documented ones


def test_indexing_returns_tensors_like_a_tensor_would(images):
    ref, u8 = images
    source = RowSource(Images(u8, ref.eval_data.labels), transform=_scale)
    held = torch.from_numpy(u8).float() / 255.0
    assert source.shape == held.shape and source.dim() == 4 and source.is_floating_point()
    for key in (3, -1, slice(5, 9), np.array([7, 2, 2]), torch.tensor([0, 63]), np.arange(64) % 5 == 0):
        assert torch.equal(source[key], held[key])
    with pytest.raises(IndexError):
        source[64]
    assert torch.allclose(source.std(per_feature=False), held.std(), rtol=1e-5)


def test_a_parquet_source_audits_like_the_same_rows_in_memory(tmp_path):
    from deepaudit.audit.testing.scale import N_FEATURES, mlp, portfolio

    x, y, groups = portfolio(2_500, seed=4)
    names = [f"x{i:02d}" for i in range(N_FEATURES)]
    path = tmp_path / "rows.parquet"
    pd.DataFrame(x, columns=names).assign(note="ignored").to_parquet(path, row_group_size=700)
    model = mlp(4, steps=40)

    def target(inputs):
        return AuditTarget(name="portfolio", domain="finance", task="t", class_names=["deny", "approve"],
                           favorable_label="approve", model=model,
                           eval_data=EvalData(inputs=inputs, labels=y, groups=groups),
                           sensitive_columns=["race", "sex"], feature_names=names,
                           baseline=torch.zeros(N_FEATURES)).validate()

    source = RowSource.from_parquet(path, batch_size=1_000)
    assert source.shape == (2_500, N_FEATURES) and source.dataset.columns == names     # "note" is not numeric
    cfg = RunConfig(progress=False, methods=["integrated_gradients", "deeplift"])
    held, streamed = target(torch.from_numpy(x)), target(source)
    assert held.provenance["data_sha256"] == streamed.provenance["data_sha256"]
    _same(audit_target(held, cfg), audit_target(streamed, cfg))


def test_bad_sources_are_named_with_the_fix(tmp_path, images):
    ref, u8 = images
    with pytest.raises(TypeError, match="map-style dataset"):
        RowSource(object())
    with pytest.raises(ValueError, match="no rows"):
        RowSource([])
    bad = u8.astype(np.float32)
    bad[37, 0, 2, 2] = np.nan
    with pytest.raises(ValueError, match="non-finite .* first in sample 37"):
        _image_target(ref, RowSource(Images(bad, ref.eval_data.labels), transform=lambda b: b.float()))
    with pytest.raises(TypeError, match=r"dataset\[0\] is a str"):
        RowSource(["a", "b"])
    pd.DataFrame({"s": ["a", "b"]}).to_parquet(tmp_path / "t.parquet")
    with pytest.raises(ValueError, match="numeric"):
        RowSource.from_parquet(tmp_path / "t.parquet")
