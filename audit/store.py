"""The run store: one directory per run, written atomically, and a SQLite index.

Layout under the store root::

    index.sqlite                 one row per completed run
    runs/<run_id>/result.json    the results schema (audit.schema)
    runs/<run_id>/predictions.parquet
    runs/<run_id>/arrays/<name>.npz
    .tmp/<run_id>.<pid>/         a run being written (never read)

A run is written into ``.tmp`` and renamed into ``runs/`` in one step, then
indexed, so a run killed part-way leaves nothing visible; its temporary
directory is removed the next time the store is opened by a writer. An index
that lost rows (or a deleted index file) is rebuilt from the run directories.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from audit.schema import validate_result

UNKNOWN_RUN = "no run {run_id!r} in store {root}. Fix: pick one from `deepaudit list --store {root}`."
UNKNOWN_ARRAY = "run {run_id!r} has no array file {name!r} (has: {have}). Fix: use one of those names."
BAD_NAME = "array name {name!r} must be letters, digits, '_', '-' or '.'. Fix: rename it."
NOT_A_STORE = ("{root} exists and is not a deepaudit store (it is a file). Fix: pass a directory to --store.")

_COLUMNS = ("run_id", "model", "domain", "dataset", "created_at", "status", "n_checks", "n_failed", "seed",
            "device", "schema_version", "duration_s")


@dataclass(frozen=True)
class Run:
    """A completed run: its id, directory and parsed ``result.json``."""

    run_id: str
    path: Path
    result: dict[str, Any]

    def predictions(self) -> pd.DataFrame:
        """The per-sample predictions (a fresh copy each call; the file is read once per Run object)."""
        cached = self.__dict__.get("_predictions")
        if cached is None:
            cached = pd.read_parquet(self.path / "predictions.parquet")
            object.__setattr__(self, "_predictions", cached)  # a run never changes once written
        return cached.copy()

    def array_names(self) -> list[str]:
        return sorted(p.stem for p in (self.path / "arrays").glob("*.npz"))

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        p = self.path / "arrays" / f"{name}.npz"
        if not p.is_file():
            raise ValueError(UNKNOWN_ARRAY.format(run_id=self.run_id, name=name, have=self.array_names()))
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}


def to_jsonable(obj: Any) -> Any:
    """Plain JSON types: numpy/torch values to Python, NaN/inf to None, DataFrames to lists of records."""
    if isinstance(obj, pd.DataFrame):
        return [to_jsonable(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray) or (hasattr(obj, "detach") and hasattr(obj, "tolist")):   # numpy, torch
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if obj is pd.NA or obj is pd.NaT:
        return None
    return obj


def new_run_id(model: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in model)
    return f"{stamp}-{safe}-{uuid.uuid4().hex[:8]}"


def _fsync(path: Path, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunStore:
    """A directory of runs plus its SQLite index.

    Parameters
    ----------
    root : path
        Created on first write.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def index_path(self) -> Path:
        return self.root / "index.sqlite"

    # -- writing ----------------------------------------------------------
    def write_run(self, result: dict[str, Any], *, predictions: pd.DataFrame,
                  arrays: Mapping[str, Mapping[str, np.ndarray]] | None = None) -> Run:
        """Validate ``result``, write it with its predictions and arrays, rename into place, index it."""
        if self.root.exists() and not self.root.is_dir():
            raise ValueError(NOT_A_STORE.format(root=self.root))
        result = to_jsonable(result)
        validate_result(result)
        run_id = result["run_id"]
        self.clean_stale()
        tmp = self.root / ".tmp" / f"{run_id}.{os.getpid()}"
        tmp.mkdir(parents=True)
        try:
            (tmp / "arrays").mkdir()
            for name, arrs in (arrays or {}).items():
                if not name.replace("_", "").replace("-", "").replace(".", "").isalnum():
                    raise ValueError(BAD_NAME.format(name=name))
                np.savez_compressed(tmp / "arrays" / f"{name}.npz", **{k: np.asarray(v) for k, v in arrs.items()})
            predictions.to_parquet(tmp / "predictions.parquet", index=False)
            (tmp / "result.json").write_text(json.dumps(result, indent=1, sort_keys=False, allow_nan=False))
            # Every file and directory reaches the disk before the rename makes the run visible,
            # so a power loss cannot leave a visible run with truncated arrays.
            for p in [*(tmp / "arrays").iterdir(), tmp / "predictions.parquet", tmp / "result.json"]:
                _fsync(p)
            _fsync(tmp / "arrays", directory=True)
            _fsync(tmp, directory=True)
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            final = self.runs_dir / run_id
            os.rename(tmp, final)
            _fsync(self.runs_dir, directory=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._index(result)
        return Run(run_id, final, result)

    def clean_stale(self) -> list[Path]:
        """Remove temporary directories of runs whose process is gone; returns what was removed."""
        removed = []
        for d in sorted((self.root / ".tmp").glob("*.*")) if (self.root / ".tmp").is_dir() else []:
            pid = d.name.rsplit(".", 1)[-1]
            if pid.isdigit() and not _pid_alive(int(pid)):
                shutil.rmtree(d, ignore_errors=True)
                removed.append(d)
        return removed

    # -- index ------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        self.root.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.index_path, timeout=30)
        con.execute(
            "CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, model TEXT NOT NULL, domain TEXT, "
            "dataset TEXT, created_at TEXT NOT NULL, status TEXT NOT NULL, n_checks INTEGER, n_failed INTEGER, "
            "seed INTEGER, device TEXT, schema_version TEXT, duration_s REAL)")
        con.execute("CREATE INDEX IF NOT EXISTS runs_model_date ON runs (model, created_at)")
        return con

    @staticmethod
    def _row(result: dict[str, Any]) -> tuple:
        checks = result["checks"]
        failed = sum(not c["passed"] for c in checks)
        prov = result["provenance"]
        return (result["run_id"], result["model"]["name"], result["model"]["domain"],
                result["dataset"].get("name", ""), prov["created_at"], "fail" if failed else "pass",
                len(checks), failed, prov["seed"], prov["device"], result["schema_version"],
                prov.get("timings", {}).get("total_s"))

    def _index(self, result: dict[str, Any]) -> None:
        with self._connect() as con:
            con.execute(f"INSERT OR REPLACE INTO runs VALUES ({','.join('?' * len(_COLUMNS))})", self._row(result))
        con.close()

    def reindex(self) -> int:
        """Add index rows for run directories the index lacks; returns how many were added."""
        if not self.runs_dir.is_dir():
            return 0
        with self._connect() as con:
            known = {r[0] for r in con.execute("SELECT run_id FROM runs")}
            added = 0
            for d in sorted(self.runs_dir.iterdir()):
                if d.name not in known and (d / "result.json").is_file():
                    # OR IGNORE: a writer may index the same run between our read and this insert.
                    con.execute(f"INSERT OR IGNORE INTO runs VALUES ({','.join('?' * len(_COLUMNS))})",
                                self._row(json.loads((d / "result.json").read_text())))
                    added += 1
        con.close()
        return added

    def list_runs(self, *, model: str | None = None, status: str | None = None) -> pd.DataFrame:
        """Completed runs, newest first, optionally for one model or status ('pass' / 'fail')."""
        if not self.root.is_dir():
            return pd.DataFrame(columns=list(_COLUMNS) + ["path"])
        self.reindex()
        sql, args = "SELECT * FROM runs WHERE 1=1", []
        if model:
            sql, args = sql + " AND model = ?", args + [model]
        if status:
            sql, args = sql + " AND status = ?", args + [status]
        with self._connect() as con:
            rows = con.execute(sql + " ORDER BY created_at DESC, run_id DESC", args).fetchall()
        con.close()
        df = pd.DataFrame(rows, columns=list(_COLUMNS))
        # A row whose directory was deleted by hand is not a run any more.
        df["path"] = [str(self.runs_dir / r) for r in df["run_id"]]
        return df[[Path(p).is_dir() for p in df["path"]]].reset_index(drop=True)

    def load(self, run_id: str) -> Run:
        """A completed run by id (or ``latest`` / ``latest:<model>``)."""
        if run_id == "latest" or run_id.startswith("latest:"):
            runs = self.list_runs(model=run_id.partition(":")[2] or None)
            if runs.empty:
                raise ValueError(UNKNOWN_RUN.format(run_id=run_id, root=self.root))
            run_id = runs["run_id"].iloc[0]
        if not run_id or any(c in run_id for c in "/\\\0") or run_id.startswith("."):  # an id, never a path
            raise ValueError(UNKNOWN_RUN.format(run_id=run_id, root=self.root))
        path = self.runs_dir / run_id
        if not (path / "result.json").is_file():
            raise ValueError(UNKNOWN_RUN.format(run_id=run_id, root=self.root))
        return Run(run_id, path, json.loads((path / "result.json").read_text()))
