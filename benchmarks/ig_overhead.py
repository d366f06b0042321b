"""IG (n_steps=50) time divided by the time of the same number of batched forward+backward passes.

The floor: IG with n steps costs n forward+backward passes per sample; this
script runs exactly those passes (inputs scaled along the path, one backward of
the summed target logit, in the same chunks the explainer uses) and divides
the explainer's time by it. Target: ratio <= 1.3. Medians of 15 repeats, both
timed in the same process, CPU threads as torch sets them.

    .venv/bin/python benchmarks/ig_overhead.py [--device cpu|cuda] [--repeats 15]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deepaudit.audit import load_target  # noqa: E402
from deepaudit.audit.explain import make_explainer  # noqa: E402

N_STEPS = 50
SAMPLES = {"mortgage": None, "mnist_cnn": 100, "sentiment": 20}


def floor_passes(target, x, y, chunk):
    """n_steps forward+backward passes per sample, batched like the explainer."""
    model = target.model
    alphas = torch.linspace(0, 1, N_STEPS, device=x.device)
    for s in range(0, len(x), chunk):
        xb, yb = x[s:s + chunk], y[s:s + chunk]
        yy = yb.repeat_interleave(N_STEPS)
        if target.domain == "nlp":
            layer = target.submodule(target.embedding_layer)
            ids = xb.repeat_interleave(N_STEPS, dim=0)
            a = alphas.repeat(len(xb))[:, None, None]
            saved = {}

            def hook(_m, _i, out):
                saved["e"] = (a * out.detach()).requires_grad_(True)
                return saved["e"]

            h = layer.register_forward_hook(hook)
            try:
                out = model(ids)
            finally:
                h.remove()
            torch.autograd.grad(out.gather(1, yy[:, None]).sum(), saved["e"])
        else:
            shape = (-1,) + (1,) * (xb.dim() - 1)
            path = (xb.repeat_interleave(N_STEPS, dim=0) * alphas.repeat(len(xb)).view(shape)).requires_grad_(True)
            out = model(path)
            torch.autograd.grad(out.gather(1, yy[:, None]).sum(), path)


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed_pair(fn_a, fn_b, repeats):
    """Medians of both, measured alternately (a, b, a, b ...) after warm-up, so that
    clock-speed drift and background load hit both equally."""
    for _ in range(3):
        fn_a()
        fn_b()
    # Millisecond workloads (mortgage) are timed as loops of k calls of >= 0.1 s each,
    # so that timer and scheduler jitter do not decide the ratio.
    t0 = time.perf_counter()
    fn_b()
    k = max(1, int(0.1 / max(time.perf_counter() - t0, 1e-6)))
    ta, tb = [], []
    for _ in range(repeats):
        for fn, out in ((fn_a, ta), (fn_b, tb)):
            _sync()
            t0 = time.perf_counter()
            for _ in range(k):
                fn()
            _sync()
            out.append((time.perf_counter() - t0) / k)
    return statistics.median(ta), statistics.median(tb)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=15)
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")
    print(f"{'model':<12} {'n':>4} {'IG s':>8} {'floor s':>8} {'ratio':>6}  (torch {torch.__version__}, "
          f"{args.device}, {torch.get_num_threads()} threads)")
    worst = 0.0
    for name, n in SAMPLES.items():
        t = load_target(name, device=args.device)
        x = t.eval_data.inputs[:n].to(t.device)
        y = t.logits(x).argmax(1).to(t.device)
        ex = make_explainer("integrated_gradients", t, n_steps=N_STEPS)
        chunk = ex.chunk_size(x, {"n_steps": N_STEPS})
        ig, fl = timed_pair(lambda: ex.attribute(x, target=y, n_steps=N_STEPS),
                            lambda: floor_passes(t, x, y, chunk), args.repeats)
        worst = max(worst, ig / fl)
        print(f"{name:<12} {len(x):>4} {ig:>8.3f} {fl:>8.3f} {ig / fl:>6.2f}")
    print(f"worst ratio {worst:.2f} (target <= 1.3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
