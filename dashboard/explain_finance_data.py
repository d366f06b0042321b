"""Tidy tables for the finance explanations page, read from a stored run. No Dash, no live model here.

Attribution arrays store one column per model input, named by ``result["model"]["feature_names"]``
(recorded by the runner; a run written before that shows no per-applicant attributions, and says so: audit the
model again to see them). The 95% interval of each mean |attribution| is stored by the audit in the importance
table (``mean_abs_lo`` / ``mean_abs_hi``); a run stored without it shows the means alone, "not stored".
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd

from deepaudit.audit.store import Run

EMPTY = pd.DataFrame(columns=["label", "mean_abs", "direction"])
NOT_EXPLAINED = ("Applicant {value!r} is not among the {n} explained applicants of this run; pick one in the "
                 "table.")
BAD_APPLICANT = "'{value}' is not an applicant id (a whole number); pick an applicant in the table."
NO_APPLICANT = "Select an applicant in the table to see its score, attributions and reasons."


def noun(result: dict[str, Any]) -> str:
    """What one row of this model is called in words: the target's ``provenance["row_noun"]`` as the run stored
    it ("applicant" for the mortgage model), else "case"; runs written before nouns were stored: "applicant" for
    the credit models they were written for, "case" otherwise."""
    model = result.get("model") or {}
    stored = model.get("row_noun")
    if isinstance(stored, str) and stored.strip():
        return stored.strip()
    return "applicant" if "row_noun" not in model and model.get("domain") == "finance" else "case"


def capability_reason(result: dict[str, Any], capability: str) -> str:
    """Why the run did not compute ``capability`` ("" when it did, or a run that did not say, or a damaged one)."""
    caps = (result.get("model") or {}).get("capabilities")
    off = caps.get("not_applicable") if isinstance(caps, dict) else None
    why = off.get(capability) if isinstance(off, dict) else None
    return why if isinstance(why, str) else ""


def method_label(method: str | None) -> str:
    """Display name of an explanation method (:func:`deepaudit.audit.explain.method_label`)."""
    from deepaudit.audit.explain import method_label as label

    return label(str(method))


def signed(method: str) -> bool:
    """Whether the method's attributions carry a sign (saliency's do not)."""
    from deepaudit.audit.explain import get_explainer

    try:
        return bool(get_explainer(method).signed)
    except ValueError:
        return True


def unit(method: str | None, favorable: str) -> str:
    return f"{favorable} logit" if method is None or signed(method) else f"{favorable} logit per SD of input"


def methods(result: dict[str, Any]) -> list[str]:
    """Methods with a stored feature importance table, in the run's order."""
    ms = result.get("explanations", {}).get("methods", {})
    return [m for m, v in ms.items() if v.get("tables", {}).get("feature_importance")]


def outcomes(result: dict[str, Any]) -> tuple[str, str]:
    """(favourable, unfavourable) class names of a binary model."""
    cls = list(result["model"].get("class_names", ["0", "1"]))
    fav = result["model"].get("favorable_label") or cls[-1]
    return fav, next((c for c in cls if c != fav), "not " + fav)


def sensitive_columns(result: dict[str, Any], *, intersections: bool = False) -> list[str]:
    d = result.get("dataset", {})
    cols = list(d.get("sensitive_columns", [])) + list(d.get("cohort_columns", []))
    return [c for c in cols if intersections or "_x_" not in c]


def _display_labels(table: pd.DataFrame) -> list[str]:
    return [f"{lab} (missing)" if f.endswith("_missing") else lab for f, lab in zip(table["feature"], table["label"])]


def column_names(result: dict[str, Any], method: str, attributions: np.ndarray) -> list[str] | None:
    """The input name of every attribution column, as the run recorded them (None when it did not)."""
    names = result.get("model", {}).get("feature_names")
    return list(names) if names and len(names) == attributions.shape[1] else None


