"""Tidy comparisons of two runs of one model: metric deltas, changed verdicts, changed settings. No Dash."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from deepaudit.audit.report.findings import check_words

if TYPE_CHECKING:
    from deepaudit.audit.result import AuditResult, Provenance


def _commit(p: Provenance) -> Any:
    return p.git_commit.get("commit") if isinstance(p.git_commit, dict) else None


#: What the runs-compare page lists of how a run was made: (setting, its value in a run's provenance).
SETTINGS: list[tuple[str, Callable[[Provenance], Any]]] = [
    ("weights", lambda p: p.weights_sha256), ("data", lambda p: p.data_sha256),
    ("seed", lambda p: p.seed), ("device", lambda p: p.device),
    ("samples", lambda p: p.config.get("samples")), ("methods", lambda p: p.config.get("methods")),
    ("policy", lambda p: p.config.get("policy")), ("deepaudit commit", _commit),
    ("deepaudit version", lambda p: p.packages.get("deepaudit")), ("torch", lambda p: p.packages.get("torch")),
]


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def _delta(a: Any, b: Any) -> float | None:
    a, b = _num(a), _num(b)
    return None if a is None or b is None else b - a


def metric_deltas(a: AuditResult, b: AuditResult) -> pd.DataFrame:
    """Overall performance metrics of runs ``a`` (before) and ``b`` (after), one row per metric."""
    pa, pb = a.performance.overall, b.performance.overall
    rows = [{"metric": k, "a": _num(pa.get(k)), "b": _num(pb.get(k)), "delta": _delta(pa.get(k), pb.get(k))}
            for k in dict.fromkeys(list(pa) + list(pb)) if _num(pa.get(k)) is not None or _num(pb.get(k)) is not None]
    return pd.DataFrame(rows, columns=["metric", "a", "b", "delta"])


def check_changes(a: AuditResult, b: AuditResult) -> pd.DataFrame:
    """Every check in either run: value and verdict in each, the delta, and whether the verdict changed.

    ``change`` is one of ``now fails``, ``now passes``, ``same``, ``only in a``, ``only in b``; rows whose
    verdict changed come first.
    """
    ca = {c.id: c for c in a.checks}
    cb = {c.id: c for c in b.checks}
    rows = []
    for cid in dict.fromkeys(list(ca) + list(cb)):
        x, y = ca.get(cid), cb.get(cid)
        if x is None:
            change = "only in b"
        elif y is None:
            change = "only in a"
        elif x.passed and not y.passed:
            change = "now fails"
        elif y.passed and not x.passed:
            change = "now passes"
        else:
            change = "same"
        last = y or x
        rows.append({"check": cid, "what": check_words(last), "value_a": _num(x and x.value),
                     "passed_a": x and x.passed,
                     "value_b": _num(y and y.value), "passed_b": y and y.passed,
                     "delta": _delta(x and x.value, y and y.value),
                     "threshold": _num(last.threshold), "comparison": last.comparison, "change": change})
    order = {"now fails": 0, "now passes": 1, "only in a": 2, "only in b": 3, "same": 4}
    df = pd.DataFrame(rows, columns=["check", "what", "value_a", "passed_a", "value_b", "passed_b", "delta",
                                     "threshold", "comparison", "change"])
    return df.sort_values("change", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def setting_changes(a: AuditResult, b: AuditResult) -> pd.DataFrame:
    """What differs in how the two runs were made (weights, data, seed, samples, methods, versions)."""
    rows = []
    for name, get in SETTINGS:
        x, y = get(a.provenance), get(b.provenance)
        rows.append({"setting": name, "a": _fmt(x), "b": _fmt(y), "changed": x != y})
    return pd.DataFrame(rows, columns=["setting", "a", "b", "changed"])


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, list):
        return ", ".join(map(str, v))
    s = str(v)
    return s[:12] + "…" if len(s) >= 32 and all(c in "0123456789abcdef" for c in s) else s  # hashes
