"""Wall time and peak RSS of `deepaudit run --all` with defaults (targets: <= 60 s, <= 2 GB on 2 cores).

Runs the real command in a child process (fresh interpreter, imports and data
loading included) into a temporary store, median of ``--repeats`` runs, and
prints each stage's time from the runs' result.json.

    .venv/bin/python benchmarks/run_all.py [--repeats 3] [--device cpu]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).with_name("deepaudit")


def one_run(device: str) -> tuple[float, float, Path]:
    store = Path(tempfile.mkdtemp(prefix="deepaudit-bench-"))
    cmd = [str(BIN), "run", "--all", "--store", str(store), "--device", device, "--no-progress", "--json"]
    # Peak RSS of the child measured with GNU time when present, else by wait4.
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out, err = proc.stdout.read(), proc.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"deepaudit run --all failed:\n{err}")
    json.loads(out)
    return wall, usage.ru_maxrss / 1024, store


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    walls, rss = [], []
    for _ in range(args.repeats):
        w, m, store = one_run(args.device)
        walls.append(w)
        rss.append(m)
    print(f"deepaudit run --all --device {args.device}: wall {statistics.median(walls):.1f} s (median of "
          f"{args.repeats}: {', '.join(f'{w:.1f}' for w in walls)}), peak RSS {max(rss):.0f} MB "
          f"(targets: <= 60 s, <= 2048 MB); {os.cpu_count()} CPUs")
    for f in sorted((store / "runs").glob("*/result.json")):
        r = json.loads(f.read_text())
        t = r["provenance"]["timings"]
        stages = ", ".join(f"{k} {v:.2f}" for k, v in t.items() if k != "total_s")
        print(f"  {r['model']['name']:<20} {t['total_s']:6.2f} s  ({stages})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
