"""Bring a stored result written by an older deepaudit up to the current schema.

Readers (report, dashboard, ``deepaudit list``) see only the current schema:
:func:`migrate` runs when a run is read, on a copy, and never writes the
store. Each step is a pure function from one version's document to the next;
what an older run cannot supply stays absent (a reader shows "not stored"),
never guessed.

1.0 -> 2.0
    * checks gain their structured fields (``family``, ``subject``, ``group``,
      ``method``, ``policy_key``, ``params``), derived from the id patterns
      1.0 wrote. This module is the only place that reads check ids.
    * performance gains ``intervals`` and per-class interval columns,
      recomputed from ``predictions.parquet`` when the run has it (the same
      function the audit uses, on the stored labels and probabilities).
    * the reason-codes probe gains ``params`` (its IG step count), read from
      the prose method string 1.0 stored.
    * performance gains ``confusion`` (the overall confusion matrix), counted
      from ``predictions.parquet`` by :func:`deepaudit.audit.confusion.confusion_counts`.
    * the deletion/insertion summary gains ``auc_intervals``, computed by
      :func:`deepaudit.audit.quality.curves.auc_intervals` from the per-sample ``auc``
      table the run stored. The feature-importance interval columns
      (``mean_abs_lo``/``mean_abs_hi``) need the attribution arrays, which
      migration does not read: they stay absent and readers say so.
    * optional keys 1.0 runs may lack get their empty defaults.
"""
from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from deepaudit.audit.schema import SCHEMA_VERSION, is_newer

log = logging.getLogger(__name__)

#: (family, policy_key, subject kind) of the 1.0 check-id patterns.
_FAIRNESS_KEYS = {"impact_ratio": "impact_ratio_min", "demographic_parity_difference":
                  "demographic_parity_difference_max", "equalized_odds_difference": "equalized_odds_difference_max",
                  "ece": "ece_max", "min_group_share": "min_group_share",
                  "cohort_accuracy_gap": "cohort_accuracy_gap_max"}
_METHOD_PREFIXES = {"sanity_randomization": "randomization_similarity_max", "infidelity": "infidelity_max",
                    "max_sensitivity": "max_sensitivity_max"}
_FIXED = {"completeness_ig": ("completeness_share_min", "integrated_gradients"),
          "deletion_auc_vs_random": ("deletion_ratio_max", None),
          "insertion_auc_vs_random": ("insertion_ratio_min", None)}


def check_fields_from_id(check_id: str, methods: list[str] | None = None) -> dict[str, Any]:
    """The 2.0 structured fields of a check written by 1.0, read from its id."""
    out: dict[str, Any] = {"family": check_id, "subject": None, "group": None, "method": None,
                           "policy_key": None, "params": {}}
    if check_id.startswith("fairness."):
        _, metric, subject = check_id.split(".", 2)
        out.update(family=f"fairness.{metric}", subject=subject, policy_key=_FAIRNESS_KEYS.get(metric))
        return out
    m = re.fullmatch(r"counterfactual_(.+)_(flip_share|max_abs_diff)", check_id)
    if m:
        key = "counterfactual_max_flip_share" if m.group(2) == "flip_share" else "counterfactual_max_abs_diff"
        out.update(family=f"counterfactual_{m.group(2)}", subject=m.group(1), policy_key=key)
        return out
    if check_id.startswith("shortcut_"):
        out.update(family="shortcut", subject=check_id[len("shortcut_"):], policy_key="shortcut_ratio_max")
        return out
    for prefix, key in _METHOD_PREFIXES.items():
        if check_id.startswith(prefix + "_"):
            method = check_id[len(prefix) + 1:]
            out.update(family=prefix, subject=method, method=method, policy_key=key)
            return out
    if check_id in _FIXED:
        key, method = _FIXED[check_id]
        out.update(policy_key=key, method=method or (methods[0] if methods else None))
    return out


def _v1_to_v2(doc: dict[str, Any], predictions: Callable[[], pd.DataFrame | None] | None) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    methods = list((doc.get("explanations") or {}).get("methods") or {})
    primary = "integrated_gradients" if "integrated_gradients" in methods else (methods[0] if methods else None)
    for c in doc.get("checks") or []:
        if isinstance(c, dict) and isinstance(c.get("id"), str) and "family" not in c:
            for k, v in check_fields_from_id(c["id"], [primary] if primary else None).items():
                c.setdefault(k, v)
    model = doc.get("model")
    if isinstance(model, dict):
        model.setdefault("spec", model.get("name", ""))
        model.setdefault("card", {})
        model.setdefault("feature_names", None)
    dataset = doc.get("dataset")
    if isinstance(dataset, dict):
        dataset.setdefault("sensitive_columns", list(dataset.get("groups") or {}))
        dataset.setdefault("cohort_columns", [])
    ex = doc.get("explanations")
    if isinstance(ex, dict):
        ex.setdefault("shortcut_probes", [])
    reasons = ((doc.get("fairness") or {}).get("probes") or {}).get("reason_codes")
    if isinstance(reasons, dict) and "params" not in reasons:
        m = re.search(r"n_steps=(\d+)", str(reasons.get("method", "")))
        reasons["params"] = {"method": "integrated_gradients", **({"n_steps": int(m.group(1))} if m else {})}
    predictions = _once(predictions) if predictions is not None else None
    perf = doc.get("performance")
    if isinstance(perf, dict) and "intervals" not in perf and predictions is not None:
        _optional(_add_intervals, doc, perf, predictions)
    if isinstance(perf, dict) and "confusion" not in perf and predictions is not None:
        _optional(_add_confusion, doc, perf, predictions)
    _optional(_add_auc_intervals, doc)
    doc["schema_version"] = "2.0"
    return doc


