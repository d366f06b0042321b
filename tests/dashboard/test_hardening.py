"""Inputs a client controls never become paths, crashes or unbounded state (review findings)."""
import logging
import re

import pytest

from deepaudit.audit.store import RunStore
from deepaudit.dashboard import app as dashboard_app
from deepaudit.dashboard import ids
from deepaudit.dashboard.app import _layout, clean_query
from deepaudit.dashboard.context import LiveModels
from deepaudit.dashboard.pages import performance
from tests.dashboard.util import find


@pytest.mark.parametrize("bad", ["../runs/x", "/etc", ".hidden", "a\\b", ""])
def test_store_load_takes_ids_not_paths(store, bad):
    with pytest.raises(ValueError):
        RunStore(store.root).load(bad)


def test_run_cache_rejects_malformed_ids(ctx):
    for bad in ("/tmp/evil", "../../x", None, ["a"]):
        with pytest.raises(ValueError, match="not a run id"):
            ctx.runs.get(bad)


def test_query_parameters_are_cleaned(ctx):
    assert clean_query({"a": ["1", "2"], "ctx": "x", "long": "y" * 501, "run": "r", "1x": "z", "n": 3}) == \
        {"a": "2", "run": "r"}
    layout = _layout(performance, ctx)
    # a repeated parameter and a parameter named like an argument neither crash nor confuse the page
    page = layout(model="mortgage", ctx="boom", attribute=["race", "sex"])
    assert find(page, ids.PAGE_TITLE) is not None
    assert getattr(layout(model="mortgage", run=["a", "b"]), "id", None) == ids.NOT_FOUND


def test_debug_server_only_on_loopback(store):
    from deepaudit.dashboard import serve

    with pytest.raises(ValueError, match="--debug.*bypasses authentication"):
        serve.build_server(str(store.root), host="0.0.0.0", insecure=True, debug=True)


def test_failed_model_load_is_not_retried_by_every_request(monkeypatch):
    import deepaudit.audit.target

    calls = []

    def failing(spec, device="cpu"):
        calls.append(spec)
        raise ValueError(f"cannot load {spec}")

    monkeypatch.setattr(deepaudit.audit.target, "load_target", failing)
    live = LiveModels(allowed=["broken"])  # only operator-allowed specs are loaded at all
    for _ in range(3):
        with pytest.raises(ValueError, match="cannot load broken"):
            live.target("broken")
    assert calls == ["broken"] and live.version == 0


def test_html_report_is_sandboxed(app, store):
    run_id = store.list_runs(model="mortgage")["run_id"].iloc[0]
    r = app.server.test_client().get(f"/download/{run_id}/html")
    assert r.status_code == 200 and r.headers["Content-Security-Policy"] == "sandbox"
    assert b"<html" in r.data[:500].lower()


def test_query_cannot_override_the_model_in_the_path(app):
    body = {"output": ".._pages_content.children..._pages_store.data..",
            "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": "/model/mortgage/report"},
                       {"id": "_pages_location", "property": "search", "value": "?model=mnist_cnn"}],
            "changedPropIds": ["_pages_location.pathname"], "state": []}
    r = app.server.test_client().post("/_dash-update-component", json=body)
    assert r.status_code == 200
    assert b"mortgage-" in r.data and b"mnist_cnn-" not in r.data  # the page lists mortgage's runs only


# --- HTTP: forged callback state, probes of Dash's routes, page status, headers (issue 12, item 9) ---


def _outputs(key):
    """The ``outputs`` of a callback request for the callback_map key ``key``."""
    out = [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1]} for o in key.strip(".").split("...")]
    return out if key.startswith("..") else out[0]


def _callback_body(app, state_id, value, input_value="race"):
    """A request for the first server callback (no pattern-matching ids) that reads the store ``state_id``."""
    key, cb = next((k, v) for k, v in app.callback_map.items() if "callback" in v
                   and all(not x["id"].startswith("{") for x in v["inputs"] + v["state"])
                   and any(s["id"] == state_id for s in v["state"]))
    return {"output": key, "outputs": _outputs(key),
            "inputs": [{**i, "value": input_value} for i in cb["inputs"]],
            "state": [{**s, "value": value if s["id"] == state_id else None} for s in cb["state"]],
            "changedPropIds": [f"{cb['inputs'][0]['id']}.{cb['inputs'][0]['property']}"]}


