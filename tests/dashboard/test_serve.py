"""`deepaudit serve` / `hash-password`: loopback default, hashed credentials, security headers, base path,
downloads by run id only, request size limit. The end-to-end test runs the real command (waitress)."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import b64encode

import pytest

from deepaudit.dashboard import auth, serve
from deepaudit.dashboard.downloads import report_file


def test_loopback_detection():
    assert all(serve.is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"))
    assert not any(serve.is_loopback(h) for h in ("0.0.0.0", "192.168.1.5", "::", "example.com"))


def test_non_loopback_needs_credentials_or_insecure(store, monkeypatch, tmp_path):
    monkeypatch.delenv(auth.ENV_VAR, raising=False)
    with pytest.raises(ValueError, match="refusing to serve on 0.0.0.0.*hash-password.*--insecure"):
        serve.build_server(str(store.root), host="0.0.0.0")
    with pytest.raises(FileNotFoundError, match="no run store"):
        serve.build_server(str(tmp_path / "none"), host="127.0.0.1")


def test_credentials_must_be_hashed(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="not a password hash.*hash-password bob"):
        auth.parse_credentials("bob:secret", "test")
    with pytest.raises(ValueError, match="not 'user:hash'"):
        auth.parse_credentials("justaname", "test")
    with pytest.raises(ValueError, match="no credentials"):
        auth.parse_credentials("# only a comment\n", "test")
    h = auth.hash_password("correct horse")
    users = auth.parse_credentials(f"# users\nalice:{h}\n\n", "test")
    assert list(users) == ["alice"] and users["alice"] == h
    monkeypatch.setenv(auth.ENV_VAR, f"alice:{h} bob:{auth.hash_password('battery staple')}")
    assert set(auth.load_credentials(None)) == {"alice", "bob"}
    with pytest.raises(FileNotFoundError, match="credentials file"):
        auth.load_credentials(tmp_path / "missing.txt")


def _basic(user, pw):
    return {"Authorization": "Basic " + b64encode(f"{user}:{pw}".encode()).decode()}


def test_basic_auth_and_headers(store, monkeypatch):
    monkeypatch.setenv(auth.ENV_VAR, f"alice:{auth.hash_password('correct horse')}")
    app = serve.build_server(str(store.root), host="0.0.0.0")  # credentials make a public host allowed
    c = app.server.test_client()
    r = c.get("/")
    assert r.status_code == 401 and "Basic" in r.headers["WWW-Authenticate"]
    assert c.get("/", headers=_basic("alice", "wrong")).status_code == 401
    assert c.get("/", headers=_basic("mallory", "correct horse")).status_code == 401
    r = c.get("/", headers=_basic("alice", "correct horse"))
    assert r.status_code == 200
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["X-Frame-Options"] == "DENY"
    # callback requests need auth too, even when the same request was just answered (and cached) for a user
    body = {"output": ".._pages_content.children..._pages_store.data..",
            "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": "/"},
                       {"id": "_pages_location", "property": "search", "value": ""}],
            "changedPropIds": ["_pages_location.pathname"], "state": []}
    assert c.post("/_dash-update-component", json=body, headers=_basic("alice", "correct horse")).status_code == 200
    assert c.post("/_dash-update-component", json=body).status_code == 401
    # oversized payloads are refused before any callback runs
    big = c.post("/_dash-update-component", data=b"x" * (2 << 20), headers=_basic("alice", "correct horse"),
                 content_type="application/json")
    assert big.status_code == 413


def test_downloads_by_run_id_only(store, ctx):
    run = ctx.resolve("mortgage")
    path = report_file(ctx, run.run_id, "json")
    assert path.parent.parent == store.root / "reports" / run.run_id   # keyed by the run's integrity state
    assert json.loads(path.read_text())["run_id"] == run.run_id
    for bad_id, fmt in [("../../etc/passwd", "json"), (run.run_id, "exe"), ("20260101T000000Z-x-00000000", "json"),
                        (str(store.root), "json")]:
        assert report_file(ctx, bad_id, fmt) is None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_command_end_to_end(store, tmp_path):
    """The real `deepaudit serve` on waitress, under a base path, with credentials from a file."""
    creds = tmp_path / "users.txt"
    made = subprocess.run([sys.executable, "-m", "deepaudit.audit.cli", "hash-password", "alice", "--stdin"],
                          input="correct horse\n", capture_output=True, text=True, check=True)
    assert made.stdout.startswith("alice:scrypt:")
    creds.write_text(made.stdout)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "deepaudit.audit.cli", "serve", "--store", str(store.root), "--port",
                             str(port), "--base-path", "/audit/", "--credentials", str(creds), "--no-preload"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        base = f"http://127.0.0.1:{port}/audit/"
        lines = [proc.stdout.readline()]
        while base not in lines[-1] and lines[-1] and len(lines) < 50:
            lines.append(proc.stdout.readline())  # a warning (e.g. about a damaged run) may come first
        assert base in lines[-1], lines

        def get(url, user="alice", pw="correct horse"):
            req = urllib.request.Request(url, headers=_basic(user, pw))
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    return r.status, r.headers, r.read()
            except urllib.error.HTTPError as e:
                return e.code, e.headers, e.read()

        for _ in range(100):
            try:
                status, headers, _ = get(base)
                break
            except OSError:
                time.sleep(0.2)
        assert status == 200 and headers["Server"] == "deepaudit"
        assert get(base, pw="nope")[0] == 401
        run_id = store.list_runs(model="mortgage")["run_id"].iloc[0]
        status, headers, body = get(f"{base}download/{run_id}/json")
        assert status == 200 and json.loads(body)["run_id"] == run_id
        assert "attachment" in headers["Content-Disposition"]
        assert get(f"{base}download/not-a-run/json")[0] == 404
        assert get(f"http://127.0.0.1:{port}/download/{run_id}/json")[0] == 404  # outside the base path
        # under the base path: unknown pages are 404 (the friendly page still loads), pages are never cached
        # and carry the CSP, Dash's probes answer 404
        status, headers, body = get(f"{base}model/mortgage/performance")
        assert status == 200 and headers["Cache-Control"] == "no-store" and "script-src 'self'" in \
            headers["Content-Security-Policy"] and b"_dash-config" in body
        for path in ("nope", "model/unknown/performance", "model/mortgage/nope"):
            status, headers, body = get(base + path)
            assert status == 404 and b"_dash-config" in body and headers["Cache-Control"] == "no-store", path
        assert get(f"{base}_dash-component-suites/nonexistent_pkg/x.js")[0] == 404
    finally:
        proc.terminate()
        proc.wait(10)


def test_response_cache_answers_repeats_and_follows_new_runs(store, tmp_path, monkeypatch):
    """A repeated callback request is answered from memory; a new run (index change) is never hidden.

    This builds a second app in the test process; the dashboard conftest puts the session app's pages back."""
    import json
    import shutil
    import time

    from deepaudit.audit.store import RunStore
    from deepaudit.dashboard.app import create_app
    from deepaudit.dashboard.pages import home

    root = tmp_path / "copy"
    shutil.copytree(store.root, root, ignore=shutil.ignore_patterns("reports"))
    app = create_app(root)
    built = []
    real_build = home.build
    monkeypatch.setattr(home, "build", lambda *a, **k: built.append(1) or real_build(*a, **k))
    c = app.server.test_client()
    body = {"output": ".._pages_content.children..._pages_store.data..",
            "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": "/"},
                       {"id": "_pages_location", "property": "search", "value": ""}],
            "changedPropIds": ["_pages_location.pathname"], "state": []}
    first = c.post("/_dash-update-component", json=body)
    assert first.status_code == 200 and len(built) == 1
    second = c.post("/_dash-update-component", json=body)
    assert second.status_code == 200 and first.data == second.data
    assert len(built) == 1  # the repeat was answered from memory: the home layout was not built again
    # a new run changes the index: the home page must show it, not the cached answer
    s = RunStore(root)
    src = s.load("latest:mnist_cnn")
    result = json.loads(json.dumps(src.result))
    result["run_id"] = result["run_id"][:-8] + "0000beef"
    time.sleep(0.01)
    s.write_run(result, predictions=src.predictions(), arrays={})
    third = c.post("/_dash-update-component", json=body)
    assert len(built) == 2 and b"0000beef" in third.data and b"0000beef" not in first.data


