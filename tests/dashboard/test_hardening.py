"""Inputs a client controls never become paths, crashes or unbounded state (review findings)."""
import pytest

from audit.store import RunStore
from dashboard import ids
from dashboard.app import _layout, clean_query
from dashboard.context import LiveModels
from dashboard.pages import performance
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
    from dashboard import serve

    with pytest.raises(ValueError, match="--debug.*bypasses authentication"):
        serve.build_server(str(store.root), host="0.0.0.0", insecure=True, debug=True)


def test_failed_model_load_is_not_retried_by_every_request(monkeypatch):
    import audit.target

    calls = []

    def failing(spec, device="cpu"):
        calls.append(spec)
        raise ValueError(f"cannot load {spec}")

    monkeypatch.setattr(audit.target, "load_target", failing)
    live = LiveModels()
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
