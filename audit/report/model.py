"""The report model: one JSON-able dict built from a run, rendered as HTML, PDF and JSON.

:func:`build_report` collects every number the report shows, in the order of
the outline in docs/statistics.md (0 metadata ... 8 limitations, appendix). The
HTML template reads only this dict (plus figures drawn from it), so the JSON
report holds every number of the HTML/PDF. It contains no timestamps other
than the run's own, so rebuilding it from the same run gives identical JSON.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audit.report import examples as _examples
from audit.report.explain import explain_section, quality_section
from audit.report.fairness import fairness_section
from audit.report.findings import limitations, section_anchor, summary

REPORT_SCHEMA_VERSION = "1.0"
Z95 = 1.959963984540054
#: Blank fields a reviewer fills in on the printed report.
SIGN_OFF_FIELDS = ("Reviewer name", "Role / function", "Decision (approve / approve with conditions / reject)",
                   "Conditions or follow-up", "Signature", "Date")
SECTIONS = (("summary", "Executive summary"), ("metadata", "0. Metadata and provenance"),
            ("intended-use", "1. Intended use and scope"), ("model", "2. Model"), ("data", "3. Data"),
            ("performance", "4. Performance"), ("fairness", "5. Fairness"), ("explainability", "6. Explainability"),
            ("quality", "6.4 Explanation quality"), ("policy", "7. Policy checks"),
            ("limitations", "8. Limitations and recommendations"), ("appendix", "Appendix: machine-readable files"))


@dataclass
class Report:
    """``data`` is the JSON report; ``assets`` holds arrays for figures that are not numbers of the report."""

    data: dict[str, Any]
    assets: dict[str, Any] = field(default_factory=dict)


def wilson(x: int, n: int) -> tuple[float | None, float | None]:
    if not n:
        return None, None
    p = x / n
    d = 1 + Z95**2 / n
    c = (p + Z95**2 / (2 * n)) / d
    h = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def _card(result: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The model card and registry metadata: from the run, else from the bundled registry."""
    card = dict(result["model"].get("card") or {})
    meta: dict[str, Any] = {}
    try:
        from models import get_entry

        meta = dict(get_entry(result["model"]["name"]).weights.meta)
    except Exception:  # a user model is not in the bundled registry; the run's own card is all there is
        meta = {}
    if card:
        return card, meta, "run"
    if meta.get("card") and meta.get("sha256") == result["provenance"].get("weights_sha256"):
        return dict(meta["card"]), meta, "bundled model registry (same weights sha256)"
    return {}, meta, "none"


