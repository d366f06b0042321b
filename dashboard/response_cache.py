"""Serve a repeated Dash callback request from memory.

Every callback of the dashboard is a function of its inputs and of the store: runs are immutable once
written, so the only things that change an answer are a new run (the store index changes: "latest" moves,
the home page grows) and a model that becomes loadable (:attr:`LiveModels.version`). The key is the request
body plus that generation; a hit skips Dash's callback dispatch and the JSON serialisation of the layout.
The cache is bounded in bytes and entries. Authentication runs before it (:mod:`deepaudit.dashboard.auth` puts its
hook first), so a cached answer is only ever served to a client that may see it.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from flask import Flask, Response, request

from deepaudit.dashboard.context import AppContext

MAX_BYTES = 32 << 20
MAX_ENTRIES = 2048
PATH_SUFFIX = "_dash-update-component"


class ResponseCache:
    def __init__(self, max_bytes: int = MAX_BYTES, max_entries: int = MAX_ENTRIES) -> None:
        self.max_bytes, self.max_entries = max_bytes, max_entries
        self._items: OrderedDict[tuple, tuple[bytes, str]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: tuple) -> tuple[bytes, str] | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item

    def put(self, key: tuple, body: bytes, mimetype: str) -> None:
        if len(body) > self.max_bytes // 8:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = (body, mimetype)
            self._bytes += len(body)
            while self._bytes > self.max_bytes or len(self._items) > self.max_entries:
                _, (old, _) = self._items.popitem(last=False)
                self._bytes -= len(old)


def _generation(ctx: AppContext) -> tuple:
    try:
        index = ctx.store.index_path.stat().st_mtime_ns
    except OSError:
        index = 0
    return index, ctx.live.version


def register(server: Flask, ctx: AppContext, cache: ResponseCache | None = None) -> ResponseCache:
    cache = cache or ResponseCache()

    def key() -> tuple | None:
        if request.method != "POST" or not request.path.endswith(PATH_SUFFIX):
            return None
        try:
            body = request.get_data(cache=True)
        except Exception:  # e.g. over MAX_CONTENT_LENGTH: Flask answers 413, nothing to cache
            return None
        return (hashlib.sha256(body).digest(), _generation(ctx))

    @server.before_request
    def _serve_cached():
        k = key()
        hit = cache.get(k) if k else None
        if hit is not None:
            return Response(hit[0], 200, mimetype=hit[1])
        return None

    @server.after_request
    def _store(resp):
        k = key()
        if k and resp.status_code == 200 and not resp.direct_passthrough:
            cache.put(k, resp.get_data(), resp.mimetype)
        return resp

    return cache
