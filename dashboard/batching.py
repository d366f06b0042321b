"""Micro-batching of live explanations: concurrent requests for the same model share one pass.

A live explanation (a typed review, an edited applicant) is a forward and backward pass over a
handful of rows. Run one by one, each request pays the per-call overhead of the model and the
explainer, and on a 2-core server sixteen concurrent requests queue behind each other. Batched,
the requests that arrive together are stacked into one tensor and explained in one pass, which
costs little more than one of them.

:class:`MicroBatcher` keeps one queue. ``submit(key, item, run)`` puts a request on it and waits
for its answer. ``workers`` threads (one per compute slot) each take the oldest request, wait
until it is ``window_s`` old so that requests arriving within those milliseconds can join, then
take every queued request with the same ``key`` (at most ``max_batch``) and call ``run`` once on
their items. ``run(items) -> answers`` must answer each item as it would alone: callers key
requests so that only items one call can explain together share a key (same model, method and
options). Under load, requests that waited for a busy worker form the next batch with no added
wait; an idle server adds at most ``window_s`` to a lone request.

One bad request never costs the others: when the batched call raises, each item of the batch is
run alone and gets its own answer or its own error.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

#: Default wait for more requests to join a batch (seconds): a few milliseconds.
WINDOW_S = 0.004
#: Default largest batch.
MAX_BATCH = 32


@dataclass(eq=False)
class _Request:
    key: Hashable
    item: Any
    run: Callable[[list[Any]], list[Any]]
    arrived: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None
    batch_size: int = 0


class MicroBatcher:
    """Group concurrent requests with the same key into one ``run`` call (see the module docstring)."""

    def __init__(self, *, workers: int = 1, window_s: float = WINDOW_S, max_batch: int = MAX_BATCH) -> None:
        if workers < 1 or max_batch < 1 or window_s < 0:
            raise ValueError(f"MicroBatcher needs workers >= 1, max_batch >= 1 and window_s >= 0, got "
                             f"workers={workers}, max_batch={max_batch}, window_s={window_s}")
        self.workers, self.window_s, self.max_batch = workers, window_s, max_batch
        self._cv = threading.Condition()
        self._queue: list[_Request] = []
        self._threads: list[threading.Thread] = []
        self.n_requests = 0
        self.n_batches = 0
        self.largest_batch = 0

    def submit(self, key: Hashable, item: Any, run: Callable[[list[Any]], list[Any]]) -> tuple[Any, int]:
        """Answer ``item`` (through ``run``, possibly beside other items of ``key``): (answer, batch size).

        Raises what ``run`` raised for this item alone.
        """
        req = _Request(key, item, run)
        with self._cv:
            if len(self._threads) < self.workers:
                t = threading.Thread(target=self._work, name=f"live-batch-{len(self._threads)}", daemon=True)
                self._threads.append(t)
                t.start()
            self._queue.append(req)
            self.n_requests += 1
            self._cv.notify()
        req.done.wait()
        if req.error is not None:
            raise req.error
        return req.result, req.batch_size

    def _work(self) -> None:
        while True:
            with self._cv:
                while not self._queue:
                    self._cv.wait()
                oldest = self._queue[0].arrived
            wait = oldest + self.window_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            with self._cv:
                if not self._queue:          # another worker took them meanwhile
                    continue
                key = self._queue[0].key
                batch = [r for r in self._queue if r.key == key][:self.max_batch]
                taken = set(map(id, batch))
                self._queue = [r for r in self._queue if id(r) not in taken]
                self.n_batches += 1
                self.largest_batch = max(self.largest_batch, len(batch))
            self._answer(batch)

    @staticmethod
    def _answer(batch: list[_Request]) -> None:
        try:
            results = batch[0].run([r.item for r in batch]) if len(batch) > 1 else None
            if results is not None and len(results) != len(batch):
                raise RuntimeError(f"a batched call answered {len(results)} of {len(batch)} requests")
        except Exception:   # one bad item must not cost the others: each is answered alone
            results = None
        if results is not None:
            for r, res in zip(batch, results):
                r.result, r.batch_size = res, len(batch)
                r.done.set()
            return
        for r in batch:
            try:
                r.result, r.batch_size = r.run([r.item])[0], 1
            except BaseException as exc:   # handed to the waiting request thread, which raises it
                r.error = exc
            finally:
                r.done.set()