def attr_array(run: Run, method: str) -> dict[str, np.ndarray] | None:
    try:
        return run.arrays(f"attr_{method}")
    except ValueError:
        return None


def importance_table(run: Run, method: str) -> pd.DataFrame:
    """The stored importance table with display labels and, when the run stored it, the 95% interval of the mean.

    The interval is the audit's (:func:`deepaudit.audit.explain.views.feature_importance`, columns ``mean_abs_lo`` /
    ``mean_abs_hi``), shown as ``lo`` / ``hi``; a run stored without it (or from a single applicant, where the
    bounds are null) has no ``lo`` / ``hi`` columns (no whiskers; nothing is recomputed from the arrays).
    """
    t = pd.DataFrame(run.result["explanations"]["methods"][method]["tables"].get("feature_importance", []))
    if t.empty:
        return EMPTY
    t["label"] = _display_labels(t)
    if {"mean_abs_lo", "mean_abs_hi"} <= set(t.columns):
        lo, hi = pd.to_numeric(t["mean_abs_lo"], errors="coerce"), pd.to_numeric(t["mean_abs_hi"], errors="coerce")
        if lo.notna().any() and hi.notna().any():
            t["lo"], t["hi"] = lo, hi
    return t


_APPLICANTS: OrderedDict[tuple[str, str], pd.DataFrame] = OrderedDict()
_APPLICANTS_LOCK = threading.Lock()
_APPLICANTS_KEPT = 8


def applicants(run: Run) -> pd.DataFrame:
    """One row per explained applicant: id, score (P favourable), decision, actual outcome, first reason, groups.

    A run never changes once written, so the table is built once per run (the what-if editor asks for it
    on every request) and each caller gets its own copy.
    """
    key = (str(run.run_id), str(run.path))
    with _APPLICANTS_LOCK:
        if key in _APPLICANTS:
            _APPLICANTS.move_to_end(key)
            return _APPLICANTS[key].copy()
    table = _applicants(run)
    with _APPLICANTS_LOCK:
        _APPLICANTS[key] = table
        while len(_APPLICANTS) > _APPLICANTS_KEPT:
            _APPLICANTS.popitem(last=False)
    return table.copy()


def _applicants(run: Run) -> pd.DataFrame:
    result = run.result
    ms = methods(result)
    arr = attr_array(run, ms[0]) if ms else None
    fav, unfav = outcomes(result)
    cols = ["id", "index", "score", "decision", "actual", "reason"] + sensitive_columns(result, intersections=True)
    if arr is None:
        return pd.DataFrame(columns=cols)
    p = run.predictions().set_index("sample_id")
    ids = arr["sample_id"].tolist()
    p = p.loc[ids]
    cls = list(result["model"]["class_names"])
    score_col = f"prob_{fav}" if f"prob_{fav}" in p else "score"
    first = {r["sample_id"]: f"{r['reason']}: {r['value']}" if r.get("value") not in (None, "") else r["reason"]
             for r in _reason_rows(result) if r["rank"] == 1}
    out = pd.DataFrame({"id": ids, "index": arr["sample_index"].tolist(), "score": p[score_col].to_numpy(),
                        "decision": [cls[int(y)] for y in p["y_pred"]], "actual": [cls[int(y)] for y in p["y_true"]]})
    out["reason"] = [first.get(i, "") if d == unfav else "" for i, d in zip(ids, out["decision"])]
    for c in sensitive_columns(result, intersections=True):
        if c in p:
            out[c] = p[c].astype(object).where(p[c].notna(), "unknown").astype(str).to_numpy()
    # denied applicants (the ones with reasons) first, then by id: the table opens on the default applicant
    return out.sort_values("decision", key=lambda d: d != unfav, kind="stable").reset_index(drop=True)


def group_options(run: Run) -> list[dict[str, str]]:
    rows = applicants(run)
    out = []
    for c in sensitive_columns(run.result, intersections=True):
        if c in rows:
            for g in sorted(rows[c].unique()):
                out.append({"label": f"{c.replace('_', ' ')}: {g}", "value": f"{c}={g}"})
    return out


