"""Live computations in a separate process, so that the web server's threads never slow them down.

A live explanation alternates between torch kernels (which release Python's global interpreter lock)
and Python (captum, autograd bookkeeping), hundreds of times per pass. In the server process every
return to Python waits for the lock, and request threads rendering pages hold it for up to the switch
interval each time: measured on 2 cores, an IG pass over four reviews took 0.21 s alone and 9.4 s beside
two Python-busy threads (BENCHMARKS.md, "Dashboard under load"), while two CPU-hog *processes* only
slowed it to 0.24-0.38 s. So ``deepaudit serve`` runs live computations in one worker process with its own
interpreter and lock; the operating system shares the cores fairly between it and the server.

:class:`LiveWorker` starts the process (``python -m deepaudit.dashboard.live_worker``: a fresh interpreter that
inherits one end of a socket pair and nothing else) on first use, sends it each batch and hands each reply to
the request thread waiting for it. The worker runs each kind of operation in its own lane (:data:`LANES`, a
thread each, in order within a lane), so a what-if never waits behind a typed review's pass. The worker
loads targets through its own :class:`~deepaudit.dashboard.context.LiveModels` with the server's allowlist,
and only for specs the server has already checked and loaded. A worker that dies fails the requests it held
with a message and is started again by the next request.

Operations (``op``): ``"load"`` a target; ``"texts"`` explain typed reviews
(:func:`deepaudit.dashboard.live_text.explain_texts`); ``"what-if"`` score and explain edited applicants
(:meth:`deepaudit.dashboard.live_tabular.LiveTabular.explain_batch`). The answers are the ones the same functions
give in the server process (tests/live/test_live_worker.py).
"""
from __future__ import annotations

import itertools
import json
import logging
import pickle
import socket
import subprocess
import sys
import threading
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger(__name__)

WORKER_STOPPED = ("the live-explanation worker process stopped ({why}) while computing this answer; it starts "
                  "again with the next request. Fix: press the button again; if it keeps stopping, check the "
                  "server log and memory.")
TIMEOUT_S = 300.0


class LiveWorker:
    """One worker process for live computations (see the module docstring)."""

    def __init__(self, device: str = "cpu", allowed: tuple[str, ...] | list[str] | frozenset[str] = ()) -> None:
        self.device = device
        self.allowed = tuple(sorted(allowed))
        self._lock = threading.Lock()
        self._conn: Any = None
        self._proc: Any = None
        self._pending: dict[int, Future] = {}
        self._ids = itertools.count()
        self.starts = 0

    # -- the server side ----------------------------------------------------------------------------------------
    def call(self, op: str, spec: str, payload: Any = None, *, timeout: float = TIMEOUT_S) -> Any:
        """Run ``op`` on ``spec`` in the worker; its answer, or the exception it raised there."""
        fut: Future = Future()
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            key = next(self._ids)
            self._pending[key] = fut
            try:
                self._conn.send((key, op, spec, payload))
            except (OSError, EOFError, BrokenPipeError) as exc:
                self._pending.pop(key, None)
                self._proc = None
                raise RuntimeError(WORKER_STOPPED.format(why=f"{type(exc).__name__}: {exc}")) from None
        return fut.result(timeout)

    def start(self) -> None:
        """Start the process now (it imports torch while the server warms up), unless it runs already."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()

    def _start(self) -> None:
        # A fresh interpreter running this module (not multiprocessing's spawn, which re-runs the parent's
        # main script): it inherits one end of a socket pair and nothing else.
        ours, theirs = socket.socketpair()
        proc = subprocess.Popen([sys.executable, "-m", "deepaudit.dashboard.live_worker", str(theirs.fileno()),
                                 self.device,
                                 json.dumps(list(self.allowed))], pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        theirs.close()
        parent = Connection(ours.detach())
        pending: dict[int, Future] = {}
        self._conn, self._proc, self._pending = parent, proc, pending
        self.starts += 1
        threading.Thread(target=self._read, args=(parent, proc, pending), name="deepaudit-live-reader",
                         daemon=True).start()

    def _read(self, conn: Any, proc: Any, pending: dict[int, Future]) -> None:
        while True:
            try:
                key, ok, value = conn.recv()
            except (EOFError, OSError):
                break
            fut = pending.pop(key, None)
            if fut is None:
                continue
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)
        try:
            proc.wait(5)     # it has closed its end: it is exiting, or gone
        except subprocess.TimeoutExpired:
            pass
        why = f"exit code {proc.returncode}" if proc.returncode is not None else "its pipe closed"
        with self._lock:
            if self._proc is proc:
                self._proc = None
            left = list(pending.values())
            pending.clear()
        if left:
            log.error("live worker process stopped (%s) with %d request(s) in flight", why, len(left))
        for fut in left:
            fut.set_exception(RuntimeError(WORKER_STOPPED.format(why=why)))

    def close(self) -> None:
        """Stop the worker process (the next call starts a new one)."""
        with self._lock:
            proc, conn = self._proc, self._conn
            self._proc = None
        if conn is not None:
            conn.close()            # the worker reads EOF and exits
        if proc is not None:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


# -- the worker process ---------------------------------------------------------------------------------------
def _portable(exc: BaseException) -> BaseException:
    """The exception itself when it survives the pipe, else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


