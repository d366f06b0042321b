"""What every page and callback needs, created once per app by :func:`deepaudit.dashboard.app.create_app`.

``AppContext`` holds the run store, a bounded cache of loaded runs (runs are immutable once written, so
caching them is safe) and the live models used to explain a user's own input. There are no module globals:
two apps in one process keep separate contexts.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from deepaudit.audit.store import Run, RunStore
from deepaudit.dashboard.batching import MicroBatcher
from deepaudit.dashboard.live_worker import LiveWorker

log = logging.getLogger(__name__)

MODEL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
RUN_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9_.-]{1,100}-[0-9a-f]{8}$")


class Memo:
    """Bounded, thread-safe memo of values derived from immutable runs (page bodies, figures).

    Keys must include the run id (never "latest"): a run never changes once written, so an entry is valid
    for the life of the process. A key is computed once: threads asking for a key another thread is computing
    wait for its value instead of computing it again (16 clients moving a slider to the same value cost one
    computation, not 16 competing for the same cores); if that computation fails, each waiter computes it.
    """

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._values: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._pending: dict[Any, threading.Event] = {}

    def get(self, key: Any, compute: Any) -> Any:
        while True:
            with self._lock:
                if key in self._values:
                    self._values.move_to_end(key)
                    return self._values[key]
                pending = self._pending.get(key)
                if pending is None:
                    pending = self._pending[key] = threading.Event()
                    break
            pending.wait()
            with self._lock:
                if key in self._values:
                    self._values.move_to_end(key)
                    return self._values[key]
            return compute()   # the first computation failed (or was evicted at once): compute it here
        try:
            value = compute()
            with self._lock:
                self._values[key] = value
                while len(self._values) > self.size:
                    self._values.popitem(last=False)
            return value
        finally:
            with self._lock:
                self._pending.pop(key, None)
            pending.set()


class RunCache:
    """Loaded runs by id (a :class:`Memo` of ``store.load``), least recently used evicted beyond ``size``."""

    def __init__(self, store: RunStore, size: int = 16) -> None:
        self.store = store
        self._memo = Memo(size)

    def get(self, run_id: str) -> Run:
        """The run ``run_id``; ValueError for a malformed id (never a path) or one not in the store."""
        if not isinstance(run_id, str) or not RUN_ID.match(run_id):
            raise ValueError(f"not a run id: {str(run_id)[:80]!r}")
        return self._memo.get(run_id, lambda: self.store.load(run_id))


SPEC_NOT_ALLOWED = ("live features are off for this run: it names the target {spec!r}, and a target is loaded "
                    "only when it is a bundled model, an installed entry point, or a spec the operator passed to "
                    "`deepaudit serve --target` (a run store is data: a path read from it is never executed). "
                    "Fix: restart the dashboard with `--target {spec}` if you trust that file.")


class LiveModels:
    """Audit targets loaded on first use (by the spec recorded in a run), one per spec, for live explanations.

    Only specs the operator vouched for are loaded: bundled names, installed entry points and ``allowed``
    (``deepaudit serve --target``). Stored views never need a model (:mod:`deepaudit.audit.display`).

    :meth:`target` is shared by every thread: use it for data and metadata. Computations that run the model
    use :meth:`lease`, a copy of the target whose model no other request touches meanwhile: captum's layer
    methods put hooks on the model's modules, so two requests explaining at once on one module would mix
    their tensors (seen under the 16-client benchmark as a shape mismatch).
    """

    def __init__(self, device: str = "cpu", allowed: tuple[str, ...] | list[str] = (), *,
                 process: bool = False) -> None:
        self.device = device
        self.allowed = frozenset(allowed)
        # ``deepaudit serve``: live passes run in a worker process (dashboard/live_worker.py), out of reach of
        # the server threads' hold on the interpreter lock; in-process otherwise (tests, notebooks).
        self.worker = LiveWorker(device, self.allowed) if process else None
        self._targets: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}  # one lock per spec: a slow model never blocks another
        self._failed: dict[str, tuple[float, Exception]] = {}
        # Live computations are CPU-bound: at most one per core runs at a time, so a burst of them queues
        # here instead of taking every server thread and starving the (cheap) stored views.
        self._slots = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))
        self._free: dict[str, list[Any]] = {}  # model copies not in use, at most one per slot per spec
        # Concurrent live requests for one model are explained together, one worker per compute slot.
        self.batcher = MicroBatcher(workers=max(1, os.cpu_count() or 1))

    RETRY_AFTER_S = 30.0  # a target that failed to load is not retried by every request

    def explain_texts(self, spec: str, texts: list[str], method: str, options: dict[str, Any]) -> list[Any]:
        """:func:`deepaudit.dashboard.live_text.explain_texts` of ``texts`` with the target of ``spec`` (a vouched-for
        spec: call :meth:`target` first), in the worker process when there is one."""
        if self.worker is not None:
            return self.worker.call("texts", spec, {"texts": list(texts), "method": method, "options": options})
        from deepaudit.dashboard.live_text import explain_texts

        with self.lease(spec) as leased:
            return explain_texts(leased, texts, method=method, options=options)

    def what_if_batch(self, spec: str, frames: list[Any], options: dict[str, Any]) -> list[Any]:
        """:meth:`deepaudit.dashboard.live_tabular.LiveTabular.explain_batch` in the worker process (needs one)."""
        if self.worker is None:
            raise RuntimeError("what_if_batch needs the worker process; in-process what-ifs use LiveTabular")
        return self.worker.call("what-if", spec, {"frames": list(frames), "options": options})

    def preload(self, spec: str) -> None:
        """Load ``spec`` here and, for a target with live features (typed text, edited rows), in the worker
        process when there is one, so that the first live request is fast."""
        target = self.target(spec)
        raw = getattr(getattr(target, "eval_data", None), "raw", None)
        live_features = getattr(target, "tokenizer", None) is not None or type(raw).__name__ == "DataFrame"
        if self.worker is not None and live_features:
            self.worker.call("load", spec)

    @property
    def version(self) -> int:
        """Changes when a target loads: page bodies that depend on a model's availability key on it."""
        return len(self._targets)

    @contextlib.contextmanager
    def lease(self, spec: str) -> Iterator[Any]:
        """``with live.lease(spec) as target:`` a copy of the target whose model nobody else uses meanwhile
        (a deep copy of the model; data shared), taken when one of the per-core compute slots is free."""
        with self._slots:
            with self._lock:
                free = self._free.setdefault(spec, [])
                target = free.pop() if free else None
            if target is None:
                base = self.target(spec)
                target = dataclasses.replace(base, model=copy.deepcopy(base.model))
            try:
                yield target
            finally:
                with self._lock:
                    self._free[spec].append(target)

    def target(self, spec: str) -> Any:
        """The shared target of ``spec``, loaded on first use; a load error is re-raised for
        :attr:`RETRY_AFTER_S` seconds without retrying."""
        import time

        from deepaudit.audit.target import is_installed_spec, load_target

        with self._lock:
            if isinstance(spec, str) and spec in self._targets:   # vouched for when it was loaded
                return self._targets[spec]
        if not isinstance(spec, str) or not (spec in self.allowed or is_installed_spec(spec)):
            raise ValueError(SPEC_NOT_ALLOWED.format(spec=str(spec)[:200]))
        with self._lock:
            if spec in self._targets:
                return self._targets[spec]
            lock = self._loading.setdefault(spec, threading.Lock())
            failed = self._failed.get(spec)
        if failed and time.monotonic() - failed[0] < self.RETRY_AFTER_S:
            raise failed[1]
        with lock:
            with self._lock:
                if spec in self._targets:
                    return self._targets[spec]
            try:
                target = load_target(spec, device=self.device)
            except Exception as exc:
                with self._lock:
                    self._failed[spec] = (time.monotonic(), exc)
                raise
            with self._lock:
                self._targets[spec] = target
                self._failed.pop(spec, None)
            return target


