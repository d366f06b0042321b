"""The dashboard's shared view of the run index: read once for many requests, read again when the store changes."""
from __future__ import annotations

import shutil

from deepaudit.audit.store import RunStore
from deepaudit.dashboard.context import AppContext, IndexSnapshot
from tests.audit.test_store import PRED, _result


def test_snapshot_is_shared_until_the_store_changes(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "s")
    first = store.write_run(_result("alpha"), predictions=PRED)
    reads = []
    real = store.list_runs
    monkeypatch.setattr(store, "list_runs", lambda **kw: reads.append(kw) or real(**kw))
    snap = IndexSnapshot(store, max_age_s=3600)
    assert snap.get()["run_id"].tolist() == [first.run_id]
    assert snap.get() is snap.get() and len(reads) == 1              # unchanged store: one read for many

    second = store.write_run(_result("beta"), predictions=PRED)         # another writer adds a run
    assert set(snap.get()["run_id"]) == {first.run_id, second.run_id} and len(reads) == 2

    shutil.rmtree(store.runs_dir / first.run_id)                         # a run deleted by hand
    assert snap.get()["run_id"].tolist() == [second.run_id]


def test_snapshot_is_read_again_after_its_maximum_age(tmp_path):
    store = RunStore(tmp_path / "s")
    store.write_run(_result("alpha"), predictions=PRED)
    snap = IndexSnapshot(store, max_age_s=0.0)
    assert snap.get() is not snap.get()


def test_context_answers_model_and_run_questions_from_the_snapshot(tmp_path):
    store = RunStore(tmp_path / "s")
    a1 = store.write_run(_result("alpha"), predictions=PRED)
    b1 = store.write_run(_result("beta"), predictions=PRED)
    ctx = AppContext(store)
    assert ctx.known_models() == ["alpha", "beta"]
    assert [r["run_id"] for r in ctx.model_runs("alpha")] == [a1.run_id]
    assert ctx.run_by_id(b1.run_id).run_id == b1.run_id
    assert ctx.run_by_id(a1.run_id.replace("alpha", "gamma")) is None and ctx.model_runs("gamma") == []
    a2 = store.write_run(_result("alpha"), predictions=PRED)
    assert {r["run_id"] for r in ctx.model_runs("alpha")} == {a1.run_id, a2.run_id}   # seen at once
