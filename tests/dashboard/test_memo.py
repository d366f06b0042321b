"""dashboard.context.Memo: one computation per key under concurrency; a failed one is retried by the waiters."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from deepaudit.dashboard.context import Memo


def test_concurrent_requests_for_one_key_compute_it_once():
    memo, calls = Memo(4), []

    def compute():
        calls.append(threading.get_ident())
        time.sleep(0.2)
        return object()

    with ThreadPoolExecutor(8) as ex:
        values = list(ex.map(lambda _: memo.get("k", compute), range(8)))
    assert len(calls) == 1 and all(v is values[0] for v in values)


def test_a_failed_computation_is_not_stored_and_waiters_compute_it_themselves():
    memo, calls = Memo(4), []
    started = threading.Event()

    def failing():
        calls.append("fail")
        started.set()
        time.sleep(0.2)
        raise RuntimeError("boom")

    def ok():
        calls.append("ok")
        return 7

    with ThreadPoolExecutor(2) as ex:
        first = ex.submit(memo.get, "k", failing)
        started.wait(5)
        second = ex.submit(memo.get, "k", ok)
        with pytest.raises(RuntimeError):
            first.result()
        assert second.result() == 7
    assert calls == ["fail", "ok"] and memo.get("k", lambda: 0) == 0   # nothing stored from the waiter either


def test_least_recently_used_entries_are_evicted_beyond_size():
    memo = Memo(2)
    for k in "abc":
        memo.get(k, lambda k=k: k.upper())
    assert memo.get("a", lambda: "recomputed") == "recomputed" and memo.get("c", lambda: None) == "C"
