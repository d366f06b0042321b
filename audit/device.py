"""Device selection honoured by every code path (``--device auto|cpu|cuda[:N]``)."""
from __future__ import annotations

import torch

INVALID_DEVICE = ("invalid device {spec!r}. Fix: use 'auto' (CUDA when available, else CPU), "
                  "'cpu', 'cuda' or 'cuda:N'.")
CUDA_UNAVAILABLE = ("device {spec!r} was requested but no CUDA device is available "
                    "(torch {version}, torch.cuda.is_available() is False). "
                    "Fix: pass --device cpu, or --device auto to fall back to the CPU.")
CUDA_INDEX = ("device {spec!r} was requested but only {count} CUDA device(s) exist. "
              "Fix: pick an index below {count}.")


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """Turn a device spec into a :class:`torch.device`.

    ``auto`` (or ``None``) picks CUDA when it is available and the CPU otherwise;
    an explicit ``cuda`` fails with a clear message when no GPU exists instead of
    silently running on the CPU.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    if spec is None or spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if not isinstance(spec, str):
        raise TypeError(INVALID_DEVICE.format(spec=spec))
    try:
        dev = torch.device(spec)
    except RuntimeError:
        raise ValueError(INVALID_DEVICE.format(spec=spec)) from None
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise ValueError(INVALID_DEVICE.format(spec=spec))
    if not torch.cuda.is_available():
        raise ValueError(CUDA_UNAVAILABLE.format(spec=spec, version=torch.__version__))
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(CUDA_INDEX.format(spec=spec, count=torch.cuda.device_count()))
    full_float32()
    return dev


def full_float32() -> None:
    """Turn TF32 off for CUDA convolutions and matrix products (process-wide). cuDNN convolutions use TF32 by
    default, whose 10-bit mantissa moved a digit model's probabilities by 5e-4 against the CPU on an H200;
    an audit's numbers must agree with the CPU's within the float32 tolerance (audit/tolerance.py)."""
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
