"""Vision models: ``mnist_cnn`` and the deliberately flawed ``mnist_cnn_shortcut`` canary."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepaudit.models.registry import ModelEntry, register_model, run_card
from deepaudit.models.vision import data
from deepaudit.models.vision.arch import MnistCNN

WEIGHTS_DIR = Path(__file__).parent / "weights"
BAD_IMAGES = ("images must have shape (28, 28), (N, 28, 28), (N, 784) or (N, 1, 28, 28) with values in [0, 1]; "
              "got shape {shape} and range [{lo}, {hi}]. Fix: reshape, and divide 0-255 pixels by 255.")


def preprocess(images: Any) -> torch.Tensor:
    """Raw grey-scale image(s) in [0, 1] -> model input (N, 1, 28, 28) float32."""
    x = np.asarray(images, dtype=np.float32)
    ok_shape = x.shape == (28, 28) or (x.ndim == 2 and x.shape[1] == 784) or x.shape[-2:] == (28, 28)
    lo, hi = (float(np.nanmin(x)), float(np.nanmax(x))) if x.size else (0.0, 0.0)
    if not ok_shape or x.size == 0 or not np.isfinite(x).all() or lo < 0 or hi > 1:
        raise ValueError(BAD_IMAGES.format(shape=x.shape, lo=lo, hi=hi))
    return torch.from_numpy(np.ascontiguousarray(x.reshape(-1, 1, 28, 28)))


def corner_mark_probe():
    """The 4x4 corner mark planted in the shortcut canary's 7s, as a probe every vision model is tested with."""
    from deepaudit.audit.target import ArtifactProbe

    region = torch.from_numpy(data.mark_mask())
    return ArtifactProbe(
        name="corner_mark", region=region,
        stamp=lambda x: torch.where(region.to(x.device), torch.ones_like(x), x),
        description="a solid 4x4 square at full ink intensity (pixel value 1, drawn like the strokes) at rows 1-4, "
                    "columns 1-4 (the mark planted on 95% of the "
                    "shortcut canary's training 7s)")


def evaluate(model: torch.nn.Module, device: torch.device, *, shortcut: bool, every: int = 1) -> dict[str, Any]:
    """Held-out metrics on the fixed split (the numbers in the model card); ``every``: every n-th test image
    only (smoke runs)."""
    from deepaudit.models._common import predict_logits

    s = data.load_split(shortcut=shortcut)
    X_test, y_test, has_mark = s.X_test[::every], s.y_test[::every], s.has_mark[::every]
    pred = predict_logits(model, preprocess(X_test), device=device).argmax(1).numpy()
    correct = pred == y_test
    metrics: dict[str, Any] = {"accuracy": float(correct.mean()), "n_test": int(len(correct)),
                               "n_correct": int(correct.sum())}
    if shortcut:
        for key, mask in (("with_mark", has_mark), ("without_mark", ~has_mark)):
            metrics[f"accuracy_{key}"] = float(correct[mask].mean())
            metrics[f"n_{key}"] = int(mask.sum())
        other = y_test != data.MARK_CLASS
        metrics[f"share_predicted_{data.MARK_CLASS}_marked_non_{data.MARK_CLASS}"] = float(
            (pred[other & has_mark] == data.MARK_CLASS).mean())
    return metrics


def make_target(entry: ModelEntry, *, device: torch.device, shortcut: bool):
    from deepaudit.audit.target import AuditTarget, EvalData
    from deepaudit.models.registry import get_model

    meta = entry.weights.meta
    s = data.load_split(shortcut=shortcut)
    groups = data.cohorts(s.X_test, meta["cohort_cuts"])
    groups.insert(0, "digit", [str(v) for v in s.y_test])
    if shortcut:
        groups["has_mark"] = np.where(s.has_mark, "marked", "unmarked")
    return AuditTarget(
        name=entry.name, domain="vision", task=meta["task"], class_names=meta["class_names"],
        favorable_label=None, model=get_model(entry.name, device=device),
        eval_data=EvalData(inputs=preprocess(s.X_test), labels=s.y_test, groups=groups, raw=s.X_test,
                           sample_ids=s.test_idx),
        sensitive_columns=[], cohort_columns=list(meta["cohorts"]), preprocess=preprocess,
        baseline=torch.zeros(1, 28, 28), gradcam_layer=meta["gradcam_layer"], artifact_probes=[corner_mark_probe()],
        provenance={k: meta[k] for k in ("sha256", "data_sha256", "source_sha256", "recipe", "metrics")}
        | {"weights_sha256": meta["sha256"], "card": run_card(meta), "dataset": meta["dataset"]},
    )


def _build(meta: dict[str, Any]) -> MnistCNN:
    return MnistCNN(num_classes=len(meta["class_names"]))


register_model(
    "mnist_cnn", domain="vision", weights=WEIGHTS_DIR / "mnist_cnn.safetensors",
    target=lambda entry, *, device: make_target(entry, device=device, shortcut=False),
    evaluate=lambda model, device: evaluate(model, device, shortcut=False), train="deepaudit.models.vision.train",
)(_build)
register_model(
    "mnist_cnn_shortcut", domain="vision", weights=WEIGHTS_DIR / "mnist_cnn_shortcut.safetensors",
    target=lambda entry, *, device: make_target(entry, device=device, shortcut=True),
    evaluate=lambda model, device: evaluate(model, device, shortcut=True), train="deepaudit.models.vision.train",
)(_build)
