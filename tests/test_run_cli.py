"""`deepaudit run` and `deepaudit list` as a user runs them (subprocesses)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deepaudit.audit.schema import validate_result
from deepaudit.audit.store import RunStore

BIN = Path(sys.executable).with_name("deepaudit")


def cli(*args, check=True, timeout=600):
    exe = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "deepaudit.audit.cli"]
    return subprocess.run(exe + list(args), capture_output=True, text=True, check=check, timeout=timeout)


def cli_here(capsys, *args):
    """The same command through ``deepaudit.audit.cli.main`` in this process (no interpreter start-up):
    (rc, out, err)."""
    from deepaudit.audit.cli import main

    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.slow
def test_run_json_then_list(tmp_path, capsys):
    store = tmp_path / "runs"
    out = cli("run", "mnist_cnn_shortcut", "--store", str(store), "--samples", "40", "--device", "cpu", "--json")
    rows = json.loads(out.stdout)
    assert [r["model"] for r in rows] == ["mnist_cnn_shortcut"]
    run_dir = Path(rows[0]["path"])
    result = validate_result(json.loads((run_dir / "result.json").read_text()))
    assert result["run_id"] == rows[0]["run_id"]
    assert "shortcut_corner_mark" in rows[0]["failed"]
    shortcut = next(c for c in result["checks"] if c["id"] == "shortcut_corner_mark")
    assert not shortcut["passed"] and shortcut["value"] > shortcut["threshold"]
    assert (run_dir / "predictions.parquet").is_file()
    assert (run_dir / "arrays" / "attr_grad_cam.npz").is_file()
    listed = json.loads(cli("list", "--store", str(store), "--json").stdout)
    assert [r["run_id"] for r in listed] == [rows[0]["run_id"]]
    assert listed[0]["status"] == "fail" and listed[0]["model"] == "mnist_cnn_shortcut"
    rc, out, _ = cli_here(capsys, "list", "--store", store)
    assert rc == 0 and "mnist_cnn_shortcut" in out


def _wait_for_stage(proc: subprocess.Popen, master: int, marker: bytes, timeout: float) -> bytes:
    """What the child wrote to its terminal (stderr) until ``marker`` appeared; fails if it exits first."""
    import select

    seen, deadline = b"", time.monotonic() + timeout
    while marker not in seen:
        assert proc.poll() is None, (proc.returncode, seen.decode(errors="replace"))
        assert time.monotonic() < deadline, f"no {marker!r} within {timeout} s: {seen.decode(errors='replace')}"
        if select.select([master], [], [], 0.2)[0]:
            try:
                seen += os.read(master, 65536)
            except OSError:  # the child closed its terminal
                pass
    return seen


@pytest.mark.slow
def test_interrupted_run_leaves_nothing_and_next_run_works(tmp_path, capsys):
    """SIGKILL while the audit computes (its progress line on a terminal names the stage): nothing is stored."""
    import fcntl
    import pty
    import struct
    import termios

    store = tmp_path / "runs"
    exe = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "deepaudit.audit.cli"]
    master, slave = pty.openpty()  # stderr is a terminal, so the run shows its stages (progress is on)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 160, 0, 0))  # 0 columns would hide the text
    proc = subprocess.Popen(exe + ["run", "mortgage", "--store", str(store), "--device", "cpu"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, start_new_session=True)
    os.close(slave)
    try:
        # the first stage after loading data and model: well before the atomic write at the end
        _wait_for_stage(proc, master, b"mortgage: predict", timeout=300)
        assert proc.poll() is None
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(master)
    assert proc.returncode == -signal.SIGKILL
    assert RunStore(store).list_runs().empty
    assert not (store / "runs").exists() or not any((store / "runs").iterdir())
    rc, out, err = cli_here(capsys, "run", "mortgage", "--store", store, "--samples", "20", "--json", "--no-progress")
    assert rc == 0 and len(json.loads(out)) == 1, err[-2000:]
    assert len(RunStore(store).list_runs()) == 1
    assert not (store / ".tmp").exists() or not any((store / ".tmp").iterdir())


USER_TARGET = '''
import torch
from torch import nn
from deepaudit.audit.target import AuditTarget, EvalData

def factory():
    x = torch.randn(8, 3)
    {mutation}
    return AuditTarget(name="user", domain="other", task="t", class_names=["a", "b"], favorable_label="b",
                       model=nn.Linear(3, 2), eval_data=EvalData(inputs=x, labels=[0, 1] * (len(x) // 2)))
'''


@pytest.mark.slow
def test_bad_user_targets_exit_2_with_the_fix(tmp_path, capsys):
    """The console script on a NaN input, then (in this process, no start-up to pay) an empty one."""
    cases = {"x[2, 1] = float('nan')": "non-finite values", "x = x[:0]": "evaluation data is empty"}
    for i, (mutation, fragment) in enumerate(cases.items()):
        f = tmp_path / f"t{i}.py"
        f.write_text(USER_TARGET.format(mutation=mutation))
        args = ("run", f"{f}:factory", "--store", str(tmp_path / "s"), "--no-progress")
        if i == 0:
            res = cli(*args, check=False)
            rc, err = res.returncode, res.stderr
        else:
            rc, _, err = cli_here(capsys, *args)
        assert rc == 2, err
        assert fragment in err and "Fix:" in err
    assert RunStore(tmp_path / "s").list_runs().empty


def test_bad_options_exit_2_with_the_fix(tmp_path, capsys):
    """The same command line in this process (`main` is what the `deepaudit` script calls): no start-up to pay."""
    from deepaudit.audit.cli import main

    def run(*args):
        rc = main(["run", *args, "--store", str(tmp_path / "s"), "--no-progress"])
        return rc, capsys.readouterr().err

    rc, err = run("mortgage", "--methods", "grad_cam")
    assert rc == 2 and "does not apply to tabular target" in err
    bad = tmp_path / "bad.toml"
    bad.write_text("[fairness]\nimpact_ratio = 0.8\n")
    rc, err = run("mortgage", "--policy", str(bad))
    assert rc == 2 and "unknown key 'impact_ratio'" in err
    rc, err = run("nope")
    assert rc == 2 and "mortgage" in err
    assert RunStore(tmp_path / "s").list_runs().empty


def test_list_on_empty_store(tmp_path):
    assert "no runs in" in cli("list", "--store", str(tmp_path / "none")).stdout


@pytest.mark.slow
def test_gpu_check_without_cuda_says_so():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is available here: the no-GPU message cannot be shown")
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_check.py"
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert "no CUDA device is available here" in res.stderr and "make demo" in res.stderr
