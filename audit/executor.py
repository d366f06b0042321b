"""Where a run's prediction and explanation batches are computed: here (``local``) or on a Ray cluster (``ray``).

The runner asks an executor for the logits of every evaluation row and the attributions of the explained
rows, and computes the rest (explanation-quality checks, reason codes, the gap decomposition, significance
tests and calibration) in its own process from what comes back: arrays a run keeps anyway. On Ray, the
group tables and comparisons (rates, Wilson and score intervals, the bootstrap) come from per-group cell
counts that each worker counts over the rows it predicted, in the encoding of the whole data set, and that
the runner adds up (:func:`~deepaudit.audit.fairness.counts.merge_counts`, which checks every group adds up to
its size). Counts are sufficient statistics for all of those, so they equal a local run's (tested).

``ray`` (:class:`RayExecutor`) starts one model replica per worker (a Ray actor holding a copy of the target,
put in the object store once) and splits the work into batches:

* prediction: row ranges of the target's own evaluation data, so the rows are not shipped again;
* explanations: the runner's own calls, one per chunk of rows, with the same chunk boundaries as the local
  executor, so every chunk is computed by the same code on the same rows with the same seed; stochastic
  methods seed per call exactly as they do locally.

Results are put back in row order. What can still differ from a local run is the last bits of float32
arithmetic where a worker's thread count or CPU differs from the driver's (:mod:`deepaudit.audit.tolerance`);
checks and counts do not move (tests compare both executors on a real local Ray cluster).

Workers need deepaudit, torch and the target's code importable: a bundled model or an installed entry
point is imported by name; a target file (``path/file.py:factory``) and modules beside it are pickled by
value, so a local cluster or nodes without the file still load it. docs/architecture.md, "Ray", says how to
run against a multi-node cluster.
"""
from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import torch

if TYPE_CHECKING:
    from deepaudit.audit.explain.base import Explainer
    from deepaudit.audit.target import AuditTarget

EXECUTORS = ("local", "ray")
NO_RAY = ("--executor ray needs Ray: `pip install 'deepaudit[ray]'` (or `pip install ray`) on this machine and on "
          "every worker. ({error})")
BAD_EXECUTOR = "unknown executor {name!r}. Fix: pass --executor local or --executor ray."
BAD_WORKERS = "--ray-workers must be a positive integer, got {value!r}."
NO_WORKERS = ("the Ray cluster at {address} has {cpus} CPUs for {workers} workers (one CPU each). Fix: pass "
              "--ray-workers {fit} or add nodes.")


def _noop(_: int) -> None:
    return None


def probabilities(logits: torch.Tensor) -> Any:
    """Class probabilities (float64 numpy) from logits: the one formula the runner and the Ray workers use, so
    a worker's predictions and scores of its rows are the driver's."""
    return torch.softmax(logits.double(), 1).numpy()


class LocalExecutor:
    """Everything in this process (the default)."""

    name = "local"
    workers = 1
    start_s = 0.0

    def __init__(self, target: AuditTarget) -> None:
        self.target = target

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "workers": 1}

    def logits(self) -> torch.Tensor:
        """Logits of every evaluation row (on the CPU)."""
        return self.target.logits()

    def attribute(self, explainer: Explainer, x: torch.Tensor, classes: torch.Tensor, *, chunk: int,
                  tick: Callable[[int], None] = _noop, **kw: Any) -> torch.Tensor:
        """``explainer.attribute`` called once per ``chunk`` rows (``tick(1)`` after each), concatenated."""
        parts = []
        for s in range(0, len(x), chunk):
            parts.append(explainer.attribute(x[s:s + chunk], target=classes[s:s + chunk], **kw))
            tick(1)
        return torch.cat(parts)

    def close(self) -> None:
        return None