def _once(predictions: Callable[[], pd.DataFrame | None]) -> Callable[[], pd.DataFrame | None]:
    """``predictions`` read at most once (several steps use it); a read error is raised again on each call."""
    cache: dict[str, Any] = {}

    def read() -> pd.DataFrame | None:
        if "value" not in cache and "error" not in cache:
            try:
                cache["value"] = predictions()
            except (OSError, ValueError) as e:
                cache["error"] = e
        if "error" in cache:
            raise cache["error"]
        return cache["value"]

    return read


def _add_confusion(doc: dict[str, Any], perf: dict[str, Any], predictions: Callable[[], pd.DataFrame | None]) -> None:
    """Fill 2.0's overall confusion matrix from the run's stored labels and predictions (when readable)."""
    from deepaudit.audit.confusion import confusion_counts
    from deepaudit.audit.store import to_jsonable

    try:
        preds = predictions()
    except (OSError, ValueError):
        return
    classes = list((doc.get("model") or {}).get("class_names") or [])
    if preds is None or not classes or not {"y_true", "y_pred"} <= set(preds.columns):
        return
    try:
        cells = confusion_counts(preds["y_true"].to_numpy(), preds["y_pred"].to_numpy(), classes)
    except ValueError:  # labels outside the classes: a damaged run; readers say the matrix is not stored
        return
    perf["confusion"] = to_jsonable(cells)


def _add_auc_intervals(doc: dict[str, Any]) -> None:
    """Fill the deletion/insertion ``auc_intervals`` from the per-sample AUC table the run stored."""
    from deepaudit.audit.quality.curves import auc_intervals
    from deepaudit.audit.store import to_jsonable

    q = (doc.get("quality") or {}).get("deletion_insertion")
    if not isinstance(q, dict) or not isinstance(q.get("summary"), dict) or "auc_intervals" in q["summary"]:
        return
    table = (q.get("tables") or {}).get("auc")
    if not isinstance(table, list) or not table:
        return
    try:
        q["summary"]["auc_intervals"] = to_jsonable(auc_intervals(table, points=q["summary"]))
    except (TypeError, ValueError):  # a damaged table: leave the intervals absent ("not stored")
        return


def _add_intervals(doc: dict[str, Any], perf: dict[str, Any], predictions: Callable[[], pd.DataFrame | None]) -> None:
    """Fill 2.0's performance intervals from the run's stored labels and probabilities (when readable)."""
    from deepaudit.audit.performance import performance_section
    from deepaudit.audit.store import to_jsonable

    try:
        preds = predictions()
    except (OSError, ValueError):
        return
    classes = list((doc.get("model") or {}).get("class_names") or [])
    cols = [f"prob_{c}" for c in classes]
    if preds is None or not classes or any(c not in preds.columns for c in cols + ["y_true"]):
        return
    probs = preds[cols].to_numpy(dtype=np.float64)
    y = preds["y_true"].to_numpy(dtype=np.int64)
    fresh = to_jsonable(performance_section(y, probs, classes, perf.get("card_metrics")))
    perf["intervals"] = fresh.get("intervals", {})
    if "per_class_interval" in fresh:
        perf["per_class_interval"] = fresh["per_class_interval"]
    stored = {r.get("class"): r for r in perf.get("per_class") or [] if isinstance(r, dict)}
    for row in fresh.get("per_class") or []:
        old = stored.get(row.get("class"))
        if old is not None:
            for k, v in row.items():
                old.setdefault(k, v)


_STEPS: dict[str, Callable[..., dict[str, Any]]] = {"1.0": _v1_to_v2}


def _optional(fill: Callable[..., None], doc: dict[str, Any], *args: Any) -> None:
    """Run one statistics filler; a damaged predictions file or table leaves its statistic absent ("not stored")."""
    try:
        fill(doc, *args)
    except Exception as exc:  # noqa: BLE001 - stored data of any shape; the run stays readable without it
        log.warning("run %s: %s not recomputed from stored data (%s: %s)", doc.get("run_id"), fill.__name__,
                    type(exc).__name__, str(exc)[:200])


def migrate(doc: dict[str, Any], *, predictions: Callable[[], pd.DataFrame | None] | None = None) -> dict[str, Any]:
    """``doc`` brought to :data:`~deepaudit.audit.schema.SCHEMA_VERSION` (a copy when changed; ``doc`` itself
    otherwise).

    ``predictions`` is a callable returning the run's predictions table, used
    only by steps that recompute stored statistics. A document newer than this
    deepaudit, of an unknown version, or too damaged to migrate (a section of
    the wrong type) is returned unchanged for :func:`~deepaudit.audit.schema.validate_result`
    to reject with its message; a statistic that cannot be recomputed from
    damaged stored data is left absent with a warning.
    """
    if not isinstance(doc, dict):
        return doc
    version = doc.get("schema_version")
    if is_newer(version):
        return doc
    seen = set()
    while version != SCHEMA_VERSION and version in _STEPS and version not in seen:
        seen.add(version)
        try:
            doc = _STEPS[version](doc, predictions)
        except Exception:  # noqa: BLE001 - a damaged document: validate_result names what is wrong with it
            return doc
        version = doc.get("schema_version")
    return doc
