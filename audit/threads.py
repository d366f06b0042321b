"""Thread policy: size torch's threads to the CPUs this process may use, and never spin-wait on them.

torch's CPU kernels run on an OpenMP pool with one thread per core of the
*machine*, and idle OpenMP threads spin for a while before sleeping. On a
quiet laptop that is fastest. On a CI runner, a container with a CPU quota or a
shared server it is not: threads outnumber the cores the process may actually
use, and spinning threads burn the CPU time the working ones need (measured in
BENCHMARKS.md: an audit beside two CPU hogs used 1.5x its quiet CPU time).

The policy, applied by the ``deepaudit`` command line and the dashboard server
before torch is imported:

* ``OMP_WAIT_POLICY=PASSIVE`` (idle threads sleep at once) unless the
  environment already sets ``OMP_WAIT_POLICY``;
* intra-op threads = :func:`available_cpus` (CPU affinity, capped by a cgroup
  CPU quota), unless ``DEEPAUDIT_THREADS`` or ``--cpu-threads`` says otherwise, or
  the environment sets ``OMP_NUM_THREADS``.

``DEEPAUDIT_THREADS=N`` (or ``deepaudit --cpu-threads N``) fixes the count;
``DEEPAUDIT_THREAD_POLICY=off`` leaves torch and OpenMP at their own defaults.
Library users (notebooks) call :func:`apply_thread_policy` themselves if they
want it; importing deepaudit changes nothing.
"""
from __future__ import annotations

import functools
import math
import os
import sys
import threading
from pathlib import Path
from typing import Any, Callable

ENV_THREADS = "DEEPAUDIT_THREADS"
ENV_POLICY = "DEEPAUDIT_THREAD_POLICY"
BAD_THREADS = "{source} must be a whole number of threads >= 1, got {value!r}. Fix: e.g. {source}=2."


def _cgroup_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs allowed by a cgroup quota (v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``), or None when unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 or period <= 0 else quota / period
    except (OSError, ValueError):
        return None


def available_cpus(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota (rounded up), >= 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota(cgroup_root)
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def _parse(value: str, source: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(BAD_THREADS.format(source=source, value=value))
    return n


def policy_threads(threads: int | None = None, environ: os._Environ | dict | None = None) -> int | None:
    """The intra-op thread count the policy asks for, or None to leave torch's choice.

    Order: ``threads`` (``--cpu-threads``), ``DEEPAUDIT_THREADS``, ``OMP_NUM_THREADS`` set by the
    user (respected: None), else :func:`available_cpus`. ``DEEPAUDIT_THREAD_POLICY=off``: None.
    """
    env = os.environ if environ is None else environ
    if env.get(ENV_POLICY, "").lower() == "off":
        return None
    if threads is not None:
        return _parse(str(threads), "--cpu-threads")
    if env.get(ENV_THREADS):
        return _parse(env[ENV_THREADS], ENV_THREADS)
    if env.get("OMP_NUM_THREADS"):
        return None
    return available_cpus()


def apply_thread_policy(threads: int | None = None, environ: os._Environ | dict | None = None) -> int | None:
    """Apply the policy; returns the intra-op thread count it set (None: left to torch / the user).

    Before torch is imported (the command line): sets ``OMP_WAIT_POLICY=PASSIVE`` unless the user
    set it, and ``OMP_NUM_THREADS``, which torch, OpenMP and any subprocess then follow. After
    (a notebook, a test): ``torch.set_num_threads`` only; the environment is left alone, since
    OpenMP reads it once at start.
    """
    env = os.environ if environ is None else environ
    n = policy_threads(threads, env)
    if env.get(ENV_POLICY, "").lower() == "off":
        return None
    if "torch" not in sys.modules:
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        if n is not None:
            env["OMP_NUM_THREADS"] = str(n)
    elif n is not None:
        import torch

        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
    return n


class Beside:
    """``fn(*args, **kwargs)`` on a worker thread, beside the caller's own work; :meth:`result` joins it.

    For a stage that spends its time in torch kernels (which release the GIL) and shares nothing mutable
    with what the caller does meanwhile. On small models torch's intra-op threads gain nothing (measured on 2
    CPUs: the mortgage gap decomposition takes 0.60 s on one thread, 0.63 s on two), so two stages on
    one thread each, side by side, end sooner than one after the other on two. While the worker runs,
    torch's intra-op threads are split between the caller and the worker (half each, at least one) and
    restored when it is joined. With a single intra-op thread there is nothing to share: ``fn`` then runs
    in :meth:`result`, on the caller's thread, exactly as a plain call would.

    Results do not depend on the split: a run of the bundled mortgage model with ``--cpu-threads 1``
    equals one with 2 bit for bit, and a test checks its fairness section computed both ways. ``fn`` must keep to its
    own objects (its own copy of a model, since the caller's stages register hooks) and draw from no
    global random generator.

    Always end with :meth:`result` or :meth:`close` (in a ``finally``), so the worker is joined and the
    thread count restored even when the caller's work fails.
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        import torch

        self._call = functools.partial(fn, *args, **kwargs)
        self._done = False
        self._value: Any = None
        self._error: BaseException | None = None
        self._threads = torch.get_num_threads()
        self._thread: threading.Thread | None = None
        if self._threads >= 2:
            worker = self._threads // 2
            torch.set_num_threads(self._threads - worker)   # the caller's share, on the caller's thread
            self._thread = threading.Thread(target=self._run, args=(worker,), name="deepaudit-beside", daemon=True)
            self._thread.start()

    def _run(self, threads: int) -> None:
        import torch

        try:
            # OpenMP and MKL thread counts are per thread: set this worker's share on the worker itself.
            torch.set_num_threads(threads)
            self._value = self._call()
        except BaseException as exc:   # re-raised on the caller's thread by result()
            self._error = exc

    def result(self) -> Any:
        """``fn``'s return value (its exception is raised here); waits for the worker."""
        if not self._done:
            if self._thread is None:
                try:
                    self._value = self._call()
                except BaseException as exc:
                    self._error = exc
            self.close()
        if self._error is not None:
            raise self._error
        return self._value

    def close(self) -> None:
        """Wait for the worker (if it was started) and give the caller back its intra-op threads."""
        if self._done:
            return
        self._done = True
        if self._thread is not None:
            import torch

            self._thread.join()
            torch.set_num_threads(self._threads)
