"""Reviewer sign-off in the dashboard: recorded only for an authenticated user (named by the server, never by
the request), refused otherwise; shown on the run's Report page with the run's integrity."""
from __future__ import annotations

import shutil
from base64 import b64encode

import pytest

from deepaudit.audit.store import RunStore
from deepaudit.dashboard import auth, ids, serve
from tests.dashboard.util import find
from tests.dashboard.util import text as text_of


def _basic(user, pw):
    return {"Authorization": "Basic " + b64encode(f"{user}:{pw}".encode()).decode()}


@pytest.fixture
def own_store(store, tmp_path):
    """A copy of the session store (runs, index and chain), so sign-offs stay in this test."""
    root = tmp_path / "store"
    shutil.copytree(store.root, root, ignore=shutil.ignore_patterns("reports"))
    return RunStore(root)


def _body(app, run_id, decision="accepted_with_conditions", conditions="monitor min30", comment="ok",
          reviewer_claimed=None):
    key = next(k for k in app.callback_map if ids.SIGNOFF_STATUS in k)
    state = [{"id": ids.RUN_SHOWN, "property": "data", "value": run_id},
             {"id": ids.SIGNOFF_DECISION, "property": "value", "value": decision},
             {"id": ids.SIGNOFF_CONDITIONS, "property": "value", "value": conditions},
             {"id": ids.SIGNOFF_COMMENT, "property": "value", "value": comment}]
    return {"output": key, "outputs": [{"id": ids.SIGNOFF_STATUS, "property": "children"},
                                       {"id": ids.SIGNOFF_LIST + "-box", "property": "children"}],
            "inputs": [{"id": ids.SIGNOFF_SUBMIT, "property": "n_clicks", "value": 1}], "state": state,
            "changedPropIds": [f"{ids.SIGNOFF_SUBMIT}.n_clicks"]}


def test_an_authenticated_reviewer_signs_off_and_an_unauthenticated_request_is_refused(own_store, monkeypatch):
    monkeypatch.setenv(auth.ENV_VAR, f"alice:{auth.hash_password('correct horse')}")
    app = serve.build_server(str(own_store.root), host="0.0.0.0")
    c = app.server.test_client()
    run_id = own_store.list_runs(model="mortgage")["run_id"].iloc[0]
    # no credentials: refused by the server before any callback runs, nothing recorded
    assert c.post("/_dash-update-component", json=_body(app, run_id)).status_code == 401
    assert c.post("/_dash-update-component", json=_body(app, run_id),
                  headers=_basic("alice", "wrong")).status_code == 401
    assert own_store.signoffs(run_id) == []
    r = c.post("/_dash-update-component", json=_body(app, run_id), headers=_basic("alice", "correct horse"))
    assert r.status_code == 200 and b"Recorded: accepted with conditions by alice" in r.data
    got = own_store.signoffs(run_id)
    assert [(s["reviewer"], s["decision"], s["conditions"], s["via"]) for s in got] == [
        ("alice", "accepted_with_conditions", "monitor min30", "dashboard")]
    # conditions are required with that decision: not recorded, and the reason is said
    r = c.post("/_dash-update-component", json=_body(app, run_id, conditions=""),
               headers=_basic("alice", "correct horse"))
    assert r.status_code == 200 and b"Not recorded" in r.data and len(own_store.signoffs(run_id)) == 1
    assert own_store.verify().ok


def test_without_credentials_the_dashboard_refuses_signoffs(own_store):
    app = serve.build_server(str(own_store.root), host="127.0.0.1")   # loopback, no credentials configured
    run_id = own_store.list_runs(model="mortgage")["run_id"].iloc[0]
    r = app.server.test_client().post("/_dash-update-component", json=_body(app, run_id))
    assert r.status_code == 200 and b"Refused: sign-offs need an authenticated reviewer" in r.data
    assert own_store.signoffs(run_id) == []


def test_report_page_shows_integrity_and_signoffs(own_store):
    from deepaudit.dashboard.context import AppContext
    from deepaudit.dashboard.pages import report

    run_id = own_store.list_runs(model="mortgage")["run_id"].iloc[0]
    own_store.signoff(run_id, reviewer="B. Validator", decision="rejected", comment="proxy too strong")
    from deepaudit.audit.integrity import manifest_hash

    layout = report.build(AppContext(own_store), "mortgage", run_id)
    rows = {r["field"]: r["value"] for r in find(layout, ids.REPORT_INTEGRITY).data}
    assert rows["manifest sha256"] == manifest_hash(own_store.runs_dir / run_id)
    assert rows["hash chain"].startswith("entry ") and rows["signature"].startswith("not signed")
    (signed,) = find(layout, ids.SIGNOFF_LIST).data
    assert (signed["reviewer"], signed["decision"], signed["comment"]) == ("B. Validator", "rejected",
                                                                           "proxy too strong")
    assert "only by an authenticated reviewer" in text_of(layout)


def test_a_downloaded_report_follows_a_later_signoff(own_store):
    """The dashboard's report cache is keyed by the run's integrity state: a sign-off recorded after a download
    appears in the next download."""
    import json

    from deepaudit.dashboard.context import AppContext
    from deepaudit.dashboard.downloads import report_file

    ctx = AppContext(own_store)
    run_id = own_store.list_runs(model="mortgage")["run_id"].iloc[0]
    before = json.loads(report_file(ctx, run_id, "json").read_text())["metadata"]["signoffs"]
    own_store.signoff(run_id, reviewer="C. Reviewer", decision="accepted")
    after = json.loads(report_file(ctx, run_id, "json").read_text())["metadata"]["signoffs"]
    assert before == [] and [s["reviewer"] for s in after] == ["C. Reviewer"]

