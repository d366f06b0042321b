"""Run store: atomic writes, index, reload, stale cleanup."""
from __future__ import annotations

import copy
import json
import os

import numpy as np
import pandas as pd
import pytest

from audit.schema import SCHEMA_VERSION, Check, validate_result
from audit.store import RunStore, new_run_id


def _result(model="m", checks=None):
    return {
        "schema_version": SCHEMA_VERSION, "run_id": new_run_id(model),
        "model": {"name": model, "domain": "other", "task": "t", "class_names": ["a", "b"], "favorable_label": "b"},
        "dataset": {"n_samples": 2, "sha256": "d" * 64, "groups": {}},
        "provenance": {"weights_sha256": "w" * 64, "data_sha256": "d" * 64, "seed": 0, "device": "cpu",
                       "packages": {}, "created_at": "2026-01-01T00:00:00+00:00", "timings": {"total_s": 1.0}},
        "performance": {"overall": {"accuracy": 0.5}}, "fairness": {"status": "computed", "attributes": []},
        "explanations": {"methods": {}}, "quality": {},
        "checks": checks if checks is not None else [Check("x_ok", "d", 1.0, 2.0).to_dict()],
    }


PRED = pd.DataFrame({"sample_id": [0, 1], "y_true": [0, 1], "y_pred": [1, 1], "score": [0.6, 0.7],
                     "race": ["white", None]})


def test_write_list_load_roundtrip(tmp_path):
    store = RunStore(tmp_path / "s")
    r = _result(checks=[Check("a_ok", "d", 1.0, 2.0).to_dict(), Check("b_bad", "d", 3.0, 2.0).to_dict()])
    run = store.write_run(r, predictions=PRED, arrays={"attr_ig": {"attributions": np.eye(2)}})
    runs = store.list_runs()
    assert runs["run_id"].tolist() == [r["run_id"]]
    assert runs["status"].iloc[0] == "fail" and runs["n_failed"].iloc[0] == 1
    loaded = store.load(r["run_id"])
    assert loaded.result == run.result
    np.testing.assert_array_equal(loaded.arrays("attr_ig")["attributions"], np.eye(2))
    pd.testing.assert_frame_equal(loaded.predictions(), PRED)
    assert store.load("latest").run_id == r["run_id"]
    assert store.load("latest:m").run_id == r["run_id"]
    with pytest.raises(ValueError, match="no run 'nope'"):
        store.load("nope")
    with pytest.raises(ValueError, match="has no array file 'x'"):
        loaded.arrays("x")


def test_invalid_result_is_not_written(tmp_path):
    store = RunStore(tmp_path)
    r = _result()
    del r["checks"]
    with pytest.raises(ValueError, match="'checks' is a required property"):
        store.write_run(r, predictions=PRED)
    assert store.list_runs().empty


def test_passed_must_agree_with_threshold():
    r = _result()
    r["checks"][0]["passed"] = False
    with pytest.raises(ValueError, match="'passed' disagrees"):
        validate_result(r)
    newer = copy.deepcopy(_result())
    newer["schema_version"] = "99.0"
    with pytest.raises(ValueError, match="newer than this deepaudit reads"):
        validate_result(newer)


def test_failure_while_writing_leaves_nothing(tmp_path):
    store = RunStore(tmp_path)

    class Boom(pd.DataFrame):
        def to_parquet(self, *a, **k):
            raise KeyboardInterrupt("killed mid-write")

    with pytest.raises(KeyboardInterrupt):
        store.write_run(_result(), predictions=Boom(PRED))
    assert store.list_runs().empty
    assert not any((tmp_path / ".tmp").iterdir())
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    store.write_run(_result(), predictions=PRED)   # the next run works
    assert len(store.list_runs()) == 1


def test_stale_temp_dirs_of_dead_processes_are_removed(tmp_path):
    store = RunStore(tmp_path)
    dead = tmp_path / ".tmp" / "20260101T000000Z-m-deadbeef.999999999"
    alive = tmp_path / ".tmp" / f"20260101T000000Z-m-cafecafe.{os.getpid()}"
    dead.mkdir(parents=True)
    alive.mkdir(parents=True)
    assert store.clean_stale() == [dead]
    assert alive.exists() and not dead.exists()


def test_index_rebuilt_from_run_directories(tmp_path):
    store = RunStore(tmp_path)
    a = store.write_run(_result("m1"), predictions=PRED)
    b = store.write_run(_result("m2"), predictions=PRED)
    store.index_path.unlink()
    assert set(store.list_runs()["run_id"]) == {a.run_id, b.run_id}
    assert store.list_runs(model="m2")["run_id"].tolist() == [b.run_id]
    json.loads((a.path / "result.json").read_text())  # plain JSON, no NaN tokens


WRITER = """
import sys, time, pandas as pd
sys.path.insert(0, {tests!r})
from test_store import PRED, _result
from audit.store import RunStore

class Slow(pd.DataFrame):
    def to_parquet(self, *a, **k):
        print("writing", flush=True)
        time.sleep(60)

RunStore({root!r}).write_run(_result(), predictions=Slow(PRED))
"""


def test_process_killed_during_the_write_leaves_no_visible_run(tmp_path):
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = tmp_path / "store"
    script = WRITER.format(tests=str(Path(__file__).parent), root=str(root))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"     # inside write_run, temp dir populated
    assert any((root / ".tmp").iterdir())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = RunStore(root)
    assert store.list_runs().empty and not (root / "runs").exists()
    store.write_run(_result(), predictions=PRED)           # next run works and sweeps the leftovers
    assert len(store.list_runs()) == 1
    assert not any((root / ".tmp").iterdir())
