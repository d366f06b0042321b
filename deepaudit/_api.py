"""The body of ``deepaudit.audit(target, ...)``: called through the ``deepaudit.audit`` package, which is callable
(see audit/__init__.py)."""
from __future__ import annotations

from typing import Any


def run_audit(target: Any, *, samples: int | None = None, seed: int = 0, methods: list[str] | None = None,
          policy: Any = None, quality_samples: int = 16, device: str = "auto", store: Any = None,
          progress: bool = False) -> Any:
    """Audit one model: explanations, explanation-quality checks, fairness statistics and policy checks.

    Parameters
    ----------
    target : AuditTarget or str
        A target object, or a spec (bundled name, ``deepaudit.targets`` entry
        point, ``path/to/file.py:factory``) loaded onto ``device``.
    samples, seed, methods, policy, quality_samples
        As the ``deepaudit run`` flags (None: the per-domain defaults).
    store : RunStore or path, optional
        Write the run there as well; the returned result then has a ``path``.

    Returns
    -------
    AuditResult
    """
    from deepaudit.audit.runner import RunConfig, audit_target
    from deepaudit.audit.store import RunStore
    from deepaudit.audit.target import load_target

    spec = target if isinstance(target, str) else None
    if spec is not None:
        target = load_target(spec, device=device)
    config = RunConfig(samples=samples, seed=seed, methods=methods, device=device, quality_samples=quality_samples,
                       progress=progress, policy=policy)
    if store is not None and not isinstance(store, RunStore):
        store = RunStore(store)
    if store is not None:
        store.check_writable()
    return audit_target(target, config, store=store, spec=spec)
