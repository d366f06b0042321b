"""Scale: `deepaudit run` on a synthetic portfolio of 10k, 100k and 1M rows, locally and on Ray.

    python benchmarks/scale.py                      # 10k, 100k, 1M rows, local executor
    python benchmarks/scale.py --rows 10000 100000  # other sizes
    python benchmarks/scale.py --ray                # also 1M rows with 1 and 2 Ray workers, and equality
    python benchmarks/scale.py --rows 10000 --images 50000   # the streaming case: 50,000 images at 224x224

Each run is the whole `deepaudit run deepaudit/audit/testing/scale.py:factory` process (20 features, a 64-32
MLP, sensitive race and sex; the rows come from $DEEPAUDIT_SCALE_ROWS), with default options. Printed per
size: wall time of the process, the audit's own time (result.json's total), peak RSS of the process
(os.wait4), size of the run directory and rows explained. Then the exponent of a least-squares fit of
log(time) on log(rows) for the wall time and for the audit time (1.0 = linear).

With --ray: the same audit at the largest size with `--executor ray --ray-workers 1` and `2` (each run starts
its own local cluster of that many one-CPU workers; start-up is inside the wall time). Printed: the time of
the stages that run on the workers (predict, explain) and of the whole audit, speed-up and efficiency of 2
workers over 1, whether result.json equals the local run's (float32 tolerance; checks and counts exact), and
a projection for N nodes from the measured split: audit(N) = serial + distributed(1 worker) / N.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = f"{ROOT / 'audit' / 'testing' / 'scale.py'}:factory"
DISTRIBUTED = ("predict", "explain", "fairness: group counts")     # stage-name prefixes run on the workers


def _deepaudit() -> list[str]:
    exe = Path(sys.executable).with_name("deepaudit")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "deepaudit.audit.cli"]


def run_once(rows: int, store: Path, extra: list[str] = (), *, spec: str | None = None) -> dict:
    env = dict(os.environ, DEEPAUDIT_SCALE_ROWS=str(rows), DEEPAUDIT_STREAM_IMAGES=str(rows))
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as fout, tempfile.TemporaryFile("w+") as ferr:
        proc = subprocess.Popen(_deepaudit() + ["run", spec or SPEC, "--store", str(store), "--json", "--no-progress",
                                                *extra], stdout=fout, stderr=ferr, env=env, text=True)
        _, status, usage = os.wait4(proc.pid, 0)      # this process's own peak RSS (KiB on Linux)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        fout.seek(0), ferr.seek(0)
        out, err = fout.read(), ferr.read()
    rss_mb = usage.ru_maxrss / 1024
    if proc.returncode != 0:
        raise SystemExit(f"deepaudit run failed for {rows} rows:\n{err}")
    (row,) = json.loads(out)
    path = Path(row["path"])
    result = json.loads((path / "result.json").read_text())
    timings = result["provenance"]["timings"]
    return {"rows": rows, "wall_s": wall, "audit_s": timings["total_s"], "rss_mb": rss_mb,
            "dir_mb": sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6,
            "explained": result["explanations"]["sample"]["n_explained"],
            "distributed_s": sum(v for k, v in timings.items() if k.startswith(DISTRIBUTED)),
            "result": result, "path": path}


def exponent(xs: list[float], ys: list[float]) -> float:
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def same_result(a: dict, b: dict) -> list:
    from deepaudit.audit.tolerance import tree_differences

    a, b = dict(a), dict(b)
    for key in ("provenance", "run_id"):
        a.pop(key), b.pop(key)
    return tree_differences(a, b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--ray", action="store_true", help="also the largest size on Ray with 1 and 2 workers")
    ap.add_argument("--images", type=int, default=0, metavar="N",
                    help="also the streaming case: N generated 224x224 images read through a RowSource "
                         "(deepaudit/audit/testing/stream_images.py; the issue's case is 50000)")
    ap.add_argument("--keep", type=Path, default=None,
                    help="copy the largest local run into this store (for benchmarks/dashboard_load.py)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="deepaudit-scale-"))
    try:
        results = []
        print(f"{'rows':>9} {'wall s':>8} {'audit s':>8} {'peak RSS MB':>12} {'run dir MB':>11} {'explained':>10}")
        for rows in sorted(args.rows):
            r = run_once(rows, work / f"local-{rows}")
            results.append(r)
            print(f"{rows:>9,} {r['wall_s']:>8.1f} {r['audit_s']:>8.1f} {r['rss_mb']:>12.0f} {r['dir_mb']:>11.1f} "
                  f"{r['explained']:>10,}", flush=True)
        if args.keep is not None:
            subprocess.run(_deepaudit() + ["run", SPEC, "--store", str(args.keep), "--no-progress"], check=True,
                           env=dict(os.environ, DEEPAUDIT_SCALE_ROWS=str(results[-1]["rows"])),
                           stdout=subprocess.DEVNULL)
            print(f"kept a {results[-1]['rows']:,}-row run in {args.keep}")
        if len(results) >= 2:
            xs = [r["rows"] for r in results]
            print(f"time ~ rows^k: k = {exponent(xs, [r['wall_s'] for r in results]):.2f} (wall), "
                  f"{exponent(xs, [r['audit_s'] for r in results]):.2f} (audit)")
        if args.images:
            spec = f"{ROOT / 'audit' / 'testing' / 'stream_images.py'}:factory"
            r = run_once(args.images, work / "images", spec=spec)
            gb = args.images * 3 * 224 * 224 * 4 / 1e9
            print(f"\nstreaming: {args.images:,} images of 3x224x224 ({gb:.1f} GB as one float32 tensor) through a "
                  f"RowSource: wall {r['wall_s']:.1f} s, audit {r['audit_s']:.1f} s, peak RSS {r['rss_mb']:.0f} MB, "
                  f"run dir {r['dir_mb']:.1f} MB, {r['explained']} explained", flush=True)
        if args.ray:
            big = results[-1]
            print(f"\nRay, {big['rows']:,} rows (each run starts a local cluster of N one-CPU workers)")
            ray_runs = {}
            for n in (1, 2):
                ray_runs[n] = run_once(big["rows"], work / f"ray-{n}", ["--executor", "ray", "--ray-workers", str(n)])
                r = ray_runs[n]
                diffs = same_result(big["result"], r["result"])
                print(f"  {n} worker(s): wall {r['wall_s']:.1f} s, audit {r['audit_s']:.1f} s, on workers "
                      f"{r['distributed_s']:.2f} s; result.json equals local: {not diffs}"
                      + (f" ({len(diffs)} differences, first: {diffs[0]})" if diffs else ""), flush=True)
            d1, d2 = ray_runs[1]["distributed_s"], ray_runs[2]["distributed_s"]
            a1, a2 = ray_runs[1]["audit_s"], ray_runs[2]["audit_s"]
            print(f"  speed-up 2 vs 1 worker: distributed stages {d1 / d2:.2f}x (efficiency {d1 / d2 / 2:.0%}), "
                  f"whole audit {a1 / a2:.2f}x (efficiency {a1 / a2 / 2:.0%})")
            serial = a1 - d1
            print(f"  projection from the 1-worker split (serial {serial:.1f} s + distributed {d1:.1f} s / N):")
            for nodes in (1, 2, 4, 8, 16):
                print(f"    N = {nodes:>2}: audit ~ {serial + d1 / nodes:.1f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
