"""Fixtures for the whole suite: a fixed RNG state per test, bundled targets loaded once per session,
and the pytest-xdist grouping that keeps session-sized fixtures on one worker."""
import os
import random
from pathlib import Path

from deepaudit.audit.threads import ENV_THREADS, apply_thread_policy, available_cpus

# The thread policy the command line applies (audit/threads.py), split between xdist workers: `-n 2` on two
# cores gives each worker, and every CLI subprocess it starts, one torch thread that sleeps when idle
# instead of two threads per worker spin-waiting on each other's cores. Set before torch is imported.
if "PYTEST_XDIST_WORKER" in os.environ:  # a worker: its share, whatever the controller process set
    os.environ[ENV_THREADS] = str(max(1, available_cpus() // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
else:
    os.environ.setdefault(ENV_THREADS, str(available_cpus()))
apply_thread_policy()
# Plotly validates every figure the tests build (the server skips it for speed: dashboard/figures/base.py);
# tests/dashboard/test_figure_validation.py checks that both give the same figure.
os.environ.setdefault("DEEPAUDIT_VALIDATE_FIGURES", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

TESTS = Path(__file__).resolve().parent

# Under `pytest -n N --dist loadgroup` each group runs on one worker, so its session fixtures are built once:
# the dashboard store, app, server and Chromium; the report store; the reliability cases (tmpfs mounts,
# setpriv, lock files and the store they copy); the local Ray cluster.
XDIST_GROUPS = {"dashboard": "dashboard", "audit/report": "report", "reliability": "reliability", "ray": "ray"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        try:
            rel = Path(str(item.path)).resolve().relative_to(TESTS).as_posix()
        except ValueError:
            continue
        for prefix, group in XDIST_GROUPS.items():
            if rel.startswith(prefix + "/"):
                item.add_marker(pytest.mark.xdist_group(group))
                break
    # The longest groups first: a worker starts on the dashboard group at once while the other takes the report
    # group and the single tests, so neither waits alone at the end for a long group that started late.
    order = {group: i for i, group in enumerate(XDIST_GROUPS.values())}
    items.sort(key=lambda item: next((order.get(m.args[0], len(order)) for m in item.iter_markers("xdist_group")
                                      if m.args), len(order)))


@pytest.fixture(autouse=True)
def seed():
    """Deterministic runs: every test starts from the same RNG state."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield 0


@pytest.fixture(scope="session")
def bundled_target():
    """``bundled_target(name)``: the bundled model's AuditTarget on the CPU, loaded once per session (the text
    model's reviews take seconds to tokenize) and shared by every test file: read it, never change it."""
    from deepaudit.audit import load_target

    cache = {}

    def get(name: str):
        if name not in cache:
            cache[name] = load_target(name, device="cpu")
        return cache[name]

    return get
