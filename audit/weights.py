"""Loading weights safely: safetensors, or torch checkpoints with ``weights_only=True``.

Used for the bundled models and for users' own models, so both get the same
checks and the same messages: missing file, corrupt or truncated file, sha256
mismatch, tensors whose names or shapes do not fit the architecture.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from deepaudit.audit.integrity import sha256_file  # noqa: F401  (re-exported: one file-hashing function)

WEIGHTS_MISSING = "weights file {path} does not exist. Fix: {fix}"
WEIGHTS_CHECKSUM = ("weights file {path} is corrupt or truncated: its sha256 is {actual} but {expected} "
                    "was recorded when it was written. Fix: {fix}")
WEIGHTS_UNREADABLE = ("weights file {path} cannot be read ({error}). It is corrupt, truncated or not a {kind} file. "
                      "Fix: {fix}")
WEIGHTS_FORMAT = ("weights file {path} has an unsupported suffix {suffix!r}. "
                  "Fix: save weights as .safetensors (preferred) or a torch state_dict (.pt/.pth).")
WEIGHTS_SHAPE = ("weights {source} do not fit the model: tensor {key!r} has shape {got} in the file "
                 "but the model expects {expected}. Fix: {fix}")
WEIGHTS_KEYS = ("weights {source} do not fit the model: missing tensors {missing}, unexpected tensors "
                "{unexpected}. Fix: {fix}")
DEFAULT_FIX = "re-save the weights from the same architecture, or point to the right file."


def sha256_state_dict(state: Mapping[str, torch.Tensor]) -> str:
    """Order-independent hash of a state dict's names, dtypes, shapes and values."""
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        # flattened first: a 0-dim tensor (BatchNorm's num_batches_tracked, a temperature) cannot be viewed as bytes
        # as it is; for every other tensor the bytes (so the hash) are the same either way
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def sha256_arrays(*arrays: Any, into: Any = None) -> str:
    """Hash arrays (or lists of strings) by dtype, shape and bytes; ``into``: a sha256 object already fed the
    arrays before these (a RowSource hashed while it was validated)."""
    h = hashlib.sha256() if into is None else into
    for a in arrays:
        if hasattr(a, "sha256_update"):   # a RowSource (audit/rows.py): the same bytes, read batch by batch
            a.sha256_update(h)
            continue
        if isinstance(a, (list, tuple)) and (not a or isinstance(a[0], str)):
            for s in a:
                h.update(s.encode("utf-8"))
                h.update(b"\x00")
            continue
        arr = np.ascontiguousarray(np.asarray(a))
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def read_state_dict(path: str | Path, *, expected_sha256: str | None = None,
                    fix: str = DEFAULT_FIX) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a torch checkpoint (``weights_only=True``).

    With ``expected_sha256`` the file's hash is checked first, so a truncated or
    tampered file is reported as such rather than as a confusing parse error.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(WEIGHTS_MISSING.format(path=path, fix=fix))
    if expected_sha256 is not None:
        actual = sha256_file(path)
        if actual != expected_sha256:
            raise ValueError(WEIGHTS_CHECKSUM.format(path=path, actual=actual, expected=expected_sha256, fix=fix))
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # safetensors raises its own error types
            raise ValueError(WEIGHTS_UNREADABLE.format(path=path, error=exc, kind="safetensors", fix=fix)) from exc
    if suffix in {".pt", ".pth", ".bin", ".ckpt"}:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(WEIGHTS_UNREADABLE.format(path=path, error=exc, kind="torch state_dict", fix=fix)) from exc
        if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
            obj = obj["state_dict"]
        if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
            raise ValueError(WEIGHTS_UNREADABLE.format(path=path, error="not a mapping of tensors",
                                                       kind="torch state_dict", fix=fix))
        return dict(obj)
    raise ValueError(WEIGHTS_FORMAT.format(path=path, suffix=suffix))


def load_state_dict_checked(model: nn.Module, state: Mapping[str, torch.Tensor], *, source: str,
                            fix: str = DEFAULT_FIX) -> nn.Module:
    """``model.load_state_dict(state, strict=True)`` with messages naming the bad tensor."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(WEIGHTS_KEYS.format(source=source, missing=missing[:5], unexpected=unexpected[:5], fix=fix))
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise ValueError(WEIGHTS_SHAPE.format(source=source, key=key, got=tuple(state[key].shape),
                                                  expected=tuple(tensor.shape), fix=fix))
    model.load_state_dict(state, strict=True)
    return model
