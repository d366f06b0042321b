"""Every output file is written under a temporary name beside its target and renamed into place.

A reader (or a person opening the file) sees the old complete file or the new complete one, never a
truncated one, even if the writer is killed mid-write; ``os.replace`` is atomic within a file system.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path


def write_atomic(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` (str as UTF-8) to ``path`` atomically; the temporary file never outlives a failure."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with open(tmp, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def writable_dir_problem(path: str | os.PathLike) -> str:
    """Create directory ``path`` if needed and prove a file can be written in it: '' when it can, else why.

    Used to fail fast, before minutes of computation, on a read-only or full disk or a path under a file.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        return "it is a file, not a directory"
    probe = path / f".deepaudit-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"0" * 4096)
        probe.unlink()
    except OSError as exc:
        if path.is_dir():
            probe.unlink(missing_ok=True)
        return str(exc.strerror or exc)
    return ""