def _router_body(path, search=""):
    return {"output": ".._pages_content.children..._pages_store.data..",
            "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": path},
                       {"id": "_pages_location", "property": "search", "value": search}],
            "changedPropIds": ["_pages_location.pathname"], "state": []}


def _problems(caplog):
    """Log records at WARNING or above, and any record that carries a traceback at INFO or above."""
    return [r for r in caplog.records if r.levelno >= logging.WARNING or (r.exc_info and r.levelno >= logging.INFO)]


def _assert_one_line(caplog, level, text):
    records = _problems(caplog)
    assert len(records) == 1, [r.getMessage()[:200] for r in records]
    r = records[0]
    assert r.name == "deepaudit.dashboard" and r.levelno == level and not r.exc_info
    msg = r.getMessage()
    assert "\n" not in msg and len(msg) < 500 and text in msg, msg


RUN_STATE_STORES = [ids.FAIRNESS_STATE, ids.PERFORMANCE_STATE, ids.QUALITY_STATE, ids.EXPLAIN_NLP_STATE,
                    ids.EXPLAIN_VISION_STATE, ids.EXPLAIN_FINANCE_STATE, ids.RUNS_STATE]
UNKNOWN_RUN = dashboard_app.UNKNOWN_RUN.split("{run_id}")[0]
UNKNOWN_MODEL = dashboard_app.UNKNOWN_MODEL.split("{model}")[0]
BAD_STATE = dashboard_app.BAD_STATE.split("{value}")[0]


@pytest.mark.parametrize("state_id", RUN_STATE_STORES)
@pytest.mark.parametrize("value, reason", [
    ({"run_id": "../../etc"}, UNKNOWN_RUN),
    ({"run_id": "x" * 10_000}, UNKNOWN_RUN),
    ({"model": "mortgage", "run_id": "20260101T000000Z-mortgage-deadbeef"}, UNKNOWN_RUN),  # well-formed, unknown
    ({"run_id": ["a", "b"]}, UNKNOWN_RUN),
    ({"model": "../../etc/passwd"}, UNKNOWN_MODEL),
    ({"model": {"$ne": ""}}, UNKNOWN_MODEL),
    (None, BAD_STATE),
    ("../../etc/passwd", BAD_STATE),
    ({}, BAD_STATE),
])
def test_forged_run_state_is_refused_in_one_log_line(app, caplog, state_id, value, reason):
    caplog.set_level(logging.DEBUG)
    r = app.server.test_client().post("/_dash-update-component", json=_callback_body(app, state_id, value))
    assert r.status_code == 400 and r.get_data(as_text=True) == dashboard_app.BAD_REQUEST
    _assert_one_line(caplog, logging.WARNING, reason.format(store=state_id))


@pytest.mark.parametrize("body, reason", [
    ({"output": "nope.children", "outputs": {"id": "nope", "property": "children"}, "inputs": []},
     dashboard_app.UNKNOWN_OUTPUT.format(output="'nope.children'")),
    ({"output": "runs-url-sync.data", "outputs": {"id": "runs-url-sync", "property": "data"}, "inputs": []},
     dashboard_app.UNKNOWN_OUTPUT.format(output="'runs-url-sync.data'")),  # a clientside callback
    (["not", "a", "request"], dashboard_app.NOT_A_CALLBACK),
    (_router_body("x" * 10_000), "UnsupportedRelativePath"),  # a pathname Dash cannot place under the base path
])
def test_malformed_callback_requests_are_400(app, caplog, body, reason):
    caplog.set_level(logging.DEBUG)
    r = app.server.test_client().post("/_dash-update-component", json=body)
    assert r.status_code == 400 and r.get_data(as_text=True) == dashboard_app.BAD_REQUEST
    _assert_one_line(caplog, logging.WARNING, reason)


def test_valid_run_state_still_answers(app, store):
    run_id = store.list_runs(model="mortgage")["run_id"].iloc[0]
    for state_id in (ids.FAIRNESS_STATE, ids.PERFORMANCE_STATE):
        body = _callback_body(app, state_id, {"model": "mortgage", "run_id": run_id})
        assert app.server.test_client().post("/_dash-update-component", json=body).status_code == 200


