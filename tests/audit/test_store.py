"""Run store: atomic writes, index, reload, stale cleanup."""
from __future__ import annotations

import copy
import json
import os

import numpy as np
import pandas as pd
import pytest

from deepaudit.audit.schema import SCHEMA_VERSION, Check, validate_result
from deepaudit.audit.store import RunStore, new_run_id


def _result(model="m", checks=None):
    return {
        "schema_version": SCHEMA_VERSION, "run_id": new_run_id(model),
        "model": {"name": model, "domain": "other", "task": "t", "class_names": ["a", "b"], "favorable_label": "b",
                  "spec": model},
        "dataset": {"n_samples": 2, "sha256": "d" * 64, "groups": {}},
        "provenance": {"weights_sha256": "w" * 64, "data_sha256": "d" * 64, "seed": 0, "device": "cpu",
                       "packages": {}, "created_at": "2026-01-01T00:00:00+00:00", "timings": {"total_s": 1.0}},
        "performance": {"overall": {"n": 2, "accuracy": 0.5, "n_correct": 1, "log_loss": 0.6},
                        "per_class": [{"class": "a", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
                                      {"class": "b", "precision": 0.5, "recall": 1.0, "f1": 0.667, "support": 1}],
                        "card_metrics": {}},
        "fairness": {"status": "computed", "attributes": []},
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


@pytest.mark.parametrize(("name", "age_h", "removed"), [
    ("{run}.{me}.999999999", 0, True),            # this host, process gone: removed at once
    ("{run}.{me}.{pid}", 0, False),               # this host, process alive
    ("{run}.{me}.{pid}", 48, False),              # alive wins over age: a long write is not cut short
    ("{run}.0badc0de.999999999", 0, False),       # another host / container: its PIDs mean nothing here
    ("{run}.0badc0de.{pid}", 0, False),           # ... even when the number is a live PID of ours
    ("{run}.0badc0de.1", 23, False),              # ... kept while younger than STALE_AFTER_S
    ("{run}.0badc0de.1", 25, True),               # ... removed once older
    ("{run}.999999999", 0, False),                # older name without a host: judged by age only
    ("{run}.999999999", 25, True),
])
def test_stale_temp_dirs_are_judged_safely_across_hosts(tmp_path, name, age_h, removed):
    import time

    from deepaudit.audit.store import host_id

    store = RunStore(tmp_path)
    d = tmp_path / ".tmp" / name.format(run="20260101T000000Z-m-deadbeef", me=host_id(), pid=os.getpid())
    d.mkdir(parents=True)
    then = time.time() - age_h * 3600
    os.utime(d, (then, then))
    assert store.clean_stale() == ([d] if removed else [])
    assert d.exists() is not removed


def test_host_id_differs_in_another_pid_namespace():
    """`unshare -p` gives the same hostname but another PID namespace: its writer must look foreign."""
    import shutil
    import subprocess
    import sys

    from deepaudit.audit.store import host_id

    if not shutil.which("unshare") or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) to create a PID namespace")
    code = "from deepaudit.audit.store import host_id; print(host_id())"
    res = subprocess.run(["unshare", "-p", "-f", "--mount-proc", sys.executable, "-c", code],
                         capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        pytest.skip(f"unshare -p is not permitted here: {res.stderr.strip()[:200]}")
    assert res.stdout.strip() != host_id()


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
from deepaudit.audit.store import RunStore

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


def test_writer_in_another_pid_namespace_is_not_swept(tmp_path):
    """Two writers on one store, one inside `unshare -p`: the other's clean-up must leave its temp dir alone."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    if not shutil.which("unshare") or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) to create a PID namespace")
    root = tmp_path / "store"
    script = WRITER.format(tests=str(Path(__file__).parent), root=str(root))
    proc = subprocess.Popen(["unshare", "-p", "-f", "--mount-proc", sys.executable, "-c", script],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        if line != "writing":
            pytest.skip(f"unshare -p is not permitted here: {proc.stderr.read()[:200]}")
        (foreign,) = list((root / ".tmp").iterdir())
        # Its PID (small, in its own namespace) is dead or someone else's here: only the host id protects it.
        RunStore(root).write_run(_result(), predictions=PRED)
        assert foreign.exists()
    finally:
        import psutil

        # The writer is PID 1 of its namespace, which ignores signals from inside it: kill it from here.
        for child in psutil.Process(proc.pid).children(recursive=True):
            child.kill()
        proc.kill()
        proc.wait()


@pytest.mark.filterwarnings("ignore::UserWarning")   # to_dict warns about the duplicated column
def test_tables_convert_as_to_dict_records_would():
    from deepaudit.audit.store import to_jsonable

    frames = [
        pd.DataFrame({"a": [1, 2, 3], "b": [0.5, np.nan, np.inf], "c": ["x", None, "z"], "d": [True, False, True]}),
        pd.DataFrame({"s": pd.Series(["a", None, "c"], dtype="string"), "t": pd.Series(["a", None, "c"], dtype="str"),
                      "f32": np.array([1.5, np.nan, 2.0], dtype=np.float32),
                      "u8": np.array([1, 2, 3], dtype=np.uint8)}),
        pd.DataFrame({"o": pd.Series([np.int64(3), np.float64(np.nan), {"k": np.float32(1.5)}], dtype=object),
                      "cat": pd.Categorical(["u", None, "u"]), "n": pd.array([1, None, 3], dtype="Int64"),
                      "l": [[1, np.int64(2)], (), None]}),
        pd.DataFrame(columns=["a", "b"]),
        pd.DataFrame(index=[0, 1]),
        pd.DataFrame([[1, 2.5], [3, 4.5]], columns=["a", "a"]),
        pd.DataFrame({1: [1.0], "x": ["y"]}),
    ]
    for df in frames:
        want = [to_jsonable(dict(r)) for r in df.to_dict(orient="records")]
        got = to_jsonable(df)
        assert json.dumps(got) == json.dumps(want)
        assert [[type(v) for v in r.values()] for r in got] == [[type(v) for v in r.values()] for r in want]


def _two_runs(tmp_path):
    store = RunStore(tmp_path / "s")
    old, new = _result(), _result()
    new["provenance"]["created_at"] = "2026-01-02T00:00:00+00:00"
    store.write_run(old, predictions=PRED, arrays={"attr_ig": {"attributions": np.eye(2)}})
    store.write_run(new, predictions=PRED, arrays={"attr_ig": {"attributions": np.eye(2)}})
    return store, old["run_id"], new["run_id"]


@pytest.mark.parametrize("where", ["whole", "inside"])
def test_deeply_nested_result_json_is_a_damaged_run_not_a_crash(tmp_path, where, caplog):
    store, old, new = _two_runs(tmp_path)
    deep = "[" * 100_000 + "]" * 100_000
    path = store.runs_dir / new / "result.json"
    text = path.read_text()
    path.write_text(deep if where == "whole" else text.replace('"quality": {}', f'"quality": {{"x": {deep}}}'))
    with pytest.raises(ValueError, match=f"run {new} .* is damaged: .*recursion limit"):
        store.load(new)
    assert store.load("latest").run_id == old          # the newest readable run, with a warning naming the other
    assert f"skipping damaged run {store.runs_dir / new}" in caplog.text
    (store.root / "index.sqlite").unlink()             # a rebuild reads every directory: still no crash
    assert store.list_runs()["run_id"].tolist() == [old]


def test_latest_with_nothing_to_match_is_a_clear_error(tmp_path):
    store, _, _ = _two_runs(tmp_path)
    assert store.list_runs(model="nosuch").empty and store.list_runs(status="fail").empty
    for spec in ("latest:nosuch",):
        with pytest.raises(ValueError, match="no run 'latest:nosuch'"):
            store.load(spec)
    empty = RunStore(tmp_path / "empty")
    (empty.root / "runs").mkdir(parents=True, exist_ok=True)
    assert empty.list_runs().empty
    with pytest.raises(ValueError, match="no run 'latest'"):
        empty.load("latest")


def test_an_index_row_naming_a_path_is_not_a_run(tmp_path):
    """A planted index row ('../../elsewhere/runs/ID', newest date) must not make `latest` read outside the store."""
    import sqlite3

    store, old, new = _two_runs(tmp_path)
    outside, _, planted = _two_runs(tmp_path / "elsewhere")
    store.list_runs()
    con = sqlite3.connect(store.root / "index.sqlite")
    row = con.execute("SELECT * FROM runs WHERE run_id = ?", (new,)).fetchone()
    cols = [d[0] for d in con.execute("SELECT * FROM runs").description]
    values = dict(zip(cols, row), run_id=f"../../elsewhere/s/runs/{planted}", created_at="2099-01-01T00:00:00+00:00")
    con.execute(f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", list(values.values()))
    con.commit()
    con.close()
    assert store.list_runs()["run_id"].tolist() == [new, old]
    assert store.load("latest").run_id == new


def test_a_damaged_array_file_is_a_clear_error(tmp_path):
    store, _, new = _two_runs(tmp_path)
    p = store.runs_dir / new / "arrays" / "attr_ig.npz"
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    with pytest.raises(ValueError, match="'attr_ig' .* cannot be read .*Fix: restore"):
        store.load(new).arrays("attr_ig")
    np.savez(p, attributions=np.array([{"a": 1}], dtype=object))     # pickled data: refused, never unpickled
    with pytest.raises(ValueError, match="cannot be read .*allow_pickle"):
        store.load(new).arrays("attr_ig")