def filter_applicants(rows: pd.DataFrame, decision: str | None, group: str | None) -> pd.DataFrame:
    if decision and decision != "all":
        rows = rows[rows["decision"] == decision]
    if group and "=" in group:
        col, val = group.split("=", 1)
        if col in rows:
            rows = rows[rows[col] == val]
    return rows.reset_index(drop=True)


def default_applicant(run: Run, decision: str | None = None, group: str | None = None) -> int | None:
    """The first listed applicant the model decides against (the interesting one), else the first listed."""
    rows = filter_applicants(applicants(run), decision, group)
    if rows.empty:
        return None
    _, unfav = outcomes(run.result)
    denied = rows[rows["decision"] == unfav]
    return int((denied if len(denied) else rows)["id"].iloc[0])


def find_applicant(run: Run, applicant: Any) -> tuple[dict[str, Any] | None, str]:
    """(row, "") for an explained applicant id, else (None, a message for the user)."""
    if applicant in (None, ""):
        return None, NO_APPLICANT
    try:
        value = int(str(applicant).strip())
    except ValueError:
        return None, BAD_APPLICANT.format(value=str(applicant)[:40])
    rows = applicants(run)
    hit = rows[rows["id"] == value]
    if hit.empty:
        return None, NOT_EXPLAINED.format(value=value, n=len(rows))
    return hit.iloc[0].to_dict(), ""


def applicant_attributions(run: Run, method: str, sample_id: int, *,
                           values: dict[str, str] | None = None) -> pd.DataFrame | None:
    """One applicant's attributions per input, merged with missing indicators, labelled (with values)."""
    arr = attr_array(run, method)
    if arr is None:
        return None
    names = column_names(run.result, method, arr["attributions"])
    hit = np.nonzero(arr["sample_id"] == sample_id)[0]
    if names is None or not len(hit):
        return None
    table = pd.DataFrame(run.result["explanations"]["methods"][method]["tables"]["feature_importance"])
    labels = dict(zip(table["feature"], table["label"]))
    a = pd.Series(arr["attributions"][hit[0]].astype(np.float64), index=[n.removesuffix("_missing") for n in names])
    merged = a.groupby(level=0, sort=False).sum()
    values = values or {}
    return pd.DataFrame({
        "feature": merged.index,
        "label": [labels.get(f, f) + (f" = {values[f]}" if f in values else "") for f in merged.index],
        "attribution": merged.to_numpy()})


def _reason_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    return result.get("fairness", {}).get("probes", {}).get("reason_codes", {}).get("table", []) or []


def stored_reasons(result: dict[str, Any], sample_id: int) -> tuple[list[dict[str, Any]] | None, str]:
    """The run's adverse-action reasons for ``sample_id`` (None when it stored none) and how they were made."""
    rc = result.get("fairness", {}).get("probes", {}).get("reason_codes", {})
    rows = sorted((r for r in _reason_rows(result) if r["sample_id"] == sample_id), key=lambda r: r["rank"])
    how = f"{rc.get('method', '')}; reference applicant: {rc.get('reference', 'the baseline')}."
    return (rows or None), how


def provenance_warning(result: dict[str, Any], target: Any) -> str:
    """A warning when the live model or data differ from the audited ones (empty when they match)."""
    msgs = []
    audited = result.get("provenance", {}).get("weights_sha256")
    if audited and target.provenance.get("weights_sha256") not in (None, audited):
        msgs.append("the live model's weights differ from the audited ones")
    data = result.get("dataset", {}).get("sha256")
    if data and target.provenance.get("data_sha256") not in (None, data):
        msgs.append("the live evaluation data differ from the audited data")
    return ("Warning: " + " and ".join(msgs) + "; live scores may differ from this run.") if msgs else ""