def _commit(value: Any) -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` from either provenance form: a plain sha or ``{"commit", "dirty"}``."""
    if isinstance(value, dict):
        return value.get("commit"), value.get("dirty")
    return value, None


def metadata(result: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    prov = result["provenance"]
    commit, dirty = _commit(prov.get("git_commit"))
    return {
        "run_id": result["run_id"], "created_at": prov["created_at"], "model": result["model"]["name"],
        "model_spec": result["model"].get("spec"), "version": meta.get("version") or "weights sha256 " +
        str(prov.get("weights_sha256", ""))[:12], "domain": result["model"]["domain"], "task": result["model"]["task"],
        "weights_sha256": prov.get("weights_sha256"), "data_sha256": prov.get("data_sha256"),
        "git_commit": commit, "git_dirty": dirty, "seed": prov.get("seed"), "device": prov.get("device"),
        "packages": prov.get("packages", {}), "config": prov.get("config", {}),
        "timings": prov.get("timings", {}), "result_schema_version": result["schema_version"],
        "report_schema_version": REPORT_SCHEMA_VERSION, "sign_off": list(SIGN_OFF_FIELDS),
    }


def model_section(result: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    m = result["model"]
    return {"name": m["name"], "domain": m["domain"], "task": m["task"], "class_names": m["class_names"],
            "favorable_label": m.get("favorable_label"), "num_params": m.get("num_params"),
            "architecture": meta.get("architecture"), "training_data": meta.get("dataset"),
            "recipe": result["provenance"].get("recipe") or meta.get("recipe") or {},
            "card_metrics": result["performance"].get("card_metrics", {})}


def data_section(result: dict[str, Any]) -> dict[str, Any]:
    ds = result["dataset"]
    n = ds["n_samples"]
    kinds = {c: "sensitive" for c in ds.get("sensitive_columns", [])} | {c: "cohort" for c in ds.get("cohort_columns", [])}
    min_share = result.get("fairness", {}).get("policy", {}).get("min_group_share")
    attrs = []
    for name, groups in ds.get("groups", {}).items():
        rows = [{"group": g, "n": c, "share": c / n, "unknown": g == "unknown",
                 "below_min_share": bool(min_share is not None and c / n < min_share)} for g, c in groups.items()]
        attrs.append({"name": name, "kind": kinds.get(name, "cohort"), "groups": rows,
                      "n_unknown": groups.get("unknown", 0)})
    return {"name": ds.get("name"), "n_samples": n, "sha256": ds.get("sha256"), "min_group_share": min_share,
            "attributes": attrs}


#: Appended to an interval method when the run is too small for it (the interval is then null, shown as such).
ONE_SAMPLE = "; not computable from a single sample"
MEAN_METHOD = "normal approximation of the per-sample mean, 95%"
ZERO_SE = "; not computable: the standard error is 0 at an AUC of 0 or 1"


def _mean_interval(values: np.ndarray, point: float) -> tuple[float | None, float | None]:
    # One sample has no spread to estimate: a zero-width interval would claim certainty, so there is none.
    if len(values) < 2:
        return None, None
    se = float(np.std(values, ddof=1) / math.sqrt(len(values)))
    return point - Z95 * se, point + Z95 * se


def performance_section(run: Any, fair: dict[str, Any]) -> dict[str, Any]:
    """Overall metrics with intervals, per class, and per group (from the fairness tables)."""
    result = run.result
    ov = result["performance"]["overall"]
    n = ov["n"]
    rows = []
    lo, hi = wilson(ov["n_correct"], n)
    rows.append({"metric": "accuracy", "value": ov["accuracy"], "lo": lo, "hi": hi, "n": n,
                 "method": "Wilson score interval, 95%"})
    pred = run.predictions()
    classes = result["model"]["class_names"]
    y = pred["y_true"].to_numpy()
    cols = [f"prob_{c}" for c in classes] if f"prob_{classes[0]}" in pred else [f"prob_{i}" for i in range(len(classes))]
    if "roc_auc" in ov and ov["roc_auc"] is not None:
        auc, n1, n0 = ov["roc_auc"], int((y == 1).sum()), int((y == 0).sum())
        q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
        se = math.sqrt((auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)) / (n1 * n0))
        # At an AUC of 0 or 1 the Hanley-McNeil error is 0 whatever n: no interval rather than a certain-looking one.
        rows.append({"metric": "roc_auc", "value": auc, "lo": max(0.0, auc - Z95 * se) if se else None,
                     "hi": min(1.0, auc + Z95 * se) if se else None, "n": n,
                     "method": "Hanley & McNeil (1982) standard error, 95%" + ("" if se else ZERO_SE)})
    if all(c in pred for c in cols):
        probs = pred[cols].to_numpy()
        if ov.get("log_loss") is not None:
            per = -np.log(np.clip(probs[np.arange(len(y)), y], 1e-15, 1))
            lo, hi = _mean_interval(per, ov["log_loss"])
            rows.append({"metric": "log_loss", "value": ov["log_loss"], "lo": lo if lo is None else max(0.0, lo),
                         "hi": hi, "n": n, "method": MEAN_METHOD + (ONE_SAMPLE if lo is None else "")})
        if ov.get("brier") is not None and probs.shape[1] == 2:
            per = (probs[:, 1] - y) ** 2
            lo, hi = _mean_interval(per, ov["brier"])
            rows.append({"metric": "brier", "value": ov["brier"], "lo": lo if lo is None else max(0.0, lo),
                         "hi": hi, "n": n, "method": MEAN_METHOD + (ONE_SAMPLE if lo is None else "")})
    per_class = [{"class": r["class"], "precision": r["precision"], "recall": r["recall"], "f1": r["f1"],
                  "support": r["support"]} for r in result["performance"].get("per_class", [])]
    by_group = [{"attribute": a["name"], "kind": a["kind"], "anchor": a["anchor"],
                 "groups": [{"group": g["group"], "n": g["n"], "small_group": g["small_group"],
                             **{m: g[m] for m in ("accuracy", "tpr", "fpr") if m in g}} for g in a["groups"]]}
                for a in fair["attributes"]]
    calibration = [{"attribute": a["name"], "rows": a["calibration"]} for a in fair["attributes"] if a["calibration"]]
    return {"overall": rows, "per_class": per_class, "by_group": by_group, "calibration": calibration}


def policy_section(result: dict[str, Any]) -> dict[str, Any]:
    rows = [{"id": c["id"], "description": c["description"], "value": c["value"], "threshold": c["threshold"],
             "comparison": c.get("comparison", "<="), "passed": c["passed"], "note": c.get("note", ""),
             "section": section_anchor(c["id"])} for c in result["checks"]]
    return {"source": result.get("fairness", {}).get("policy", {}).get("source", "default"), "checks": rows}


def build_report(run: Any, *, with_examples: bool = True) -> Report:
    """Build the report model of a stored run, from the run directory alone (no model is loaded).

    Parameters
    ----------
    run : audit.store.Run
    with_examples : bool
        False skips the local examples.

    Returns
    -------
    Report
        ``report.data`` is the JSON report (validated by :func:`audit.report.validate_report`).
    """
    result = run.result
    card, meta, card_source = _card(result)
    fair = fairness_section(result)
    summ = summary(result["checks"])
    ex = _examples.local_examples(run) if with_examples else _examples.Examples(
        {"kind": "none", "methods": [], "samples": [], "note": "local examples not requested"})
    explain = explain_section(result)
    explain["examples"] = ex.data
    data = {
        "report_schema_version": REPORT_SCHEMA_VERSION,
        "run_id": result["run_id"],
        "title": f"Audit report: {result['model']['name']}",
        "sections": [{"id": i, "title": t} for i, t in SECTIONS],
        "summary": summ,
        "metadata": metadata(result, meta),
        "intended_use": {"source": card_source, "intended_use": card.get("intended_use", ""),
                         "out_of_scope": card.get("out_of_scope", ""), "limitations": card.get("limitations", "")},
        "model": model_section(result, meta),
        "data": data_section(result),
        "performance": performance_section(run, fair),
        "fairness": fair,
        "explainability": explain,
        "quality": quality_section(result),
        "policy": policy_section(result),
        "limitations": limitations(result, card, summ["failed"]),
        "appendix": {"result_json": f"runs/{result['run_id']}/result.json",
                     "report_json": f"{result['run_id']}.report.json",
                     "model_card_json": f"{result['run_id']}.model-card.json",
                     "arrays": [f"runs/{result['run_id']}/arrays/{n}.npz" for n in run.array_names()]},
    }
    assets = {"images": ex.images,
              # Reliability bins per sensitive attribute (figures only; the ECE numbers are in the JSON).
              "reliability": {a["name"]: a["reliability"] for a in result["fairness"].get("attributes", [])
                              if a.get("kind") == "sensitive" and a.get("reliability")}}
    if result["model"]["domain"] == "vision":
        for m in result["explanations"].get("methods", {}):
            if f"view_{m}" in run.array_names():
                assets.setdefault("class_maps", {})[m] = run.arrays(f"view_{m}")["class_maps"]
    from audit.store import to_jsonable

    return Report(to_jsonable(data), assets)
