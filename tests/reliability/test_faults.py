"""Fault and bad-input cases against the real CLI and a real store: each with its exit code and message.

One table (``CASES``): a setup that damages a copy of a small real store (or writes a bad target file),
the command, the expected exit code and substrings of stdout/stderr. Cases that need a real read-only
directory run the CLI as an unprivileged user when the tests run as root (root ignores permissions).
Interrupt cases are deterministic: they hand-shake on a line the child prints, never on a sleep. Cases marked
``here`` need nothing of a fresh process (no other user, environment read at start-up or log output) and run
through ``deepaudit.audit.cli.main``, the function the ``deepaudit`` script calls, in the test process.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

BIN = Path(sys.executable).with_name("deepaudit")

TINY = textwrap.dedent('''
    import numpy as np, pandas as pd, torch
    from deepaudit.audit.target import AuditTarget, EvalData

    def factory(n=48, extra=None):
        torch.manual_seed(0)
        rng = np.random.RandomState(0)
        model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
        x = torch.tensor(rng.randn(n, 3), dtype=torch.float32)
        groups = pd.DataFrame({"sex": np.where(np.arange(n) % 3 == 0, "f", "m")})
        if extra:
            groups[extra] = "x"
        return AuditTarget(
            name="tiny", domain="other", task="toy credit", class_names=["deny", "approve"],
            favorable_label="approve", model=model,
            eval_data=EvalData(inputs=x, labels=(rng.rand(n) > 0.4).astype(int), groups=groups,
                               raw=pd.DataFrame(x.numpy(), columns=["a", "b", "c"])),
            sensitive_columns=["sex"], feature_names=["a", "b", "c"])

    def shadowing():
        return factory(extra="score")

    def raising():
        values = [1, 2]
        return values[7]
''')
BROKEN_IMPORT = "import numpy\nx = 1\nfrom no_such_package_xyz import thing\n"


UNPRIVILEGED = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@functools.lru_cache(maxsize=1)
def unprivileged_problem() -> str:
    """Why read-only cases cannot run here ('' when they can): as root they need setpriv and a Python
    (and checkout) that user 65534 can read."""
    if os.geteuid() != 0:
        return ""
    if not shutil.which("setpriv"):
        return "running as root without setpriv(1): permissions cannot be tested"
    res = subprocess.run(UNPRIVILEGED + [sys.executable, "-c", "import deepaudit.audit.cli"], capture_output=True,
                         text=True, cwd="/", env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    return "" if res.returncode == 0 else f"user 65534 cannot run this Python/checkout: {res.stderr[-200:]}"


def cli_here(*args: str) -> subprocess.CompletedProcess:
    """``deepaudit ARGS`` through ``deepaudit.audit.cli.main`` in this process, stdout and stderr captured."""
    import contextlib
    import io
    import logging

    from deepaudit.audit.cli import main

    out, err, root = io.StringIO(), io.StringIO(), logging.getLogger()
    handlers = list(root.handlers)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main([str(a) for a in args])
            except SystemExit as e:  # argparse
                rc = e.code
    finally:
        root.handlers[:] = handlers  # main's logging.basicConfig must not outlive the call
    return subprocess.CompletedProcess(["deepaudit", *args], rc, out.getvalue(), err.getvalue())


def cli(*args: str, cwd: Path | None = None, user: bool = False, env: dict | None = None,
        timeout: int = 300) -> subprocess.CompletedProcess:
    exe = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "deepaudit.audit.cli"]
    cmd = exe + [str(a) for a in args]
    if user and os.geteuid() == 0:
        cmd = UNPRIVILEGED + cmd
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A world-readable directory with the tiny target file and a store holding one real run of it."""
    root = Path(tempfile.mkdtemp(prefix="deepaudit-faults-"))
    root.chmod(0o755)
    (root / "tiny.py").write_text(TINY)
    (root / "broken.py").write_text(BROKEN_IMPORT)
    res = cli("run", f"{root}/tiny.py:factory", "--store", root / "store", "--samples", "8", "--no-progress")
    assert res.returncode == 0, res.stderr
    yield root
    shutil.rmtree(root, ignore_errors=True)