def make_executor(name: str, target: AuditTarget, *, address: str | None = None,
                  workers: int | None = None) -> LocalExecutor | RayExecutor:
    """The executor called ``name`` for ``target`` (``address``/``workers`` only for ``ray``)."""
    if name == "local":
        return LocalExecutor(target)
    if name == "ray":
        return RayExecutor(target, address=address, workers=workers)
    raise ValueError(BAD_EXECUTOR.format(name=name))


class _Replica:
    """One model replica on a Ray worker (created through :func:`_replica_class`)."""

    def __init__(self, target: AuditTarget, use_gpu: bool) -> None:
        torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
        if use_gpu and torch.cuda.is_available():
            target.model.to(torch.device("cuda"))    # the target's device follows its model's
        self.target = target
        self._explainers: dict[tuple, Explainer] = {}
        self._logits: dict[tuple[int, int], torch.Tensor] = {}

    def ready(self) -> bool:
        return True

    def logits(self, start: int, stop: int) -> torch.Tensor:
        out = self.target.logits(self.target.eval_data.inputs[start:stop])
        self._logits[(start, stop)] = out    # kept for group_counts: a few floats per row
        return out

    def group_counts(self, start: int, stop: int, attributes: list[tuple[list[str], list[str]]], favorable: int,
                     median: float) -> list[Any]:
        from deepaudit.audit.fairness.counts import partition_counts

        logits = self._logits.pop((start, stop), None)
        probs = probabilities(logits if logits is not None else self.logits(start, stop))
        data = self.target.eval_data
        return partition_counts(np.asarray(data.labels)[start:stop], probs.argmax(1),
                                frame=data.groups.iloc[start:stop], attributes=attributes, pos_label=favorable,
                                y_score=probs[:, favorable], median=median)

    def attribute(self, method: str, seed: int, batch_size: int, options: dict[str, Any],
                  calls: list[tuple[torch.Tensor, torch.Tensor, dict[str, Any]]]) -> list[torch.Tensor]:
        from deepaudit.audit.explain import make_explainer

        key = (method, seed, batch_size, tuple(sorted(options.items())))
        if key not in self._explainers:
            self._explainers[key] = make_explainer(method, self.target, seed=seed, batch_size=batch_size,
                                                   **options)
        ex = self._explainers[key]
        return [ex.attribute(x, target=c, **kw) for x, c, kw in calls]


def _replica_class() -> Any:
    import ray

    return ray.remote(_Replica)


def _by_value_modules(target: AuditTarget) -> list[Any]:
    """Modules of a target file and of code beside it: a worker cannot import them by name."""
    folders = set()
    for name, mod in list(sys.modules.items()):
        if name.startswith("deepaudit_user_target_") and getattr(mod, "__file__", None):
            folders.add(Path(mod.__file__).resolve().parent)
    out = []
    for mod in list(sys.modules.values()):
        f = getattr(mod, "__file__", None)
        if f and any(Path(f).resolve().parent == d for d in folders):
            out.append(mod)
    cls_mod = sys.modules.get(type(target.model).__module__)
    if cls_mod is not None and cls_mod.__name__ == "__main__":
        out.append(cls_mod)
    return out


