"""Dashboard under load: `deepaudit serve` on loopback, 16 concurrent clients, a fixed number of requests.

    python benchmarks/dashboard_load.py [--store deepaudit-runs] [--clients 16] [--rounds 10]

Starts the real server (waitress) in a subprocess over a run store (made with `deepaudit run --all` in a
temp dir when --store has no runs), then each client repeats ``--rounds`` times a fixed mix of requests:

- stored views: the page-router callback of every model page (what the browser asks for when a page is
  opened) plus the fairness-page callbacks (attribute change, threshold slider) and the run comparison;
- live explanations: a typed review explained with integrated gradients (sentiment) and an edited
  applicant rescored and re-explained (mortgage what-if);
- the floor: a static asset (style.css) served by the same server under the same load (the reference).

Prints cold start (process start -> first page rendered), p50/p95 latency per kind, the ratio of the
stored-view p95 to the static-asset p95 measured in the same run, and the server's peak RSS. Targets
(issue 6): p95 <= 150 ms stored views, <= 1 s live explanations on CPU, RSS <= 1 GB.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psutil

REVIEW = ("The first half of this film is slow and the dialogue is clumsy, but the last hour is gripping, the "
          "acting is superb and the score is wonderful. I would happily watch it again with friends, although "
          "the ending felt rushed and a little predictable. Still, one of the better dramas of the year.")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, base: str) -> None:
        self.base = base
        self.deps = None

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.base + path, timeout=120) as r:
            return r.read()

    def post(self, body: dict) -> dict:
        req = urllib.request.Request(self.base + "_dash-update-component", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            raw = r.read()
        return json.loads(raw) if raw else {}

    def callback(self, output_has: str, values: dict[str, object], changed: str | None = None) -> dict:
        """POST the callback whose output string contains ``output_has``; ``values`` maps 'id.prop' -> value."""
        if self.deps is None:
            self.deps = json.loads(self.get("_dash-dependencies"))
        dep = next(d for d in self.deps if output_has in d["output"] and d.get("clientside_function") is None)
        outs = [o for o in dep["output"].strip(".").split("...") if o]

        def ref(x):
            key = f"{x['id']}.{x['property']}"
            return {"id": x["id"], "property": x["property"], "value": values.get(key)}

        body = {"output": dep["output"],
                "outputs": [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1]} for o in outs]
                if dep["output"].startswith("..") else {"id": outs[0].rsplit(".", 1)[0],
                                                          "property": outs[0].rsplit(".", 1)[1]},
                "inputs": [ref(x) for x in dep["inputs"]], "state": [ref(x) for x in dep["state"]],
                "changedPropIds": [changed or f"{dep['inputs'][0]['id']}.{dep['inputs'][0]['property']}"]}
        return self.post(body)

    def page(self, path: str, search: str = "") -> dict:
        return self.callback("_pages_content.children", {"_pages_location.pathname": path,
                                                         "_pages_location.search": search})


def workload(store_models: dict[str, str]) -> list[tuple[str, str, callable]]:
    """(kind, name, fn(client)) in a fixed order; fn returns nothing, raises on failure."""
    items = [("static", "GET assets/style.css", lambda c: c.get("assets/style.css"))]
    for model in store_models:
        for page in ("performance", "fairness", "explanations", "quality", "runs", "report"):
            items.append(("stored", f"page {model}/{page}",
                          lambda c, m=model, p=page: c.page(f"/model/{m}/{p}")))
    items.append(("stored", "page /", lambda c: c.page("/")))
    if "mortgage" in store_models:
        run = store_models["mortgage"]
        state = {"model": "mortgage", "run_id": run}
        items.append(("stored", "fairness attribute=sex", lambda c: c.callback(
            "fairness-group-table.data", {"fairness-attribute.value": "sex", "fairness-state.data": state})))
        items.append(("live", "mortgage what-if", lambda c: what_if(c, run)))
    if "sentiment" in store_models:
        items.append(("live", "sentiment explain typed review", lambda c: explain_text(c, store_models["sentiment"])))
    return items


def explain_text(c: Client, run_id: str) -> None:
    from dashboard import ids

    out = c.callback(ids.EXPLAIN_NLP_OUTPUT, {f"{ids.EXPLAIN_NLP_BUTTON}.n_clicks": 1,
                                              f"{ids.EXPLAIN_NLP_TEXT}.value": REVIEW,
                                              f"{ids.EXPLAIN_STATE}.data": {"model": "sentiment", "run_id": run_id}})
    if "response" not in out:
        raise RuntimeError(f"no live explanation: {str(out)[:200]}")


def what_if(c: Client, run_id: str) -> None:
    from dashboard.live_tabular import benchmark_request  # the callback payload of an edited applicant

    out = c.callback(*benchmark_request(run_id))
    if "response" not in out:
        raise RuntimeError(f"no what-if result: {str(out)[:200]}")


def ensure_store(path: Path) -> Path:
    if (path / "runs").is_dir() and any((path / "runs").iterdir()):
        return path
    path = Path(tempfile.mkdtemp(prefix="deepaudit-dash-bench-")) / "runs-store"
    print(f"no runs in the given store: making one with `deepaudit run --all --store {path}` ...", flush=True)
    subprocess.run([sys.executable, "-m", "audit.cli", "run", "--all", "--store", str(path), "--no-progress"],
                   check=True, stdout=subprocess.DEVNULL)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path, default=Path("deepaudit-runs"))
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=10, help="times each client repeats the request mix")
    ap.add_argument("--threads", type=int, default=8, help="waitress worker threads")
    args = ap.parse_args()
    store = ensure_store(args.store)
    from audit.store import RunStore

    runs = RunStore(store).list_runs()
    latest = {m: runs[runs["model"] == m]["run_id"].iloc[0] for m in runs["model"].unique()}
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "audit.cli", "serve", "--store", str(store), "--port", str(port),
                             "--threads", str(args.threads)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ps = psutil.Process(proc.pid)
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            try:
                peak[0] = max(peak[0], ps.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.05)

    threading.Thread(target=sample, daemon=True).start()
    try:
        c0 = Client(base)
        while True:
            try:
                c0.get("")
                break
            except OSError:
                if proc.poll() is not None:
                    raise SystemExit(f"server exited: {proc.stderr.read().decode()[-2000:]}")
                time.sleep(0.05)
        t_http = time.perf_counter() - t0
        c0.page(f"/model/{sorted(latest)[0]}/performance")
        t_page = time.perf_counter() - t0
        items = workload(latest)
        # one warm pass (models load lazily; the server also preloads them in the background)
        t1 = time.perf_counter()
        for _, _, fn in items:
            fn(c0)
        t_warm = time.perf_counter() - t1
        lat: dict[str, list[float]] = {}
        lock = threading.Lock()

        def client(i: int) -> None:
            c = Client(base)
            order = items[i % len(items):] + items[:i % len(items)]  # clients start at different requests
            for _ in range(args.rounds):
                for kind, _, fn in order:
                    s = time.perf_counter()
                    fn(c)
                    d = time.perf_counter() - s
                    with lock:
                        lat.setdefault(kind, []).append(d)

        t2 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as ex:
            list(ex.map(client, range(args.clients)))
        wall = time.perf_counter() - t2
    finally:
        stop.set()
        proc.terminate()
        proc.wait(10)
    n = sum(len(v) for v in lat.values())
    print(f"store {store}: models {', '.join(sorted(latest))}; {args.clients} clients x {args.rounds} rounds x "
          f"{len(items)} requests = {n} requests in {wall:.1f} s ({n / wall:.0f} req/s), waitress threads "
          f"{args.threads}, {os.cpu_count()} CPUs")
    print(f"cold start: first HTTP 200 {t_http:.2f} s, first page rendered {t_page:.2f} s; "
          f"first pass over all views (models load) {t_warm:.1f} s")
    res = {}
    for kind in ("static", "stored", "live"):
        v = np.asarray(lat.get(kind, [np.nan])) * 1000
        res[kind] = (np.percentile(v, 50), np.percentile(v, 95), len(v))
        print(f"{kind:>7}: n={len(v):5d}  p50 {res[kind][0]:7.1f} ms  p95 {res[kind][1]:7.1f} ms  max {v.max():7.1f} ms")
    print(f"stored-view p95 / static-asset p95 (same server, same load): {res['stored'][1] / res['static'][1]:.1f}x")
    print(f"peak RSS of the server: {peak[0] / 2**20:.0f} MB")
    ok = res["stored"][1] <= 150 and res["live"][1] <= 1000 and peak[0] <= 2**30
    print("targets (p95 stored <= 150 ms, live <= 1 s, RSS <= 1 GB):", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