def test_unexpected_error_is_500_without_internals(app, store, caplog, monkeypatch):
    def boom(*_, **__):
        raise RuntimeError(f"secret detail {store.root}\nsecond line")

    body = _callback_body(app, ids.FAIRNESS_STATE, {"model": "mortgage", "run_id": store.list_runs(model="mortgage")[
        "run_id"].iloc[0]}, input_value="never-cached")
    monkeypatch.setitem(app.callback_map[body["output"]], "callback", boom)
    caplog.set_level(logging.DEBUG)
    r = app.server.test_client().post("/_dash-update-component", json=body)
    assert r.status_code == 500 and r.get_data(as_text=True) == dashboard_app.SERVER_ERROR
    _assert_one_line(caplog, logging.ERROR, "RuntimeError: secret detail")
    assert any(x.levelno == logging.DEBUG and x.exc_info for x in caplog.records)  # the traceback, for debugging


@pytest.mark.parametrize("path", [
    "/_dash-component-suites/dash/../../etc/passwd",
    "/_dash-component-suites/dash/..%2F..%2Fetc%2Fpasswd",
    "/_dash-component-suites/nonexistent_pkg/x.js",
    "/_dash-component-suites/dash/deps/nope.js",
    "/_dash-component-suites/dash/deps/react@18.v9_9_9m1.3.1.min.js.map",
    "/_dash-component-suites/dash/<script>alert(1)</script>.js",
])
def test_component_suite_probes_are_404(app, caplog, path):
    caplog.set_level(logging.DEBUG)
    r = app.server.test_client().get(path)
    assert r.status_code == 404 and b"<script>" not in r.data
    assert _problems(caplog) == []


def test_component_suites_still_serve_and_cache(app):
    c = app.server.test_client()
    src = re.search(r'src="(/_dash-component-suites/[^"]+)"', c.get("/").get_data(as_text=True)).group(1)
    r = c.get(src)
    assert r.status_code == 200 and "no-store" not in r.headers.get("Cache-Control", "")


def _mortgage_runs(store):
    return store.list_runs(model="mortgage")["run_id"].tolist()


@pytest.mark.parametrize("path, found", [
    ("/", True), ("/model/mortgage", True), ("/model/mortgage/", True), ("/model/mortgage/fairness", True),
    ("/model/sentiment/explanations", True), ("/model/mortgage/runs?run={old}", True),
    ("/model/mortgage/performance?model=nope", True),  # the path decides the model
    ("/nope", False), ("/404", False), ("/model", False), ("/model/unknown", False),
    ("/model/unknown/performance", False), ("/model/mortgage/nope", False), ("/model/mortgage/x/performance", False),
    ("/model/mortgage/performance?run=../../etc", False), ("/model/mortgage/performance?run={other}", False),
    ("/download/nope", False),
])
def test_unknown_pages_answer_404_and_still_show_the_friendly_page(app, store, path, found):
    path = path.format(old=_mortgage_runs(store)[-1], other=store.list_runs(model="sentiment")["run_id"].iloc[0])
    c = app.server.test_client()
    r = c.get(path)
    assert r.status_code == (200 if found else 404)
    assert b'id="_dash-config"' in r.data  # the app loads and its router shows the friendly page
    # the status agrees with what the router renders for the same URL
    pathname, _, search = path.partition("?")
    routed = c.post("/_dash-update-component", json=_router_body(pathname, "?" + search if search else ""))
    assert routed.status_code == 200 and (ids.NOT_FOUND.encode() not in routed.data) == found


def test_no_store_and_csp(app, store):
    c = app.server.test_client()
    page = c.get("/model/mortgage/performance")
    csp = page.headers["Content-Security-Policy"]
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert all(h in script_src for h in app.csp_hashes())  # Dash's inline bootstrap and clientside callbacks
    assert "frame-ancestors 'none'" in csp and "img-src 'self' data:" in csp
    for r in (page, c.get("/nope"), c.get("/_dash-layout"), c.get("/_dash-dependencies"),
              c.post("/_dash-update-component", json=_router_body("/model/mortgage/report"))):
        assert r.headers["Cache-Control"] == "no-store"
        assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" not in c.get("/_dash-layout").headers  # JSON, not a page
    run_id = _mortgage_runs(store)[0]
    report = c.get(f"/download/{run_id}/html")
    assert report.headers["Content-Security-Policy"] == "sandbox" and report.headers["Cache-Control"] == "no-store"


