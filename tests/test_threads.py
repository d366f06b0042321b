"""The thread policy (audit/threads.py): CPUs from affinity and cgroup quota, overrides, and what the
command line sets before torch starts."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from deepaudit.audit.threads import ENV_POLICY, ENV_THREADS, apply_thread_policy, available_cpus, policy_threads


def _cgroup(tmp_path, v2: str | None = None, v1: tuple[int, int] | None = None):
    tmp_path.mkdir()
    if v2 is not None:
        (tmp_path / "cpu.max").write_text(v2)
    if v1 is not None:
        (tmp_path / "cpu").mkdir()
        (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(str(v1[0]))
        (tmp_path / "cpu" / "cpu.cfs_period_us").write_text(str(v1[1]))
    return tmp_path


def test_cpus_are_the_affinity_capped_by_a_cgroup_quota(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    assert available_cpus(tmp_path) == 8                                       # no cgroup files: affinity
    assert available_cpus(_cgroup(tmp_path / "a", v2="max 100000")) == 8       # unlimited quota
    assert available_cpus(_cgroup(tmp_path / "b", v2="150000 100000")) == 2    # 1.5 CPUs -> 2 threads
    assert available_cpus(_cgroup(tmp_path / "c", v2="20000 100000")) == 1     # a fifth of a CPU -> 1
    assert available_cpus(_cgroup(tmp_path / "d", v1=(300000, 100000))) == 3   # cgroup v1
    assert available_cpus(_cgroup(tmp_path / "e", v1=(-1, 100000))) == 8       # v1 unlimited
    assert available_cpus(_cgroup(tmp_path / "f", v2="garbage")) == 8          # unreadable: ignored
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert available_cpus(_cgroup(tmp_path / "g", v2="400000 100000")) == 1   # affinity is the smaller


def test_overrides_in_order(monkeypatch):
    monkeypatch.setattr("deepaudit.audit.threads.available_cpus", lambda: 6)
    assert policy_threads(None, {}) == 6
    assert policy_threads(None, {"OMP_NUM_THREADS": "3"}) is None             # the user's OpenMP setting
    assert policy_threads(None, {ENV_THREADS: "2", "OMP_NUM_THREADS": "3"}) == 2
    assert policy_threads(4, {ENV_THREADS: "2"}) == 4                         # --cpu-threads wins
    assert policy_threads(4, {ENV_POLICY: "off"}) is None
    for bad in ("0", "-1", "two", "1.5"):
        with pytest.raises(ValueError, match=f"{ENV_THREADS} must be a whole number.*Fix"):
            policy_threads(None, {ENV_THREADS: bad})
    with pytest.raises(ValueError, match="--cpu-threads must be"):
        policy_threads(0, {})


def test_before_torch_the_environment_is_set_and_the_users_choice_kept(monkeypatch):
    monkeypatch.setattr("deepaudit.audit.threads.available_cpus", lambda: 3)
    monkeypatch.delitem(sys.modules, "torch")   # as the command line sees it: torch not imported yet
    env: dict = {}
    assert apply_thread_policy(None, env) == 3
    assert env == {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "3"}
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    apply_thread_policy(2, env)
    assert env == {"OMP_WAIT_POLICY": "ACTIVE", "OMP_NUM_THREADS": "2"}
    env = {ENV_POLICY: "off"}
    assert apply_thread_policy(None, env) is None and env == {ENV_POLICY: "off"}


def test_after_torch_only_the_thread_count_changes():
    import torch

    before = torch.get_num_threads()
    env = {ENV_THREADS: "1"}
    try:
        torch.set_num_threads(2)
        assert apply_thread_policy(None, env) == 1
        assert torch.get_num_threads() == 1 and env == {ENV_THREADS: "1"}
    finally:
        torch.set_num_threads(before)


CHILD = ("import json, os, sys\nfrom audit import cli\n"
         "cli.cmd_list = lambda args: print(json.dumps({'torch': 'torch' in sys.modules, "
         "'wait': os.environ.get('OMP_WAIT_POLICY'), 'omp': os.environ.get('OMP_NUM_THREADS'), "
         "'n': __import__('torch').get_num_threads()})) or 0\n"
         "sys.exit(cli.main(sys.argv[1:]))")


# (DEEPAUDIT_THREADS takes the same path as --cpu-threads: test_overrides_in_order covers the order.)
@pytest.mark.parametrize("argv,env,want_threads,want_wait", [
    (["--cpu-threads", "1"], {ENV_THREADS: "2"}, 1, "PASSIVE"),
    ([], {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "ACTIVE"}, 1, "ACTIVE"),
])
def test_the_command_line_applies_the_policy_before_torch(tmp_path, argv, env, want_threads, want_wait):
    clean = {k: v for k, v in os.environ.items()
             if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", ENV_THREADS, ENV_POLICY)}
    res = subprocess.run([sys.executable, "-c", CHILD, *argv, "list", "--store", str(tmp_path)],
                         env=clean | env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out == {"torch": False, "wait": want_wait, "omp": str(want_threads), "n": want_threads}


def test_a_bad_thread_count_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    from deepaudit.audit.cli import main

    monkeypatch.setenv(ENV_THREADS, "many")
    assert main(["list", "--store", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (f"deepaudit: error: {ENV_THREADS} must be a whole number of threads "
                                               f">= 1, got 'many'. Fix: e.g. {ENV_THREADS}=2.")


def test_beside_runs_on_a_worker_with_half_the_threads_and_restores_them():
    import threading

    import torch

    from deepaudit.audit.threads import Beside

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        seen = {}

        def work(x):
            seen["thread"] = threading.current_thread() is not threading.main_thread()
            seen["threads"] = torch.get_num_threads()
            return x + 1

        job = Beside(work, 41)
        assert torch.get_num_threads() == 1                   # the caller's share while the worker runs
        assert job.result() == 42 and job.result() == 42      # joined once; the value is kept
        assert seen == {"thread": True, "threads": 1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_beside_with_one_thread_runs_on_the_caller_and_raises_there():
    import threading

    import torch

    from deepaudit.audit.threads import Beside

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        where = []
        job = Beside(lambda: where.append(threading.current_thread()))
        assert where == []                                     # nothing ran yet: it runs in result()
        job.result()
        assert where == [threading.main_thread()]

        def fail():
            raise ValueError("boom")

        torch.set_num_threads(2)
        job = Beside(fail)
        with pytest.raises(ValueError, match="boom"):
            job.result()
        assert torch.get_num_threads() == 2
        Beside(fail).close()                                   # closing without asking joins and restores
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