@dataclass
class Case:
    name: str
    args: list[str]                                  # {store}, {dir}, {base} are filled in
    rc: int
    out: list[str] = field(default_factory=list)     # substrings of stdout
    err: list[str] = field(default_factory=list)     # substrings of stderr
    setup: Callable[[Path], None] = lambda d: None   # damages the copy in d
    user: bool = False                               # run unprivileged (read-only cases)
    check: Callable[[Path, subprocess.CompletedProcess], None] = lambda d, res: None
    env: dict = field(default_factory=dict)
    here: bool = False                               # through deepaudit.audit.cli.main in this process


def _runs(d: Path) -> list[Path]:
    return sorted((d / "store" / "runs").iterdir())


def _edit_result(d: Path, edit: Callable[[dict], object]) -> None:
    f = _runs(d)[0] / "result.json"
    r = json.loads(f.read_text())
    f.write_text(json.dumps(edit(r) or r))


def _second_run(d: Path) -> None:
    """A second, intact run beside the one a case damages (the damaged one is the older)."""
    src = _runs(d)[0]
    r = json.loads((src / "result.json").read_text())
    new_id = r["run_id"].replace(r["run_id"][:8], "29990101", 1)
    dst = d / "store" / "runs" / new_id
    shutil.copytree(src, dst)
    r["run_id"] = new_id
    r["provenance"]["created_at"] = "2999-01-01T00:00:00+00:00"
    (dst / "result.json").write_text(json.dumps(r))


def _damage_first(content: str) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        _second_run(d)
        (d / "store" / "index.sqlite").unlink()          # the index must be rebuilt, meeting the damage
        (_runs(d)[0] / "result.json").write_text(content)
    return setup


def _tamper_spec(d: Path) -> None:
    (d / "evil.py").write_text(f"open({str(d / 'EXECUTED')!r}, 'w').write('x')\n"
                               "def factory():\n    raise SystemExit('evil factory ran')\n")
    _edit_result(d, lambda r: r["model"].update(spec=f"{d}/evil.py:factory"))


def _not_executed(d: Path, res) -> None:
    assert not (d / "EXECUTED").exists(), "reading a run imported a file named in it"
    assert list((d / "out").glob("*.html")) and list((d / "out").glob("*.json"))


def _read_only(d: Path) -> None:
    (d / "store" / "index.sqlite").unlink()              # stale: the run is not indexed
    for p in [d / "store", *(d / "store").rglob("*")]:
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) | stat.S_IROTH |
                (stat.S_IXOTH if p.is_dir() else 0))


def _index_unchanged(d: Path, res) -> None:
    assert not (d / "store" / "index.sqlite").exists()


def _corrupt_index(d: Path) -> None:
    (d / "store" / "index.sqlite").write_bytes(b"this is not a database" * 100)


def _file_in_the_way(d: Path) -> None:
    (d / "afile").write_text("x")


def _read_only_out(d: Path) -> None:
    (d / "ro").mkdir()
    (d / "ro").chmod(0o555)


def _one_stored(d: Path, res) -> None:
    runs = _runs(d)
    assert len(runs) == 2                                # the fixture's run + the first spec's
    assert any(r.name in res.stdout for r in runs)


def _no_run_written(d: Path, res) -> None:
    assert len(_runs(d)) == 1