# --- failed-login throttle, --insecure warning, --trusted-proxy (issue 12, item 9) ---

def _throttled_server(monkeypatch, **kw):
    """A bare Flask app behind require_basic_auth with a frozen clock; the list of password hash checks."""
    import flask

    checks = []
    real = auth.check_password_hash
    monkeypatch.setattr(auth, "check_password_hash", lambda h, pw: checks.append(pw) or real(h, pw))
    now = [1000.0]
    server = flask.Flask("throttled")
    server.route("/")(lambda: "ok")
    throttle = auth.LoginThrottle(clock=lambda: now[0], **kw)
    auth.require_basic_auth(server, {"alice": auth.hash_password("correct horse")}, throttle)
    c = server.test_client()

    def get(pw, addr="10.0.0.9"):
        return c.get("/", headers=_basic("alice", pw), environ_base={"REMOTE_ADDR": addr})

    return get, checks, now, throttle


def test_failed_logins_are_throttled_per_client(monkeypatch):
    get, checks, now, _ = _throttled_server(monkeypatch, free=5)
    answers = [get(f"guess {i}") for i in range(40)]
    assert [r.status_code for r in answers] == [401] * 5 + [429] * 35
    assert len(checks) == 5  # no password hash computed for a throttled client
    assert answers[-1].headers["Retry-After"] == "1" and answers[-1].get_data(as_text=True) == \
        auth.TOO_MANY.format(seconds=1)
    # another client is not delayed, and its login is remembered
    assert get("correct horse", addr="10.0.0.10").status_code == 200 and len(checks) == 6
    # the throttled client is refused even with the remembered right password: no free oracle for its guesses
    assert get("correct horse").status_code == 429 and len(checks) == 6
    now[0] += 1.0  # the window is over: one more check, which fails and doubles the window
    assert get("guess 41").status_code == 401 and get("guess 42").status_code == 429
    assert get("guess 43").headers["Retry-After"] == "2" and len(checks) == 7
    now[0] += 2.0  # a successful login (here one remembered, so no hash) ends the backoff
    assert get("correct horse").status_code == 200 and len(checks) == 7
    assert [get(f"again {i}").status_code for i in range(5)] == [401] * 5