@pytest.mark.browser
def test_pages_render_under_the_csp(server, browser, app, monkeypatch):
    """Headless Chromium reports every CSP violation as a console error; the home page, a model page and a
    page of data: images show none. Without the script hashes the same check sees the violations."""
    pytest.importorskip("selenium")
    import time

    from tests.dashboard.browser_util import console_errors, open_page

    for path, texts in [("/", ("checks failed", "Run history")),
                        ("/model/mortgage/fairness?attribute=race", ("Reference group: white",)),
                        ("/model/mnist_cnn/explanations", ("Explained samples", "Class-average maps"))]:
        open_page(browser, server + path, *texts)
        assert console_errors(browser) == [], path
    monkeypatch.setattr(app, "csp_hashes", lambda *_: [])
    browser.get_log("browser")
    browser.get(server + "/")
    time.sleep(1)
    assert any("Content Security Policy" in e["message"] for e in console_errors(browser))


def test_live_models_never_load_a_spec_read_from_the_store(tmp_path):
    """A stored spec naming a file is data: live features load it only when the operator allowed it."""
    from deepaudit.dashboard.app import create_app
    from deepaudit.dashboard.context import SPEC_NOT_ALLOWED, LiveModels

    marker = tmp_path / "EXECUTED"
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').write('x')\ndef factory():\n    raise RuntimeError('ran')\n")
    spec = f"{evil}:factory"
    with pytest.raises(ValueError) as e:
        LiveModels().target(spec)
    assert str(e.value) == SPEC_NOT_ALLOWED.format(spec=spec) and not marker.exists()
    with pytest.raises(ValueError, match="raised RuntimeError: ran"):
        LiveModels(allowed=[spec]).target(spec)            # the operator vouched for it: it is loaded
    assert marker.exists()
    app = create_app(tmp_path / "store", targets=[spec])
    assert spec in app._deepaudit_ctx.live.allowed


def test_a_damaged_latest_run_never_takes_the_dashboard_down(store, tmp_path):
    """One damaged run (here the mortgage model's only one) leaves every other page serving, and its own pages
    say why instead of answering 500."""
    import shutil

    from deepaudit.dashboard.app import create_app

    copy = RunStore(shutil.copytree(store.root, tmp_path / "s"))
    damaged = _mortgage_runs(copy)[0]
    for run_id in _mortgage_runs(copy):
        (copy.runs_dir / run_id / "result.json").write_text("[" * 100_000 + "]" * 100_000)
    c = create_app(copy).server.test_client()
    assert c.get("/").status_code == 200
    assert c.get("/model/sentiment/performance").status_code == 200
    assert c.get("/model/mortgage/performance").status_code == 404
    routed = c.post("/_dash-update-component", json=_router_body("/model/mortgage/performance"))
    assert routed.status_code == 200 and b"can be read" in routed.data
    routed = c.post("/_dash-update-component", json=_router_body("/model/mortgage/fairness", f"?run={damaged}"))
    assert routed.status_code == 200 and b"cannot be shown" in routed.data and b"recursion limit" in routed.data
    home = c.post("/_dash-update-component", json=_router_body("/"))
    assert home.status_code == 200 and b"sentiment" in home.data


def test_latest_is_the_newest_run_that_reads(tmp_path):
    from deepaudit.dashboard.context import AppContext
    from tests.audit.test_store import _two_runs

    s, old, new = _two_runs(tmp_path)
    (s.runs_dir / new / "result.json").write_text("{")
    ctx = AppContext(s)
    assert ctx.resolve("m").run_id == old
    assert ctx.resolve("m", new) is None and "unreadable" in ctx.damage(new)
    assert ctx.run_by_id(new) is None and ctx.run_by_id(old).run_id == old