CASES = [
    Case("report never executes a spec read from a run", ["report", "latest", "--store", "{store}", "--format",
         "html,json", "--out", "{dir}/out"], 0, setup=_tamper_spec, check=_not_executed),
    Case("corrupt result.json is skipped by list", ["list", "--store", "{store}"], 0, out=["29990101"],
         err=["skipping damaged run", "result.json is unreadable"], setup=_damage_first("{not json")),
    Case("empty-object result.json is skipped by list", ["list", "--store", "{store}"], 0, out=["29990101"],
         err=["skipping damaged run", "not a valid run"], setup=_damage_first("{}")),
    Case("report latest skips a damaged newest run", ["report", "latest", "--store", "{store}", "--format", "json",
         "--out", "{dir}/out"], 0, setup=lambda d: (_second_run(d), (_runs(d)[1] / "result.json").unlink()), here=True),
    Case("report of a damaged run by id names it", ["report", "RUN0", "--store", "{store}", "--format", "json",
         "--out", "{dir}/out"], 2, err=["is damaged", "result.json is unreadable", "Fix:"],
         setup=lambda d: (_runs(d)[0] / "result.json").write_text("[1, 2"), here=True),
    Case("directory without result.json is not listed", ["list", "--store", "{store}", "--json"], 0,
         out=['"run_id"'], setup=lambda d: (d / "store" / "runs" / "20990101T000000Z-x-00000000").mkdir(), here=True),
    Case("read-only store with a stale index is listed", ["list", "--store", "{store}"], 0, out=["tiny"],
         err=["index built in memory"], setup=_read_only, user=True, check=_index_unchanged),
    Case("read-only store refuses a run before computing", ["run", "{base}/tiny.py:factory", "--store", "{store}",
         "--no-progress"], 2, err=["cannot write to the run store", "Fix:"], setup=_read_only, user=True),
    Case("corrupt index is moved aside and rebuilt", ["list", "--store", "{store}"], 0, out=["tiny"],
         err=["is damaged", "rebuilt from the run directories"], setup=_corrupt_index),
    Case("store path under a file", ["run", "{base}/tiny.py:factory", "--store", "{dir}/afile/store"], 2,
         err=["cannot write to the run store", "Not a directory"], setup=_file_in_the_way, here=True),
    Case("report --out is a file", ["report", "latest", "--store", "{store}", "--out", "{dir}/afile"], 2,
         err=["--out", "is a file, not a directory"], setup=_file_in_the_way, here=True),
    Case("report --out is read-only", ["report", "latest", "--store", "{store}", "--out", "{dir}/ro"], 2,
         err=["--out", "is not writable", "Fix:"], setup=_read_only_out, user=True),
    Case("run --report-dir is a file fails before computing", ["run", "{base}/tiny.py:factory", "--store",
         "{store}", "--report", "--report-dir", "{dir}/afile"], 2, err=["--report-dir", "is a file"],
         setup=_file_in_the_way, check=_no_run_written, here=True),
    Case("factory raising names file and line", ["describe", "{base}/tiny.py:raising"], 2,
         err=["raised IndexError", "tiny.py:25 (in raising)"], here=True),
    Case("target file failing to import names file and line", ["describe", "{base}/broken.py:factory"], 2,
         err=["importing", "ModuleNotFoundError", "broken.py:3"], here=True),
    Case("group column shadowing a predictions column", ["run", "{base}/tiny.py:shadowing", "--store",
         "{store}", "--no-progress"], 2, err=["column named 'score'", "Fix: rename"], check=_no_run_written, here=True),
    Case("second spec fails: first is stored and printed", ["run", "{base}/tiny.py:factory", "nope", "--store",
         "{store}", "--samples", "4", "--no-progress"], 2, out=["tiny"],
         err=["nope", "no installed target or file by that name", "1 of 2 audits failed"],
         check=_one_stored, here=True),
    Case("locked index: clear message after the wait", ["list", "--store", "{store}"], 2,
         err=["is locked by another process", "Fix:"], env={"DEEPAUDIT_LOCK_WAIT_S": "1"}, setup=lambda d: None),
    Case("unknown model name", ["run", "no_such_model", "--store", "{store}"], 2,
         err=["no installed target or file by that name", "Fix:"], here=True),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault(case: Case, base: Path, tmp_path: Path):
    if case.user and unprivileged_problem():
        pytest.skip(unprivileged_problem())
    d = Path(tempfile.mkdtemp(prefix="case-", dir=base))
    d.chmod(0o755)
    try:
        shutil.copytree(base / "store", d / "store")
        case.setup(d)
        fill = {"store": str(d / "store"), "dir": str(d), "base": str(base)}
        args = [a.format(**fill) for a in case.args]
        if "RUN0" in args:
            args[args.index("RUN0")] = _runs(d)[0].name
        lock = None
        if "locked" in case.name:
            lock = sqlite3.connect(d / "store" / "index.sqlite", isolation_level=None)
            lock.execute("BEGIN EXCLUSIVE")
        try:
            res = cli_here(*args) if case.here else cli(*args, user=case.user, env=case.env)
        finally:
            if lock is not None:
                lock.execute("ROLLBACK")
                lock.close()
        assert res.returncode == case.rc, (res.stdout[-2000:], res.stderr[-2000:])
        for s in case.out:
            assert s in res.stdout, (s, res.stdout[-2000:])
        for s in case.err:
            assert s in res.stderr, (s, res.stderr[-2000:])
        assert "Traceback" not in res.stderr, res.stderr[-3000:]
        case.check(d, res)
    finally:
        for p in [d, *d.rglob("*")]:
            if p.is_dir() and not p.is_symlink():
                p.chmod(0o755)
        shutil.rmtree(d, ignore_errors=True)


def test_lock_released_while_waiting_then_list_succeeds(base: Path, tmp_path: Path):
    """A writer holding the index: the reader says it waits, and lists once the lock is gone (handshake)."""
    shutil.copytree(base / "store", tmp_path / "store")
    lock = sqlite3.connect(tmp_path / "store" / "index.sqlite", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    exe = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "deepaudit.audit.cli"]
    proc = subprocess.Popen(exe + ["list", "--store", str(tmp_path / "store")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "DEEPAUDIT_LOCK_WAIT_S": "120"})
    try:
        line = proc.stderr.readline()
        assert "locked by another process; waiting" in line
        lock.execute("ROLLBACK")
        out, err = proc.communicate(timeout=120)
    finally:
        lock.close()
        proc.kill()
    assert proc.returncode == 0 and "tiny" in out, err


@pytest.fixture()
def tiny_disk(tmp_path):
    """A 96 KiB file system (tmpfs), where the system lets us mount one."""
    d = tmp_path / "disk"
    d.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root to mount a small tmpfs")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(d)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()[:200]}")
    yield d
    subprocess.run(["umount", str(d)], check=False)


def test_full_disk_during_a_run_is_a_message_and_leaves_nothing(base: Path, tiny_disk: Path):
    res = cli("run", f"{base}/tiny.py:factory", "--store", tiny_disk / "store", "--no-progress")
    assert res.returncode == 2, res.stderr
    assert "No space left on device" in res.stderr and "Fix: free disk space" in res.stderr
    assert "Traceback" not in res.stderr
    runs = tiny_disk / "store" / "runs"
    assert not runs.exists() or not any(runs.iterdir())
    assert not any((tiny_disk / "store" / ".tmp").iterdir())


def test_full_disk_during_a_report_keeps_the_previous_files(base: Path, tiny_disk: Path):
    out = tiny_disk / "out"
    ok = cli("report", "latest", "--store", base / "store", "--format", "json", "--out", out)
    assert ok.returncode == 0, ok.stderr
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (tiny_disk / "filler").write_bytes(b"\0" * (96 * 1024 - sum(map(len, before.values())) - 8192))
    res = cli("report", "latest", "--store", base / "store", "--format", "json,html", "--out", out)
    assert res.returncode == 2 and "No space left on device" in res.stderr and "Traceback" not in res.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name in before} == before
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
