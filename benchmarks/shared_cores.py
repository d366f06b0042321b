"""`deepaudit run mortgage` on quiet and on shared cores, with the thread policy on and off.

Shared cores are the normal state of a CI runner or a server: this script starts its own CPU hogs (one
busy-looping process per CPU this process may use), runs the audit beside them, and stops them. For each
setting it prints the median wall time and the median user+system CPU time of the audit process (from
``os.wait4``), over ``--repeats`` runs, interleaved so that drift hits every setting alike, and the ratio of
CPU time on shared cores to the quiet figure. The policy (audit/threads.py) is what the CLI applies by
default; ``DEEPAUDIT_THREAD_POLICY=off`` gives torch's own defaults (one spinning OpenMP thread per core).

Usage::

    .venv/bin/python benchmarks/shared_cores.py [--repeats 3] [--model mortgage]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from deepaudit.audit.threads import available_cpus

BIN = Path(sys.executable).with_name("deepaudit")


def _hog() -> None:
    x = 0
    while True:
        x = (x * 1103515245 + 12345) % 2147483648


def _run(model: str, policy: bool) -> tuple[float, float]:
    """(wall s, user+sys CPU s) of one `deepaudit run` process."""
    store = tempfile.mkdtemp(prefix="bench_store_")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY",
                                                             "DEEPAUDIT_THREADS", "DEEPAUDIT_THREAD_POLICY")}
    if not policy:
        env["DEEPAUDIT_THREAD_POLICY"] = "off"
    cmd = [str(BIN) if BIN.exists() else sys.executable, *([] if BIN.exists() else ["-m", "deepaudit.audit.cli"]),
           "run", model, "--store", store, "--no-progress"]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    shutil.rmtree(store, ignore_errors=True)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"deepaudit run failed: {proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model", default="mortgage")
    args = ap.parse_args()
    cpus = available_cpus()
    settings = [(shared, policy) for shared in (False, True) for policy in (True, False)]
    results: dict[tuple[bool, bool], list[tuple[float, float]]] = {s: [] for s in settings}
    _run(args.model, True)  # warm the page cache and bytecode
    for _ in range(args.repeats):
        for shared, policy in settings:
            hogs = [mp.Process(target=_hog, daemon=True) for _ in range(cpus if shared else 0)]
            for h in hogs:
                h.start()
            try:
                results[(shared, policy)].append(_run(args.model, policy))
            finally:
                for h in hogs:
                    h.terminate()
                    h.join()
    print(f"deepaudit run {args.model}: {cpus} CPU(s) available, {args.repeats} runs per setting (medians)")
    print(f"{'cores':<8} {'thread policy':<15} {'wall s':>8} {'CPU s':>8} {'CPU vs quiet':>13}")
    for shared, policy in settings:
        wall = statistics.median(r[0] for r in results[(shared, policy)])
        cpu = statistics.median(r[1] for r in results[(shared, policy)])
        quiet = statistics.median(r[1] for r in results[(False, policy)])
        print(f"{'shared' if shared else 'quiet':<8} {'on' if policy else 'off (torch)':<15} {wall:>8.2f} "
              f"{cpu:>8.2f} {cpu / quiet:>12.2f}x")


if __name__ == "__main__":
    main()
