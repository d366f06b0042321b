"""Model card JSON in the Model Card Toolkit's layout (schema 0.0.2).

Sections: ``model_details``, ``model_parameters``, ``quantitative_analysis``
(performance metrics with confidence intervals, overall and per group
slice) and ``considerations`` (users, use cases, limitations, ethical
considerations from failed policy checks). As in the toolkit's schema,
metric values and interval bounds are strings; they are ``repr`` of the
report's floats, so no precision is lost.
"""
from __future__ import annotations

from typing import Any

MCT_SCHEMA_VERSION = "0.0.2"
NOT_COMPUTABLE_METRIC = "{metric} for {slice} is not computable on the evaluation data{why}"


def _s(v: Any) -> str:
    return "" if v is None else repr(float(v)) if isinstance(v, float) else str(v)


def _metric(kind: str, value: Any, lo: Any = None, hi: Any = None, slice_: str = "",
            threshold: Any = None) -> dict[str, Any]:
    m: dict[str, Any] = {"type": kind, "value": _s(value), "slice": slice_}
    if lo is not None and hi is not None:
        m["confidence_interval"] = {"lower_bound": _s(lo), "upper_bound": _s(hi)}
    if threshold is not None:
        m["threshold"] = _s(threshold)
    return m


def model_card(data: dict[str, Any]) -> dict[str, Any]:
    """The model card of one report model (:attr:`deepaudit.audit.report.Report.data`).

    A metric the run could not compute has no value to state, so it is listed under
    ``considerations.limitations`` (with the reason) instead of as an empty metric.
    """
    md, mo, iu = data["metadata"], data["model"], data["intended_use"]
    metrics = [_metric(x["metric"], x["value"], x["lo"], x["hi"]) for x in data["performance"]["overall"]]
    missing: list[str] = []
    binary = data["fairness"]["binary"]
    for a in data["fairness"]["attributes"]:
        for g in a["groups"]:
            sl = f"{a['name']}={g['group']}"
            for m in ("accuracy", "selection_rate") if binary else ("accuracy",):
                if m in g and g[m]:
                    if g[m]["value"] is None:
                        missing.append(NOT_COMPUTABLE_METRIC.format(metric=m, slice=sl, why=""))
                    else:
                        metrics.append(_metric(m, g[m]["value"], g[m]["lo"], g[m]["hi"], sl))
        for c in a["comparisons"]:
            if c["impact_ratio"]:
                ir, sl = c["impact_ratio"], f"{a['name']}={c['group']}"
                if ir["value"] is None:
                    missing.append(NOT_COMPUTABLE_METRIC.format(metric="impact_ratio", slice=sl,
                                                                why=f": {ir['note']}" if ir.get("note") else ""))
                    continue
                metrics.append(_metric("impact_ratio", ir["value"], ir["lo"], ir["hi"], sl,
                                       data["fairness"]["policy"].get("impact_ratio_min")))
    arch = mo.get("architecture")
    return {
        "schema_version": MCT_SCHEMA_VERSION,
        "model_details": {
            "name": mo["name"],
            "overview": f"{mo['task']}. Audited by deepaudit, run {md['run_id']}.",
            "version": {"name": md["version"], "date": md["created_at"]},
            "documentation": iu.get("intended_use", ""),
            "references": [{"reference": data["appendix"]["report_json"]}],
            "path": md.get("model_spec") or mo["name"],
        },
        "model_parameters": {
            "model_architecture": (", ".join(f"{k}: {v}" for k, v in arch.items()) if isinstance(arch, dict)
                                   else str(arch or "")),
            "data": {"train": {"name": str(mo.get("training_data") or "")},
                     "eval": {"name": str(data["data"]["name"]), "sensitive": {
                         "sensitive_data": [a["name"] for a in data["data"]["attributes"]
                                            if a["kind"] == "sensitive"]}}},
            "input_format": mo["domain"],
            "output_format": "logits over classes: " + ", ".join(mo["class_names"]),
        },
        "quantitative_analysis": {"performance_metrics": metrics},
        "considerations": {
            "users": [{"description": "model-risk validators, fair-lending officers and AI-Act reviewers"}],
            "use_cases": [{"description": iu.get("intended_use") or "not stated"}],
            "limitations": [{"description": t} for t in (iu.get("limitations"), iu.get("out_of_scope") and
                                                           f"out of scope: {iu['out_of_scope']}", *missing) if t],
            "tradeoffs": [{"description": f"mitigation what-if ({m['attribute']}): see the report's fairness section"}
                          for m in (data["fairness"].get("mitigation") or {}).get("attributes", []) if m["rows"]],
            "ethical_considerations": [{"name": f["title"], "mitigation_strategy": f["advice"]}
                                       for f in data["summary"]["failed"]],
        },
    }