#: Which lane runs an operation, and with how many threads. Lanes run side by side: a what-if (a few ms of a
#: small tabular model) never waits behind a typed review's pass (~70 ms a text). Reviews run two passes at
#: once (the server sends up to one batch per core, dashboard/batching.py), each on its own copy of the model
#: (:meth:`~deepaudit.dashboard.context.LiveModels.lease`: explainers hook a model's layers, so one model is
#: never in two passes at once) when the model is small enough to copy (:func:`copies_allowed`); what-ifs keep
#: one thread, in order.
LANES = {"texts": ("texts", 2), "what-if": ("tabular", 1), "load": ("load", 1)}

#: Above this many parameters a text model is not copied for a second concurrent pass (a Hugging Face BERT has
#: ~110M: two more copies would add ~0.9 GB to the worker); its passes share the loaded model, one at a time.
COPY_MAX_PARAMS = 20_000_000


def copies_allowed(target: Any) -> bool:
    """Whether the worker may hold extra copies of ``target``'s model for concurrent passes."""
    return sum(p.numel() for p in target.model.parameters()) <= COPY_MAX_PARAMS


def _worker_main(conn: Any, device: str, allowed: tuple[str, ...]) -> None:
    import queue

    import torch

    torch.set_num_threads(1)     # one core per pass; two lanes at most busy at once on the server's 2 cores
    from deepaudit.dashboard.context import LiveModels
    from deepaudit.dashboard.live_tabular import LiveTabular
    from deepaudit.dashboard.live_text import explain_texts

    live = LiveModels(device=device, allowed=allowed)
    tabular: dict[str, LiveTabular] = {}
    send_lock = threading.Lock()
    locks: dict[str, threading.Lock] = {}
    locks_guard = threading.Lock()

    def shared_lock(spec: str) -> threading.Lock:
        with locks_guard:
            return locks.setdefault(spec, threading.Lock())

    def run(key: int, op: str, spec: str, payload: Any) -> None:
        try:
            target = live.target(spec)      # loads once per spec, under the spec's own lock
            if op == "load":
                value = None
            elif op == "texts":
                args = (payload["texts"],)
                kw = {"method": payload["method"], "options": payload["options"]}
                if copies_allowed(target):
                    with live.lease(spec) as leased:
                        value = explain_texts(leased, *args, **kw)
                else:
                    with shared_lock(spec):      # the loaded model itself, one pass at a time
                        value = explain_texts(target, *args, **kw)
            elif op == "what-if":
                if spec not in tabular:
                    tabular[spec] = LiveTabular(target)
                value = tabular[spec].explain_batch(payload["frames"], payload["options"])
            else:
                raise ValueError(f"unknown live operation {op!r}")
            reply = (key, True, value)
        except Exception as exc:   # the request thread re-raises it
            reply = (key, False, _portable(exc))
        with send_lock:
            try:
                conn.send(reply)
            except (OSError, EOFError):
                pass                # the server is gone; the main loop sees EOF and ends the process

    def lane(jobs: queue.Queue) -> None:
        while True:
            job = jobs.get()
            if job is None:
                return
            run(*job)

    lanes: dict[str, queue.Queue] = {}
    widths: dict[str, int] = {}
    threads = []
    while True:
        try:
            key, op, spec, payload = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            break
        name, width = LANES.get(op, ("other", 1))
        if name not in lanes:
            lanes[name], widths[name] = queue.Queue(), width
            for i in range(width):
                threads.append(threading.Thread(target=lane, args=(lanes[name],), name=f"deepaudit-live-{name}-{i}",
                                                daemon=True))
                threads[-1].start()
        lanes[name].put((key, op, spec, payload))
    for name, jobs in lanes.items():
        for _ in range(widths[name]):
            jobs.put(None)
    for t in threads:
        t.join(5)


if __name__ == "__main__":   # python -m deepaudit.dashboard.live_worker FD DEVICE ALLOWED_JSON (started by LiveWorker)
    _worker_main(Connection(int(sys.argv[1])), sys.argv[2], tuple(json.loads(sys.argv[3])))