def test_a_checked_login_ends_the_backoff(monkeypatch):
    get, checks, now, _ = _throttled_server(monkeypatch, free=2)
    assert [get(pw).status_code for pw in ("a", "b", "correct horse")] == [401, 401, 429]
    now[0] += 1.0
    assert get("correct horse").status_code == 200 and len(checks) == 3
    assert [get(pw).status_code for pw in ("c", "d", "e")] == [401, 401, 429]


def test_concurrent_failed_logins_from_one_client_run_few_hashes(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    get, checks, _, _ = _throttled_server(monkeypatch, free=5)
    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda i: get(f"guess {i}").status_code, range(96)))
    assert codes.count(401) == 5 and codes.count(429) == 91 and len(checks) == 5
    assert get("correct horse", addr="10.0.0.10").status_code == 200


def test_login_throttle_memory_is_bounded():
    t = auth.LoginThrottle(free=1, max_clients=100, clock=lambda: 0.0)
    for i in range(1000):
        t.attempt(f"10.0.{i // 256}.{i % 256}")
    assert len(t) == 100
    assert t.wait("10.0.3.231") > 0 and t.wait("10.0.0.0") == 0  # the oldest clients were dropped
    # an IPv6 host usually owns a /64: its addresses share one entry
    assert auth.client_key("2001:db8::1") == auth.client_key("2001:db8::ffff:2") != auth.client_key("2001:db9::1")
    assert auth.client_key("192.0.2.7") == "192.0.2.7" and auth.client_key(None) == "unknown"


def test_insecure_on_a_network_host_logs_a_warning(store, monkeypatch, caplog):
    import logging

    monkeypatch.delenv(auth.ENV_VAR, raising=False)
    caplog.set_level(logging.WARNING, logger="deepaudit.serve")
    serve.build_server(str(store.root), host="127.0.0.1", insecure=True)
    assert [r for r in caplog.records if r.name == "deepaudit.serve"] == []
    serve.build_server(str(store.root), host="0.0.0.0", insecure=True)
    [record] = [r for r in caplog.records if r.name == "deepaudit.serve"]
    assert record.levelno == logging.WARNING and record.getMessage() == serve.INSECURE.format(host="0.0.0.0")
    assert "anyone on the network can read the audit results" in record.getMessage()


@pytest.mark.parametrize("argv, proxy", [
    ([], {}),
    (["--trusted-proxy", "127.0.0.1"], {"trusted_proxy": "127.0.0.1", "trusted_proxy_headers": serve.PROXY_HEADERS}),
])
def test_trusted_proxy_reaches_waitress(store, monkeypatch, argv, proxy):
    import argparse

    import torch
    import waitress

    calls = []
    monkeypatch.setattr(waitress, "serve", lambda app, **kw: calls.append(kw))
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)  # keep this test process's torch threads
    parser = argparse.ArgumentParser()
    serve.add_commands(parser.add_subparsers())
    args = parser.parse_args(["serve", "--store", str(store.root), "--no-preload", *argv])
    assert args.func(args) == 0
    [kw] = calls
    assert {k: kw[k] for k in ("trusted_proxy", "trusted_proxy_headers") if k in kw} == proxy
    assert kw["clear_untrusted_proxy_headers"] is True


@pytest.mark.parametrize("argv, worker", [([], True), (["--live-in-server"], False)])
def test_serve_computes_live_explanations_in_a_worker_process_unless_told(store, monkeypatch, argv, worker):
    import argparse

    import torch
    import waitress

    built = []
    real = serve.build_server

    def spy(*a, **kw):
        built.append(real(*a, **kw))
        return built[-1]

    monkeypatch.setattr(serve, "build_server", spy)
    monkeypatch.setattr(waitress, "serve", lambda app, **kw: None)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    parser = argparse.ArgumentParser()
    serve.add_commands(parser.add_subparsers())
    args = parser.parse_args(["serve", "--store", str(store.root), "--no-preload", *argv])
    assert args.func(args) == 0
    [app] = built
    live = app._deepaudit_ctx.live
    assert (live.worker is not None) is worker
    assert live.worker is None or live.worker.starts == 0     # started by the first live request, not before
