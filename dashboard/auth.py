"""HTTP Basic authentication for the dashboard, from hashed credentials only.

Credentials are ``user:hash`` entries, one per line in a file (``--credentials FILE``) or separated by
whitespace in the ``DEEPAUDIT_CREDENTIALS`` environment variable. Hashes are werkzeug password hashes
(``scrypt:...`` or ``pbkdf2:...``); ``deepaudit hash-password USER`` makes one. A plaintext password is
refused. A verified (user, password) pair is remembered by its SHA-256 for the life of the process so a
slow hash is not recomputed for every callback request.

Each password check costs a slow hash (~70 ms of scrypt), so failed logins are throttled per client address
(:class:`LoginThrottle`): after a few failures the client gets 429 with ``Retry-After`` and no hash is computed,
for a window that doubles with each further failure and ends with a successful login. Behind a reverse proxy
every client has the proxy's address unless ``deepaudit serve --trusted-proxy`` names it.
"""
from __future__ import annotations

import hashlib
import ipaddress
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from flask import Flask, Response, request
from werkzeug.security import check_password_hash, generate_password_hash

ENV_VAR = "DEEPAUDIT_CREDENTIALS"
HASH_METHODS = ("scrypt:", "pbkdf2:")
NOT_HASHED = ("credential for user {user!r} is not a password hash (it must start with scrypt: or pbkdf2:). "
              "Fix: make one with `deepaudit hash-password {user}` and store its output line instead.")
BAD_LINE = ("credentials entry {n} of {source} is not 'user:hash'. Fix: one `user:hash` per line, made with "
            "`deepaudit hash-password USER`.")
EMPTY = "no credentials in {source}. Fix: add `user:hash` lines made with `deepaudit hash-password USER`."
REALM = 'Basic realm="deepaudit", charset="UTF-8"'
TOO_MANY = "Too many failed logins from this address. Retry in {seconds} s."


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def parse_credentials(text: str, source: str) -> dict[str, str]:
    """``user:hash`` entries -> {user: hash}. Blank lines and ``#`` comments are skipped."""
    users: dict[str, str] = {}
    entries = [e for raw in text.splitlines() if (line := raw.strip()) and not line.startswith("#")
               for e in line.split()]
    for n, entry in enumerate(entries, 1):
        user, sep, pw_hash = entry.partition(":")
        if not sep or not user or not pw_hash:
            raise ValueError(BAD_LINE.format(n=n, source=source))
        if not pw_hash.startswith(HASH_METHODS):
            raise ValueError(NOT_HASHED.format(user=user))
        users[user] = pw_hash
    if not users:
        raise ValueError(EMPTY.format(source=source))
    return users


def load_credentials(path: str | os.PathLike | None) -> dict[str, str] | None:
    """Credentials from ``path``, else from ``$DEEPAUDIT_CREDENTIALS``; None when neither is set."""
    if path:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"credentials file {p} does not exist. Fix: create it with lines from "
                                    "`deepaudit hash-password USER`, or pass --insecure on a trusted network.")
        return parse_credentials(p.read_text(), str(p))
    env = os.environ.get(ENV_VAR, "").strip()
    return parse_credentials(env, f"${ENV_VAR}") if env else None


class LoginThrottle:
    """Password checks per client, with an exponential backoff after ``free`` failures in a row.

    :meth:`attempt` counts a check before it runs, so concurrent requests from one client cannot all slip in
    before the first failure is recorded; :meth:`succeeded` forgets the client. At most ``max_clients`` are
    remembered (least recently seen dropped first), so a flood of addresses cannot grow memory.
    """

    def __init__(self, free: int = 5, base_s: float = 1.0, max_s: float = 300.0, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free, self.base_s, self.max_s, self.max_clients, self.clock = free, base_s, max_s, max_clients, clock
        self._clients: OrderedDict[str, tuple[int, float]] = OrderedDict()  # client -> (checks, blocked until)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._clients)

    def wait(self, client: str) -> float:
        """Seconds until ``client`` may have a password checked again (0: now); counts nothing."""
        with self._lock:
            _, until = self._clients.get(client, (0, 0.0))
        return max(0.0, until - self.clock())

    def attempt(self, client: str) -> float:
        """0 when ``client`` may have its password checked now (the check is counted), else seconds to wait."""
        now = self.clock()
        with self._lock:
            checks, until = self._clients.pop(client, (0, 0.0))
            if now < until:
                self._clients[client] = (checks, until)
                return until - now
            checks += 1
            if checks >= self.free:
                until = now + min(self.max_s, self.base_s * 2 ** min(checks - self.free, 30))
            self._clients[client] = (checks, until)
            while len(self._clients) > self.max_clients:
                self._clients.popitem(last=False)
            return 0.0

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._clients.pop(client, None)


def client_key(addr: str | None) -> str:
    """The throttled unit for a remote address: the address, or its /64 for IPv6 (one host's usual share)."""
    try:
        ip = ipaddress.ip_address(addr or "")
    except ValueError:
        return addr or "unknown"
    return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else str(ip)


def _too_many(wait: float) -> Response:
    seconds = math.ceil(wait)
    return Response(TOO_MANY.format(seconds=seconds), 429,
                    {"Retry-After": str(seconds), "Content-Type": "text/plain; charset=utf-8"})


def require_basic_auth(server: Flask, users: dict[str, str], throttle: LoginThrottle | None = None) -> None:
    """Every request to ``server`` needs a valid user and password; failed logins are throttled per client."""
    throttle = LoginThrottle() if throttle is None else throttle  # not `or`: an empty throttle is falsy
    verified: set[bytes] = set()
    lock = threading.Lock()
    dummy = hash_password("not-a-user")  # unknown users cost the same hash check as known ones

    def _check():
        a = request.authorization
        if a is None or a.type != "basic":
            return Response("Authentication required.", 401, {"WWW-Authenticate": REALM})
        user, password = a.username or "", a.password or ""
        client = client_key(request.remote_addr)
        # A throttled client is refused before the remembered logins are consulted: answering those would tell
        # it, at no hashing cost, which of its guesses is right.
        if wait := throttle.wait(client):
            return _too_many(wait)
        key = hashlib.sha256(f"{user}\0{password}".encode()).digest()
        with lock:
            known = key in verified
        if known:
            throttle.succeeded(client)
            return None
        if wait := throttle.attempt(client):
            return _too_many(wait)
        if not (check_password_hash(users.get(user, dummy), password) and user in users):
            return Response("Authentication required.", 401, {"WWW-Authenticate": REALM})
        throttle.succeeded(client)
        with lock:
            verified.add(key)
        return None

    # First of all request hooks, whenever it is registered: nothing (e.g. the response cache) answers first.
    server.before_request_funcs.setdefault(None, []).insert(0, _check)
    # Read by actions that must name a verified user (reviewer sign-offs): every request here passed _check.
    server.config["DEEPAUDIT_AUTH"] = True


def authenticated_user() -> str | None:
    """The verified user of the current request, or None where the server asks for no credentials."""
    from flask import current_app, has_request_context

    if not has_request_context() or not current_app.config.get("DEEPAUDIT_AUTH"):
        return None
    a = request.authorization
    return (a.username or None) if a is not None else None
