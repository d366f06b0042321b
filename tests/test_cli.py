"""The deepaudit CLI, run as a user would: the console script in a subprocess (``run``), or, where nothing
depends on a fresh process, the function the script calls (``run_here``: no interpreter start-up to pay)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from deepaudit.models import get_weights

BIN = Path(sys.executable).with_name("deepaudit")


def run(*args, check=True):
    exe = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "deepaudit.audit.cli"]
    return subprocess.run(exe + list(args), capture_output=True, text=True, check=check, timeout=600)


def run_here(capsys, *args, check=True):
    """``deepaudit ARGS`` through ``deepaudit.audit.cli.main`` in this process: (returncode, stdout, stderr)."""
    from deepaudit.audit.cli import main

    rc = main(list(args))
    out, err = capsys.readouterr()
    assert not check or rc == 0, err[-2000:]
    return subprocess.CompletedProcess(["deepaudit", *args], rc, out, err)


def test_models_json_lists_every_model_with_its_card_fields(capsys):
    rows = json.loads(run_here(capsys, "models", "--json").stdout)
    assert [r["name"] for r in rows] == ["mnist_cnn", "mnist_cnn_shortcut", "mortgage", "sentiment", "sentiment_bert"]
    for r in rows:
        meta = get_weights(r["name"]).meta
        assert r["sha256"] == meta["sha256"] and r["num_params"] == meta["num_params"]
        assert r["metrics"] == meta["metrics"] and r["dataset"] and r["domain"] and r["task"]
        assert r["card"]["intended_use"] == meta["card"]["intended_use"]


def test_models_table(capsys):
    out = run_here(capsys, "models").stdout
    assert "mortgage" in out and "roc_auc=" in out


def test_model_commands_come_from_the_models_plugin():
    """`models`, `evaluate` and `train` are contributed by deepaudit.models.cli (deepaudit.commands), not by
    deepaudit.audit.cli."""
    from importlib.metadata import entry_points

    import deepaudit.audit.cli

    assert "deepaudit.models.cli:add_commands" in {ep.value for ep in entry_points(group="deepaudit.commands")}
    assert not hasattr(deepaudit.audit.cli, "cmd_models") and not hasattr(deepaudit.audit.cli, "cmd_evaluate")
    out = run("--help").stdout
    for command in ("models", "evaluate", "train", "describe", "run", "report", "list"):
        assert command in out
    assert "--smoke" in run("train", "--help").stdout and "--all" in run("evaluate", "--help").stdout


def test_evaluate_reproduces_card(capsys):
    res = json.loads(run_here(capsys, "evaluate", "mortgage", "mnist_cnn", "--device", "cpu", "--json").stdout)
    assert [r["matches_card"] for r in res] == [True, True]


def test_evaluate_names_card_value_recomputed_value_and_difference(monkeypatch, capsys):
    """A card value moved beyond float32 noise is reported with both values and the gap (exit 1)."""
    from deepaudit.audit.cli import main

    metrics = get_weights("mortgage").meta["metrics"]
    monkeypatch.setitem(metrics, "brier", metrics["brier"] + 1e-3)
    monkeypatch.setitem(metrics, "n_correct", metrics["n_correct"] + 1)
    assert main(["evaluate", "mortgage", "--device", "cpu"]) == 1
    out, err = capsys.readouterr()
    assert "DIFFERS from model card" in out
    brier = next(line for line in out.splitlines() if line.strip().startswith("brier:"))
    assert f"card {metrics['brier']!r}" in brier and "recomputed 0.0742" in brier and "difference -0.001" in brier
    assert "n_correct: card" in out and "difference -1 (exact count)" in out
    assert "Fix: reinstall deepaudit" in err


def test_unknown_model_exit_code_and_message(capsys):
    res = run_here(capsys, "evaluate", "nope", check=False)
    assert res.returncode == 2
    assert "unknown model 'nope'" in res.stderr and "Fix:" in res.stderr


def test_cuda_unavailable_message(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    res = run_here(capsys, "evaluate", "mortgage", "--device", "cuda", check=False)
    assert res.returncode == 2 and "no CUDA device is available" in res.stderr


@pytest.fixture(scope="module")
def smoke_train(tmp_path_factory):
    """``smoke_train(name)``: (out dir, printed JSON) of one `deepaudit train NAME --smoke`, once per module."""
    done = {}

    def train(name):
        if name not in done:
            out = tmp_path_factory.mktemp(f"smoke_{name}")
            done[name] = (out, json.loads(run("train", name, "--smoke", "--out", str(out)).stdout))
        return done[name]

    return train


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mortgage", "mnist_cnn", "sentiment"])
def test_train_smoke_writes_loadable_weights(smoke_train, name):
    out, info = smoke_train(name)
    written = out / get_weights(name).path.name
    meta = json.loads(written.with_suffix(".json").read_text())
    assert meta["smoke"] is True and meta["sha256"] == info["sha256"]
    assert set(meta["metrics"]) == set(get_weights(name).meta["metrics"])


@pytest.mark.slow
def test_training_is_reproducible(smoke_train, tmp_path, capsys):
    """A second smoke training of mortgage (the first is the module's, in a subprocess; this one in this process,
    at the same thread count) writes the same weights."""
    import torch

    _, a = smoke_train("mortgage")
    # training asks torch for deterministic kernels process-wide; put the flags back for the tests after this one
    flags = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        b = json.loads(run_here(capsys, "train", "mortgage", "--smoke", "--out", str(tmp_path / "b")).stdout)
    finally:
        torch.use_deterministic_algorithms(flags[0], warn_only=flags[1])
    assert a["sha256"] == b["sha256"]


def test_a_reader_that_goes_away_is_not_an_error(tmp_path):
    """`deepaudit list | head -1`: the pipe closes before deepaudit writes; no error message, no traceback."""
    exe = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "deepaudit.audit.cli"]
    proc = subprocess.Popen(exe + ["models"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()   # closed before the child has even imported: its first write fails with EPIPE
    _, err = proc.communicate(timeout=120)
    assert err.decode() == ""
    assert proc.returncode == 141


def test_console_script_output_arrives_whole_through_a_pipe(tmp_path):
    """The console script ends with os._exit after flushing: everything printed still reaches the reader."""
    out = run("models", "--json").stdout
    assert {m["name"] for m in json.loads(out)} >= {"mortgage", "mnist_cnn", "sentiment"}
