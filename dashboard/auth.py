"""HTTP Basic authentication for the dashboard, from hashed credentials only.

Credentials are ``user:hash`` entries, one per line in a file (``--credentials FILE``) or separated by
whitespace in the ``DEEPAUDIT_CREDENTIALS`` environment variable. Hashes are werkzeug password hashes
(``scrypt:...`` or ``pbkdf2:...``); ``deepaudit hash-password USER`` makes one. A plaintext password is
refused. A verified (user, password) pair is remembered by its SHA-256 for the life of the process so a
slow hash is not recomputed for every callback request.
"""
from __future__ import annotations

import hashlib
import os
import threading
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


def require_basic_auth(server: Flask, users: dict[str, str]) -> None:
    """Every request to ``server`` needs a valid user and password."""
    verified: set[bytes] = set()
    lock = threading.Lock()
    dummy = hash_password("not-a-user")  # unknown users cost the same hash check as known ones

    def ok(user: str, password: str) -> bool:
        key = hashlib.sha256(f"{user}\0{password}".encode()).digest()
        with lock:
            if key in verified:
                return True
        good = check_password_hash(users.get(user, dummy), password) and user in users
        if good:
            with lock:
                verified.add(key)
        return good

    def _check():
        a = request.authorization
        if a is None or a.type != "basic" or not ok(a.username or "", a.password or ""):
            return Response("Authentication required.", 401, {"WWW-Authenticate": REALM})
        return None

    # First of all request hooks, whenever it is registered: nothing (e.g. the response cache) answers first.
    server.before_request_funcs.setdefault(None, []).insert(0, _check)