class RayExecutor:
    """Prediction and explanation batches on Ray actors, one model replica per worker (module docstring)."""

    name = "ray"

    def __init__(self, target: AuditTarget, *, address: str | None = None, workers: int | None = None,
                 batches_per_worker: int = 4) -> None:
        t0 = time.perf_counter()
        try:
            import ray
            from ray import cloudpickle
        except ImportError as exc:
            raise ValueError(NO_RAY.format(error=exc)) from None
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise ValueError(BAD_WORKERS.format(value=workers))
        self.target = target
        self._started = False
        if not ray.is_initialized():
            if address:
                ray.init(address=address, logging_level="ERROR", log_to_driver=False)
            else:
                # A local cluster for this run: as many one-CPU workers as asked (default: this machine's CPUs).
                here = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
                cpus = workers or here
                ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level="ERROR",
                         log_to_driver=False)
            self._started = True
        resources = ray.cluster_resources()
        cpus = int(resources.get("CPU", 0))
        self.workers = workers or max(1, cpus)
        if self.workers > max(cpus, 0):
            raise ValueError(NO_WORKERS.format(address=address or "local", cpus=cpus, workers=self.workers,
                                               fit=max(1, cpus)))
        use_gpu = resources.get("GPU", 0) >= self.workers
        for mod in _by_value_modules(target):
            cloudpickle.register_pickle_by_value(mod)
        model_device = target.device
        try:
            target.model.cpu()     # replicas get CPU weights and move them to their own GPU where they have one
            ref = ray.put(target)
        finally:
            target.model.to(model_device)
        replica = _replica_class().options(num_cpus=1, num_gpus=1 if use_gpu else 0)
        self._actors = [replica.remote(ref, use_gpu) for _ in range(self.workers)]
        self._ray = ray
        self.batches = self.workers * batches_per_worker
        self.gpus = int(use_gpu) * self.workers
        # Worker processes start (Python, torch, the target unpickled) before the first batch, and that is
        # timed on its own, apart from the batches.
        ray.get([a.ready.remote() for a in self._actors])
        self.start_s = round(time.perf_counter() - t0, 3)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "workers": self.workers, "gpus": self.gpus}

    def _spread(self, calls: Sequence[Callable[[Any], Any]]) -> list[Any]:
        """Each ``call(actor)`` returns an object ref; round-robin over the actors, results in order."""
        refs = [call(self._actors[i % len(self._actors)]) for i, call in enumerate(calls)]
        return self._ray.get(refs)

    def _ranges(self) -> list[tuple[int, int]]:
        n = len(self.target.eval_data.inputs)
        step = max(1, math.ceil(n / self.batches))
        return [(s, min(n, s + step)) for s in range(0, n, step)]

    def logits(self) -> torch.Tensor:
        if len(self.target.eval_data.inputs) == 0:
            return self.target.logits()
        return torch.cat(self._spread([lambda a, r=r: a.logits.remote(*r) for r in self._ranges()]))

    def group_counts(self, attributes: Sequence[tuple[Sequence[str], Sequence[str]]], *, favorable: int,
                     median: float) -> list[list[Any]]:
        """Each row range's cell counts per attribute, counted by the worker that predicted it.

        ``attributes``: (columns, labels) per attribute, the labels of the whole data set's encoding; ``median``:
        the favourable score's median over every row. The runner adds the ranges' counts up
        (:func:`~deepaudit.audit.fairness.counts.merge_counts`) and computes the fairness tables from them: counts
        are sufficient statistics, so the tables equal a local run's (tests/ray).
        """
        attrs = [(list(c), list(labels)) for c, labels in attributes]
        return self._spread([lambda a, r=r: a.group_counts.remote(*r, attrs, int(favorable), float(median))
                             for r in self._ranges()])

    def attribute(self, explainer: Explainer, x: torch.Tensor, classes: torch.Tensor, *, chunk: int,
                  tick: Callable[[int], None] = _noop, **kw: Any) -> torch.Tensor:
        """The local executor's calls (one per ``chunk`` rows), grouped into one batch per actor call."""
        starts = list(range(0, len(x), chunk))
        per = max(1, math.ceil(len(starts) / self.batches))
        groups = [starts[i:i + per] for i in range(0, len(starts), per)]
        head = (explainer.name, int(explainer.seed), int(explainer.batch_size), dict(explainer.options))
        calls = [[(x[s:s + chunk].clone(), classes[s:s + chunk].clone(), kw) for s in g] for g in groups]
        out = self._spread([lambda a, c=c: a.attribute.remote(*head, c) for c in calls])
        tick(len(starts))
        return torch.cat([t for part in out for t in part])

    def close(self) -> None:
        for a in getattr(self, "_actors", []):
            self._ray.kill(a)
        self._actors = []
        if self._started:
            self._ray.shutdown()
            self._started = False
