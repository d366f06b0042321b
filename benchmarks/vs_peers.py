"""deepaudit beside explainerdashboard on the same data and task, whole processes, interleaved.

    .venv/bin/python benchmarks/vs_peers.py [--runs 5] [--venv benchmarks/.peers-venv]   (or: make bench-peers)

explainerdashboard (https://github.com/oegedijk/explainerdashboard) is the closest open-source peer: an
explainability dashboard built from a model and a test set. Its dependencies (an older dash, shap with
numba, its own scikit-learn) do not fit beside deepaudit's, so this script builds it a separate virtual
environment (``--venv``, created on first use with ``pip install explainerdashboard==0.5.8``; nothing of it
is imported here) and runs it there as a subprocess.

Same data and task for both: the Boston HMDA mortgage applications the bundled model is audited on (597
evaluation rows, 53 model inputs after deepaudit's own preprocessing, 1392 training rows), exported here to
CSV files both read.

- **deepaudit**: the whole ``deepaudit run mortgage`` process (start, imports, model and data load, the audit,
  the run written to a store): predictions; IG (step count doubled until complete), DeepLift and
  expected-gradients SHAP on every evaluation row; explanation-quality checks (completeness,
  deletion/insertion, infidelity/sensitivity, randomization); fairness for 5 attributes (group rates with
  Wilson intervals, bootstrap differences and ratios, significance with Holm, calibration by group),
  adverse-action reason codes, proxy analysis and the mitigation what-if.
- **explainerdashboard**: the whole process of its usual recipe on the same rows: train an sklearn MLP with
  the same hidden layers (64-32) on the training rows, ``ClassifierExplainer(model, X_test, y_test,
  shap="kernel")`` (kernel SHAP on all 597 rows against its default 50-row background sample),
  ``ExplainerDashboard(explainer)`` (computes every component's data) and ``dashboard.save_html`` (the built
  dashboard dumped to one static file; ``explainer.dump`` cannot pickle a kernel-SHAP explainer with shap
  0.51, with or without dill): no fairness statistics, no quality checks.

The two alternate (deepaudit, peer, deepaudit, peer, ...) so that drift on a shared machine hits both alike;
each process's wall time is measured from launch to exit. Prints the median and range of each and the ratio
of the medians (peer / deepaudit).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEER = "explainerdashboard==0.5.8"
DEEPAUDIT = Path(sys.executable).with_name("deepaudit")

PEER_SCRIPT = r'''
import sys, time, warnings
warnings.filterwarnings("ignore")
t0 = time.perf_counter()
from pathlib import Path
import pandas as pd
from sklearn.neural_network import MLPClassifier
from explainerdashboard import ClassifierExplainer, ExplainerDashboard

data, out = Path(sys.argv[1]), Path(sys.argv[2])
X_train = pd.read_csv(data / "X_train.csv")
y_train = pd.read_csv(data / "y_train.csv")["y"]
X_test = pd.read_csv(data / "X_test.csv")
y_test = pd.read_csv(data / "y_test.csv")["y"]
model = MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=300, random_state=0).fit(X_train, y_train)
explainer = ClassifierExplainer(model, X_test, y_test, shap="kernel", labels=["denied", "approved"])
db = ExplainerDashboard(explainer)
db.save_html(out / "dashboard.html")   # the built dashboard, every computed view, as one static file
print(f"accuracy {model.score(X_test, y_test):.3f}; shap values {explainer.get_shap_values_df().shape}; "
      f"{time.perf_counter() - t0:.1f} s inside the process")
'''


def ensure_venv(venv: Path) -> Path:
    """The peer's Python, building its environment on first use."""
    python = venv / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", "import explainerdashboard"],
                                          capture_output=True).returncode == 0:
        return python
    print(f"building {venv} with {PEER} (a few minutes, once) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", PEER], check=True)
    return python


def export_data(dest: Path) -> dict[str, int]:
    """The mortgage rows deepaudit audits, as model inputs (deepaudit's preprocessing), to CSV."""
    import numpy as np
    import pandas as pd

    from deepaudit.audit.target import load_target
    from deepaudit.models.finance.data import LABEL, load_split

    target = load_target("mortgage", device="cpu")
    split = load_split()
    names = list(target.feature_names)
    x_test = target.eval_data.inputs.numpy()
    x_train = target.preprocess(split.train).numpy()
    if not np.array_equal(target.preprocess(split.test).numpy(), x_test):
        raise SystemExit("the exported test rows are not the audited ones")
    pd.DataFrame(x_train, columns=names).to_csv(dest / "X_train.csv", index=False)
    pd.DataFrame({"y": split.train[LABEL].astype(int)}).to_csv(dest / "y_train.csv", index=False)
    pd.DataFrame(x_test, columns=names).to_csv(dest / "X_test.csv", index=False)
    pd.DataFrame({"y": np.asarray(target.eval_data.labels, dtype=int)}).to_csv(dest / "y_test.csv", index=False)
    return {"train": len(x_train), "test": len(x_test), "features": len(names)}


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({res.returncode}):\n{res.stderr[-3000:]}")
    return wall, res.stdout.strip().splitlines()[-1] if res.stdout.strip() else ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="runs of each tool, interleaved (default 5)")
    ap.add_argument("--venv", type=Path, default=ROOT / "benchmarks" / ".peers-venv",
                    help="the peer's separate environment (built on first use)")
    args = ap.parse_args()
    python = ensure_venv(args.venv)
    version = subprocess.run([str(python), "-c", "import explainerdashboard, shap, sklearn; print("
                              "'explainerdashboard', explainerdashboard.__version__, 'shap', shap.__version__, "
                              "'scikit-learn', sklearn.__version__)"], capture_output=True, text=True).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="vs_peers_"))
    try:
        sizes = export_data(work)
        peer_script = work / "peer.py"
        peer_script.write_text(PEER_SCRIPT)
        ours, theirs, notes = [], [], ""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
        for i in range(args.runs):
            store = work / f"store{i}"
            out = work / f"peer{i}"
            out.mkdir()
            wall, _ = timed([str(DEEPAUDIT), "run", "mortgage", "--store", str(store), "--no-progress"])
            ours.append(wall)
            wall, notes = timed([str(python), str(peer_script), str(work), str(out)], env=env)
            theirs.append(wall)
            print(f"run {i + 1}/{args.runs}: deepaudit {ours[-1]:.2f} s, explainerdashboard {theirs[-1]:.2f} s",
                  flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    mo, mt = statistics.median(ours), statistics.median(theirs)
    print(f"data: Boston HMDA mortgage, {sizes['train']} training rows, {sizes['test']} evaluation rows, "
          f"{sizes['features']} model inputs; {os.cpu_count()} CPUs; peer: {version}")
    print(f"deepaudit run mortgage (whole process): median {mo:.2f} s (range {min(ours):.2f}-{max(ours):.2f})")
    print(f"explainerdashboard (whole process):     median {mt:.2f} s (range {min(theirs):.2f}-{max(theirs):.2f}); "
          f"last run: {notes}")
    print(f"ratio of medians (explainerdashboard / deepaudit): {mt / mo:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
