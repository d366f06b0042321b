"""Helpers shared by the bundled models: seeding, splits, hashing, weight files.

Everything here is deterministic: the evaluation split of every bundled model is
a pure function of the packaged data and a seed, so the held-out metrics in a
model card can be reproduced anywhere.
"""
from __future__ import annotations

import json
import platform
import random
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from deepaudit.audit.target import predict_logits
from deepaudit.audit.weights import sha256_arrays, sha256_file

__all__ = ["sha256_file", "sha256_arrays", "stratified_split", "set_seed", "save_weights",
           "count_params", "versions", "predict_logits"]


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch, and ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def stratified_split(labels: np.ndarray, *, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return sorted (train_idx, test_idx), stratified by label.

    Uses NumPy's legacy ``RandomState`` whose stream is frozen across NumPy
    releases, so the split never moves under a library upgrade.
    """
    labels = np.asarray(labels)
    rng = np.random.RandomState(seed)
    test: list[np.ndarray] = []
    for value in np.unique(labels):
        idx = np.flatnonzero(labels == value)
        idx = idx[rng.permutation(len(idx))]
        test.append(idx[: int(round(test_fraction * len(idx)))])
    test_idx = np.sort(np.concatenate(test))
    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx)
    return train_idx, test_idx


def count_params(model: torch.nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def save_weights(model: torch.nn.Module, path: str | Path, meta: Mapping[str, Any]) -> dict:
    """Write ``path`` (safetensors) and ``path`` with ``.json`` (meta incl. sha256)."""
    from safetensors.torch import save

    from deepaudit.audit.atomic import write_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    write_atomic(path, save(state))
    meta = dict(meta)
    meta["sha256"] = sha256_file(path)
    meta["file_size"] = path.stat().st_size
    meta["num_params"] = count_params(model)
    meta_path = path.with_suffix(".json")
    write_atomic(meta_path, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta


def versions() -> dict[str, str]:
    import sys
    from importlib.metadata import version

    import numpy
    import pandas

    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        # from the installed metadata: importing scikit-learn to read its version takes seconds
        "scikit-learn": version("scikit-learn"),
        # Bit-identical float32 training also depends on the CPU's kernels and the thread count.
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "torch_threads": str(torch.get_num_threads()),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
