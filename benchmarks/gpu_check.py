"""Run the audit of every bundled model on the CPU and on CUDA; compare numbers, report timings.

    .venv/bin/python benchmarks/gpu_check.py      (or: make gpu-check)

Exits 0 when every compared number agrees within tolerance, 1 when one does
not, 2 with a clear message when no CUDA device exists.
"""
from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NO_CUDA = ("gpu-check: no CUDA device is available here (torch {version}, torch.cuda.is_available() is False). "
           "Run it on a machine with an NVIDIA GPU and a CUDA build of torch; the CPU audit is `make demo`.")
# Float32 on different kernels: attributions agree to ~1e-4 relative; probabilities to ~1e-5.
RTOL, ATOL = 2e-3, 2e-4


def main() -> int:
    if not torch.cuda.is_available():
        print(NO_CUDA.format(version=torch.__version__), file=sys.stderr)
        return 2
    from deepaudit.audit.runner import RunConfig, run_target
    from deepaudit.audit.target import load_target
    from deepaudit.models import list_models

    warnings.simplefilter("ignore")
    ok = True
    print(f"{'model':<20} {'cpu s':>7} {'cuda s':>7} {'speed-up':>8}  max |diff| (attributions, probabilities)")
    for name in list_models():
        out = {}
        try:
            for dev in ("cpu", "cuda"):
                target = load_target(name, device=dev)
                t0 = time.perf_counter()
                result, preds, arrays = run_target(target, RunConfig(device=dev, progress=False))
                if dev == "cuda":
                    torch.cuda.synchronize()
                out[dev] = (time.perf_counter() - t0, result, preds, arrays)
        except Exception:  # noqa: BLE001 - one model's failure is reported, the others still run
            import traceback

            print(f"{name:<20} FAILED on {dev}:\n{traceback.format_exc(limit=-6)}")
            ok = False
            continue
        (tc, rc, pc, ac), (tg, rg, pg, ag) = out["cpu"], out["cuda"]
        worst_attr = 0.0
        for key, arrs in ac.items():
            if key.startswith("attr_") and "shap" not in key:
                a, b = arrs["attributions"], ag[key]["attributions"]
                scale = max(float(np.abs(a).max()), 1e-12)
                worst_attr = max(worst_attr, float(np.abs(a - b).max()) / scale)
                ok &= np.allclose(a, b, rtol=RTOL, atol=ATOL * scale)
        pcols = [c for c in pc.columns if c.startswith("prob_")]
        worst_prob = float(np.abs(pc[pcols].to_numpy() - pg[pcols].to_numpy()).max())
        ok &= worst_prob <= 1e-4 and (pc["y_pred"] == pg["y_pred"]).mean() >= 0.999
        ok &= rc["performance"]["overall"]["accuracy"] == rg["performance"]["overall"]["accuracy"] or \
            abs(rc["performance"]["overall"]["accuracy"] - rg["performance"]["overall"]["accuracy"]) <= 0.002
        print(f"{name:<20} {tc:>7.2f} {tg:>7.2f} {tc / tg:>7.1f}x  {worst_attr:.2e} (relative), {worst_prob:.2e}")
        print(f"{'':<20} checks cpu/cuda: " + ", ".join(
            f"{c['id']}={c['passed']}/{g['passed']}" for c, g in zip(rc["checks"], rg["checks"])))
    print("gpu-check:", "CPU and CUDA agree" if ok else "CPU and CUDA DISAGREE beyond tolerance")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