#: The dashboard re-reads the run index at least this often, and whenever the store changes.
INDEX_MAX_AGE_S = 2.0


class IndexSnapshot:
    """``store.list_runs()`` shared by every request, read again when the store changes.

    Every callback checks the run and model it is asked about against the index (:mod:`deepaudit.dashboard.app`), and
    reading it opens SQLite and scans the run directories: at 16 concurrent clients that was a seventh of the
    server's CPU. The snapshot is read again when the index file or the runs directory changes (size or
    modification time: a run written, deleted or re-indexed by any process), and at least every
    :data:`INDEX_MAX_AGE_S` seconds. Callers must not modify the frame.
    """

    def __init__(self, store: RunStore, max_age_s: float = INDEX_MAX_AGE_S) -> None:
        self.store, self.max_age_s = store, max_age_s
        self._lock = threading.Lock()
        self._held: tuple[Any, float, Any] | None = None

    def _signature(self) -> tuple[Any, ...]:
        out = []
        for p in (self.store.index_path, self.store.runs_dir):
            try:
                st = p.stat()
                out.append((st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                out.append(None)
        return tuple(out)

    def _current(self) -> tuple[Any, ...]:
        sig, now = self._signature(), time.monotonic()
        with self._lock:
            held = self._held
            if held is not None and held[0] == sig and now - held[1] < self.max_age_s:
                return held
        runs = self.store.list_runs()
        by_model: dict[str, list[dict[str, Any]]] = {}
        for row in runs.to_dict("records"):          # newest first, as listed
            by_model.setdefault(row["model"], []).append(row)
        held = (sig, now, runs, by_model, frozenset(runs["run_id"]) if not runs.empty else frozenset())
        with self._lock:
            self._held = held
        return held

    def get(self) -> Any:
        """The index as ``store.list_runs()`` gives it (newest first)."""
        return self._current()[2]

    def model_rows(self, model: str) -> list[dict[str, Any]]:
        """Index rows of ``model``, newest first (a copy of the list; the rows are shared)."""
        return list(self._current()[3].get(model, ()))

    def has_run(self, run_id: str) -> bool:
        return run_id in self._current()[4]


@dataclass
class AppContext:
    store: RunStore
    runs: RunCache = field(init=False)
    index: IndexSnapshot = field(init=False)
    live: LiveModels = field(default_factory=LiveModels)
    memo: Memo = field(default_factory=Memo)

    def __post_init__(self) -> None:
        self.runs = RunCache(self.store)
        self.index = IndexSnapshot(self.store)
        self._damage: dict[str, str] = {}
        self._damage_lock = threading.Lock()

    def model_runs(self, model: str | None) -> list[dict[str, Any]]:
        """Runs of ``model``, newest first (index rows); empty for a malformed or unknown name."""
        if not isinstance(model, str) or not MODEL_NAME.match(model):
            return []
        return self.index.model_rows(model)

    def known_models(self) -> list[str]:
        runs = self.index.get()
        return sorted(runs["model"].unique().tolist()) if not runs.empty else []

    def resolve(self, model: str | None, run_id: str | None = None) -> Run | None:
        """The run ``run_id`` of ``model`` (its newest readable run when None); None when either is unknown or
        malformed, or the run is damaged (:meth:`damage` then says why).

        A run id that belongs to another model is unknown here: URLs cannot mix models. One damaged run never
        takes a model's pages down: "latest" is the newest run that reads.
        """
        runs = self.model_runs(model)
        if not runs:
            return None
        if run_id is None or run_id == "":
            for row in runs:
                run = self._readable(row["run_id"])
                if run is not None:
                    return run
            return None
        if not isinstance(run_id, str) or not RUN_ID.match(run_id) or run_id not in {r["run_id"] for r in runs}:
            return None
        return self._readable(run_id)

    def _readable(self, run_id: str) -> Run | None:
        try:
            return self.runs.get(run_id)
        except ValueError as exc:        # store.load names the damage; the store's other runs still serve
            with self._damage_lock:
                known = run_id in self._damage
                self._damage[run_id] = str(exc)
            if not known:
                log.warning("skipping damaged run %s: %s", run_id, exc)
            return None

    def damage(self, run_id: str | None) -> str:
        """Why ``run_id`` could not be read ('' when it could, or was never tried)."""
        with self._damage_lock:
            return self._damage.get(run_id or "", "")

    def run_by_id(self, run_id: str) -> Run | None:
        """Any run by id (validated against the index; never a path from the client); None when damaged."""
        if not isinstance(run_id, str) or not RUN_ID.match(run_id):
            return None
        if not self.index.has_run(run_id):
            return None
        return self._readable(run_id)
