"""The run store: one directory per run, written atomically, and a SQLite index.

Layout under the store root::

    index.sqlite                 one row per completed run
    runs/<run_id>/result.json    the results schema (deepaudit.audit.schema)
    runs/<run_id>/predictions.parquet
    runs/<run_id>/arrays/<name>.npz
    .tmp/<run_id>.<host>.<pid>/  a run being written (never read)

A run is written into ``.tmp`` and renamed into ``runs/`` in one step, then
indexed, so a run killed part-way leaves nothing visible. Its temporary
directory is removed by a later writer: at once when the writer is on the same
host and PID namespace (``<host>`` is a hash of hostname, boot id and PID
namespace) and its process is gone; after :data:`STALE_AFTER_S` otherwise,
because a PID from another host or container says nothing about liveness here.

Reading is robust to damage: a run directory without a readable, valid
``result.json`` is skipped with a warning naming its path; an index that lost
rows, was deleted or is corrupt is rebuilt from the run directories; a
read-only store is listed from an index built in memory. A locked index is
waited for (with a message) up to :data:`LOCK_WAIT_S`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import socket
import sqlite3
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from deepaudit.audit import integrity
from deepaudit.audit.errors import IndexLockedError
from deepaudit.audit.integrity import MANIFEST, write_manifest
from deepaudit.audit.migrate import migrate
from deepaudit.audit.result import AuditResult
from deepaudit.audit.schema import validate_result

log = logging.getLogger(__name__)

UNKNOWN_RUN = "no run {run_id!r} in store {root}. Fix: pick one from `deepaudit list --store {root}`."
BAD_NAME = "array name {name!r} must be letters, digits, '_', '-' or '.'. Fix: rename it."
NOT_A_STORE = ("{root} exists and is not a deepaudit store (it is a file). Fix: pass a directory to --store.")
DAMAGED_RUN = ("skipping damaged run {path}: {error}. Fix: restore it from a backup, or delete that directory "
               "(other runs are unaffected).")
INDEX_UNWRITABLE = ("the run store index {path} cannot be written ({error}); listing from an index built in "
                    "memory. Fix: nothing needed to read; to write runs, make {root} writable.")
INDEX_CORRUPT = ("the run store index {path} is damaged ({error}); it was moved to {moved} and rebuilt from "
                 "the run directories.")
INDEX_LOCKED = ("the run store index {path} is locked by another process (a deepaudit run writing, or an open "
                "sqlite shell); waited {waited:.0f} s. Fix: wait for that process to finish or close it, then "
                "retry.")
INDEX_NOT_UPDATED = ("run {run_id} is stored in {path}, but the index could not be updated ({error}); it is "
                     "added the next time the store is listed.")
NOT_WRITABLE = ("cannot write to the run store {root}: {error}. Fix: pass a writable directory to --store (check "
                "permissions and free disk space).")

#: A temporary run directory of another host or PID namespace is removed only when older than this.
STALE_AFTER_S = 24 * 3600.0
#: How long a reader or writer waits for a locked index before giving up with a message.
LOCK_WAIT_S = float(os.environ.get("DEEPAUDIT_LOCK_WAIT_S", "60"))

_COLUMNS = ("run_id", "model", "domain", "dataset", "created_at", "status", "n_checks", "n_failed", "seed",
            "device", "schema_version", "duration_s")


#: A stored run is an :class:`~deepaudit.audit.result.AuditResult` whose ``path`` is its directory.
Run = AuditResult


def to_jsonable(obj: Any) -> Any:
    """Plain JSON types: numpy/torch values to Python, NaN/inf to None, DataFrames to lists of records."""
    kind = type(obj)
    if kind is str or kind is int or kind is bool or obj is None:   # most leaves: no ABC checks
        return obj
    if kind is float:
        return obj if math.isfinite(obj) else None
    if kind is dict:
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if kind is list:
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, pd.DataFrame):
        return _records(obj)
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


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """``[to_jsonable(r) for r in df.to_dict(orient="records")]``, built a column at a time.

    The same values: ``to_dict`` iterates each column, which for a numpy column of numbers or booleans
    gives the Python scalars that the column's ``tolist()`` gives at once, and for a column of objects or
    strings the objects or strings (the dtype's NA value where missing) that its ``to_numpy()`` holds;
    any other column (categories, dates, nullable integers) is iterated here as ``to_dict`` iterates it.
    Saves pandas' per-row and per-string work (a run converts about 60 tables; 0.2 s of writing it).
    """
    keys = [str(c) for c in df.columns]
    if not keys:
        return [{} for _ in range(len(df))]
    columns = []
    for _, col in df.items():
        dtype = col.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
            values = col.to_numpy().tolist()
            if dtype.kind == "f":
                values = [v if math.isfinite(v) else None for v in values]
        elif (isinstance(dtype, np.dtype) and dtype.kind == "O") or isinstance(dtype, pd.StringDtype):
            values = [to_jsonable(v) for v in col.to_numpy().tolist()]
        else:
            values = [to_jsonable(v) for v in col]
        columns.append(values)
    return [dict(zip(keys, row)) for row in zip(*columns)]


def new_run_id(model: str, started: datetime | None = None) -> str:
    """``<UTC start time>-<model>-<random>``: stamped with the time the run started (``started``, default now),
    the same clock as the run's ``provenance.created_at``, so an id and its listed time never disagree."""
    stamp = (started or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in model)
    return f"{stamp}-{safe}-{uuid.uuid4().hex[:8]}"


def _fsync(path: Path, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def host_id() -> str:
    """Who may judge a PID: same hostname, same boot and same PID namespace (8 hex digits)."""
    parts = [socket.gethostname()]
    for path in ("/proc/sys/kernel/random/boot_id",):
        try:
            parts.append(Path(path).read_text().strip())
        except OSError:
            parts.append("")
    try:
        parts.append(os.readlink("/proc/self/ns/pid"))
    except OSError:
        parts.append("")
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:8]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _plain_id(run_id: Any) -> bool:
    """Whether ``run_id`` can only name a directory directly under ``runs/`` (no separator, no '..', not hidden)."""
    return isinstance(run_id, str) and bool(run_id) and not any(c in run_id for c in "/\\\0") \
        and not run_id.startswith(".")


def read_result(path: Path) -> dict[str, Any]:
    """Parse and validate ``path/result.json``; ValueError naming the problem when it is missing or damaged."""
    f = path / "result.json"
    try:
        result = json.loads(f.read_text())
    except FileNotFoundError:
        raise ValueError("no result.json (an incomplete or hand-made directory)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"result.json is unreadable ({type(exc).__name__}: {exc})") from None
    except RecursionError:
        raise ValueError("result.json is unreadable (nested deeper than Python's recursion limit; no run "
                         "deepaudit writes is)") from None
    if not isinstance(result, dict):
        raise ValueError("result.json is not a JSON object")
    try:
        result = migrate(result, predictions=lambda: pd.read_parquet(path / "predictions.parquet"))
        validate_result(result)
    except ValueError as exc:
        raise ValueError(f"result.json is not a valid run ({str(exc)[:300]})") from None
    except RecursionError:
        raise ValueError("result.json is not a valid run (a value is nested deeper than Python's recursion "
                         "limit; no run deepaudit writes is)") from None
    if result.get("run_id") != path.name:
        raise ValueError(f"result.json names run {str(result.get('run_id'))[:80]!r}, not its directory's name")
    return result


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
        tmp = self.root / ".tmp" / f"{run_id}.{host_id()}.{os.getpid()}"
        tmp.mkdir(parents=True)
        try:
            (tmp / "arrays").mkdir()
            for name, arrs in (arrays or {}).items():
                if not name.replace("_", "").replace("-", "").replace(".", "").isalnum():
                    raise ValueError(BAD_NAME.format(name=name))
                np.savez_compressed(tmp / "arrays" / f"{name}.npz", **{k: np.asarray(v) for k, v in arrs.items()})
            predictions.to_parquet(tmp / "predictions.parquet", index=False)
            # Not indented: the standard library indents in pure Python (0.19 s for a tabular run's 2 MB), its
            # C encoder writes the same document in 0.05 s. Readers parse it; `python -m json.tool` shows it.
            (tmp / "result.json").write_text(json.dumps(result, sort_keys=False, allow_nan=False))
            # The sha256 of every file, then the manifest's own hash into the store's hash chain (on indexing).
            sealed = write_manifest(tmp)
            # Every file and directory reaches the disk before the rename makes the run visible,
            # so a power loss cannot leave a visible run with truncated arrays.
            for p in [*(tmp / "arrays").iterdir(), tmp / "predictions.parquet", tmp / "result.json", tmp / MANIFEST]:
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
        try:
            self._index(result, manifest_hash=sealed)
        except (sqlite3.Error, OSError, IndexLockedError) as exc:
            # The run is complete and visible; the index is a cache rebuilt from the directories.
            log.warning(INDEX_NOT_UPDATED.format(run_id=run_id, path=final, error=exc))
        return AuditResult.from_dict(result, path=final, validate=False)

    def check_writable(self) -> None:
        """Fail fast (before a long audit) when runs cannot be written here: ValueError naming the fix."""
        if self.root.exists() and not self.root.is_dir():
            raise ValueError(NOT_A_STORE.format(root=self.root))
        from deepaudit.audit.atomic import writable_dir_problem

        problem = writable_dir_problem(self.root / ".tmp")
        if problem:
            raise ValueError(NOT_WRITABLE.format(root=self.root, error=problem))

    def clean_stale(self, *, now: float | None = None) -> list[Path]:
        """Remove temporary directories of writers that are gone; returns what was removed.

        Same host and PID namespace: removed when the PID is not alive. Any other (another host, another
        container, an older name without a host): removed only when untouched for :data:`STALE_AFTER_S`.
        """
        tmp_root = self.root / ".tmp"
        if not tmp_root.is_dir():
            return []
        me, now = host_id(), time.time() if now is None else now
        removed = []
        for d in sorted(p for p in tmp_root.iterdir() if p.is_dir()):
            parts = d.name.rsplit(".", 2)
            pid = parts[-1]
            ours = len(parts) == 3 and parts[1] == me and pid.isdigit()
            try:
                age = now - d.stat().st_mtime
            except OSError:
                continue
            if (ours and not _pid_alive(int(pid))) or (not ours and age > STALE_AFTER_S):
                shutil.rmtree(d, ignore_errors=True)
                removed.append(d)
        return removed

    # -- index ------------------------------------------------------------
    @staticmethod
    def _schema(con: sqlite3.Connection) -> sqlite3.Connection:
        con.execute(
            "CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, model TEXT NOT NULL, domain TEXT, "
            "dataset TEXT, created_at TEXT NOT NULL, status TEXT NOT NULL, n_checks INTEGER, n_failed INTEGER, "
            "seed INTEGER, device TEXT, schema_version TEXT, duration_s REAL)")
        con.execute("CREATE INDEX IF NOT EXISTS runs_model_date ON runs (model, created_at)")
        return con

    def _connect(self) -> sqlite3.Connection:
        """The index, waiting (with a message) while another process holds its lock."""
        self.root.mkdir(parents=True, exist_ok=True)
        start, told = time.monotonic(), False
        while True:
            con = sqlite3.connect(self.index_path, timeout=2)
            try:
                return self._schema(con)
            except sqlite3.OperationalError as exc:
                con.close()
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                waited = time.monotonic() - start
                if waited >= LOCK_WAIT_S:
                    raise IndexLockedError(INDEX_LOCKED.format(path=self.index_path, waited=waited)) from None
                if not told:
                    log.warning("the run store index %s is locked by another process; waiting up to %.0f s",
                                self.index_path, LOCK_WAIT_S)
                    told = True
                time.sleep(0.2)
            except sqlite3.DatabaseError:
                con.close()
                raise

    @staticmethod
    def _row(result: dict[str, Any]) -> tuple:
        checks = result["checks"]
        failed = sum(not c["passed"] for c in checks)
        prov = result["provenance"]
        return (result["run_id"], result["model"]["name"], result["model"]["domain"],
                result["dataset"].get("name", ""), prov["created_at"], "fail" if failed else "pass",
                len(checks), failed, prov["seed"], prov["device"], result["schema_version"],
                prov.get("timings", {}).get("total_s"))

    def _index(self, result: dict[str, Any], *, manifest_hash: str | None = None) -> None:
        with self._connect() as con:   # one transaction: the index row and the chain entry land together
            con.execute(f"INSERT OR REPLACE INTO runs VALUES ({','.join('?' * len(_COLUMNS))})", self._row(result))
            if manifest_hash is not None:
                integrity.append(con, "run", result["run_id"], manifest_hash)
        con.close()

    # -- integrity (audit/integrity.py) -----------------------------------------------------------
    def chain(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """The store's hash-chain entries (runs and sign-offs), oldest first; of one run when given."""
        if not self.index_path.is_file():
            return []
        # Read-only: listing or verifying the chain never writes (a read-only store verifies too).
        con = sqlite3.connect(f"file:{self.index_path}?mode=ro", uri=True, timeout=LOCK_WAIT_S)
        try:
            return integrity.entries_readonly(con, run_id)
        finally:
            con.close()

    def signoffs(self, run_id: str) -> list[dict[str, Any]]:
        """The reviewer sign-offs recorded against a run, oldest first (each with its chain position)."""
        return [{**e["payload"], "recorded_at": e["recorded_at"], "seq": e["seq"]}
                for e in self.chain(run_id) if e["kind"] == "signoff" and isinstance(e["payload"], dict)]

    def signoff(self, run_id: str, *, reviewer: str, decision: str, conditions: str = "", comment: str = "",
                via: str = "cli") -> dict[str, Any]:
        """Record a reviewer's decision against a run (append-only, in the hash chain); returns the entry."""
        run = self.load(run_id)
        record = integrity.signoff_record(run.run_id, integrity.manifest_hash(Path(run.path)), reviewer=reviewer,
                                          decision=decision, conditions=conditions, comment=comment, via=via)
        with self._connect() as con:
            entry = integrity.append(con, "signoff", run.run_id, integrity.sha256_json(record), record)
        con.close()
        return entry

    def seal(self, run_ids: list[str] | None = None, *, adopt: bool = False) -> list[dict[str, Any]]:
        """Give runs written before manifests existed a manifest and a chain entry of kind ``seal`` (their
        hashes as they are now, recorded as sealed later). ``run_ids`` None: every such run.

        A run that has a manifest but no chain entry was not written by this store (copied in, or planted):
        it is refused unless ``adopt``; a run already in the chain is left alone.
        """
        chained = {e["run_id"] for e in self.chain() if e["kind"] in ("run", "seal")}
        dirs = {d.name: d for d in self._run_dirs()}
        todo = run_ids if run_ids is not None else [r for r in sorted(dirs) if r not in chained
                                                     and not (dirs[r] / MANIFEST).exists()]
        out = []
        for rid in todo:
            d = dirs.get(rid)
            if d is None:
                raise ValueError(UNKNOWN_RUN.format(run_id=rid, root=self.root))
            if rid in chained:
                continue
            if (d / MANIFEST).exists() and not adopt:
                raise ValueError(f"run {rid} has a manifest but no chain entry: it was not written by this store "
                                 "(copied in, or planted). Fix: check where it came from; then seal it with --adopt.")
            if self._readable(d) is None:
                raise ValueError(f"run {rid} is damaged (its result.json does not read); it is not sealed. "
                                 "Fix: restore it from a backup first.")
            sealed = write_manifest(d)
            with self._connect() as con:
                out.append(integrity.append(con, "seal", rid, sealed,
                                            {"note": "sealed after it was written: the hashes are of the run as "
                                                     "it was when sealed", "adopted": bool(adopt)}))
            con.close()
        return out

    def verify(self, run_ids: list[str] | None = None, *, public_key: str | os.PathLike | None = None
               ) -> integrity.Verification:
        """Recompute every run's file hashes, its manifest against the chain, the chain's links and signatures.

        ``run_ids``: those runs only (the chain is always checked whole); None: every run on disk or in the
        chain, so a deleted run is found too.
        """
        v = integrity.Verification()
        chain = self.chain()
        v.chain_length = len(chain)
        v.findings += integrity.verify_chain(chain)
        v.sealed = {e["run_id"]: e["recorded_at"] for e in chain if e["kind"] == "seal"}
        chained = {e["run_id"]: e for e in chain if e["kind"] in ("run", "seal")}
        dirs = {d.name: d for d in self._run_dirs()}
        for rid in (run_ids if run_ids is not None else sorted(set(dirs) | set(chained))):
            d = dirs.get(rid)
            if d is None:
                if rid in chained:
                    v.findings.append(integrity.Finding(rid, "run deleted", f"recorded in the chain (entry "
                                                                            f"{chained[rid]['seq']}) but its "
                                                                            "directory is gone"))
                    v.checked.append(rid)
                    continue
                raise ValueError(UNKNOWN_RUN.format(run_id=rid, root=self.root))
            v.checked.append(rid)
            v.findings += integrity.verify_run_files(d)
            sealed = integrity.manifest_hash(d)
            if rid not in chained:
                v.findings.append(integrity.Finding(rid, "not in the chain", "the run is on disk but the store's "
                                                    "hash chain has no entry for it (added by hand, or its index "
                                                    "update failed when it was written)"))
            elif sealed is not None and sealed != chained[rid]["entry_hash"]:
                v.findings.append(integrity.Finding(rid, "manifest replaced", "its manifest hashes to "
                                                    f"{sealed[:16]}..., the chain recorded "
                                                    f"{chained[rid]['entry_hash'][:16]}..."))
            sig = integrity.signature_status(d, Path(public_key) if public_key else None)
            v.signatures[rid] = sig
            if sig["status"] == "invalid":
                v.findings.append(integrity.Finding(rid, "signature invalid", sig["reason"]))
        return v

    def _run_dirs(self) -> list[Path]:
        if not self.runs_dir.is_dir():
            return []
        return sorted(d for d in self.runs_dir.iterdir() if d.is_dir() and not d.name.startswith("."))

    def _readable(self, d: Path) -> dict[str, Any] | None:
        """The run's result, or None (with a warning naming the path) when it is damaged."""
        try:
            return read_result(d)
        except ValueError as exc:
            log.warning(DAMAGED_RUN.format(path=d, error=exc))
            return None

    def reindex(self, con: sqlite3.Connection | None = None) -> int:
        """Add index rows for readable run directories the index lacks; returns how many were added."""
        own = con is None
        con = self._connect() if own else con
        try:
            with con:
                known = {r[0] for r in con.execute("SELECT run_id FROM runs")}
                added = 0
                for d in self._run_dirs():
                    if d.name in known:
                        continue
                    result = self._readable(d)
                    if result is None:
                        continue
                    try:
                        row = self._row(result)
                    except (KeyError, TypeError, AttributeError) as exc:
                        log.warning(DAMAGED_RUN.format(path=d, error=f"result.json lacks {exc}"))
                        continue
                    # OR IGNORE: a writer may index the same run between our read and this insert.
                    con.execute(f"INSERT OR IGNORE INTO runs VALUES ({','.join('?' * len(_COLUMNS))})", row)
                    added += 1
        finally:
            if own:
                con.close()
        return added

    def _open_index(self) -> sqlite3.Connection:
        """The index brought up to date; rebuilt when corrupt; in memory when it cannot be written."""
        try:
            con = self._connect()
        except sqlite3.DatabaseError as exc:
            if not isinstance(exc, sqlite3.OperationalError) or "not a database" in str(exc) \
                    or "malformed" in str(exc):
                moved = self._move_corrupt_index(exc)
                if moved is not None:
                    return self._open_index()
            return self._memory_index(exc)
        except OSError as exc:
            return self._memory_index(exc)
        try:
            self.reindex(con)
        except sqlite3.DatabaseError as exc:
            con.close()
            if "readonly" in str(exc) or "read-only" in str(exc) or "unable to open" in str(exc):
                return self._memory_index(exc)
            if self._move_corrupt_index(exc) is not None:
                return self._open_index()
            return self._memory_index(exc)
        return con

    def _move_corrupt_index(self, exc: Exception) -> Path | None:
        moved = self.index_path.with_name(f"index.sqlite.corrupt-{int(time.time())}")
        try:
            os.replace(self.index_path, moved)
        except OSError:
            return None
        log.warning(INDEX_CORRUPT.format(path=self.index_path, error=exc, moved=moved))
        return moved

    def _memory_index(self, exc: Exception) -> sqlite3.Connection:
        log.warning(INDEX_UNWRITABLE.format(path=self.index_path, error=exc, root=self.root))
        con = self._schema(sqlite3.connect(":memory:"))
        self.reindex(con)
        return con

    def list_runs(self, *, model: str | None = None, status: str | None = None) -> pd.DataFrame:
        """Completed runs, newest first, optionally for one model or status ('pass' / 'fail').

        Damaged run directories are skipped with a warning; a read-only store is listed from memory.
        """
        if not self.root.is_dir():
            return pd.DataFrame(columns=list(_COLUMNS) + ["path"])
        sql, args = "SELECT * FROM runs WHERE 1=1", []
        if model:
            sql, args = sql + " AND model = ?", args + [model]
        if status:
            sql, args = sql + " AND status = ?", args + [status]
        con = self._open_index()
        try:
            rows = con.execute(sql + " ORDER BY created_at DESC, run_id DESC", args).fetchall()
        finally:
            con.close()
        df = pd.DataFrame(rows, columns=list(_COLUMNS))
        # A row whose id is not a plain directory name (a planted '../..') names no run of this store; a row
        # whose directory was deleted (or lost its result.json) by hand is not a run any more.
        df["path"] = [str(self.runs_dir / r) if _plain_id(r) else "" for r in df["run_id"]]
        keep = np.array([bool(p) and (Path(p) / "result.json").is_file() for p in df["path"]], dtype=bool)
        return df[keep].reset_index(drop=True)

    def load(self, run_id: str) -> Run:
        """A completed run by id (or ``latest`` / ``latest:<model>``, the newest readable one).

        ValueError naming the path when the run is damaged.
        """
        if run_id == "latest" or run_id.startswith("latest:"):
            runs = self.list_runs(model=run_id.partition(":")[2] or None)
            for rid in runs["run_id"]:
                result = self._readable(self.runs_dir / rid)
                if result is not None:
                    return AuditResult.from_dict(result, path=self.runs_dir / rid, validate=False)
            raise ValueError(UNKNOWN_RUN.format(run_id=run_id, root=self.root))
        if not _plain_id(run_id):  # an id, never a path
            raise ValueError(UNKNOWN_RUN.format(run_id=run_id, root=self.root))
        path = self.runs_dir / run_id
        if not path.is_dir():
            raise ValueError(UNKNOWN_RUN.format(run_id=run_id, root=self.root))
        try:
            return AuditResult.from_dict(read_result(path), path=path, validate=False)
        except ValueError as exc:
            raise ValueError(f"run {run_id} in {path} is damaged: {exc}. Fix: pick another run "
                             f"(`deepaudit list --store {self.root}`), or restore that directory.") from None
