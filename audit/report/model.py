"""The report model: one JSON-able dict built from a run, rendered as HTML, PDF and JSON.

:func:`build_report` collects every number the report shows, in the order of
the outline in docs/statistics.md (0 metadata ... 8 limitations, appendix). The
HTML template reads only this dict (plus figures drawn from it), so the JSON
report holds every number of the HTML/PDF. It contains no timestamps other
than the run's own, so rebuilding it from the same run gives identical JSON.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from deepaudit.audit.capabilities import kind_of_run
from deepaudit.audit.report import examples as _examples
from deepaudit.audit.report.explain import explain_section, quality_section
from deepaudit.audit.report.fairness import fairness_section
from deepaudit.audit.report.findings import limitations, section_anchor, summary

if TYPE_CHECKING:
    from deepaudit.audit.result import AuditResult

REPORT_SCHEMA_VERSION = "1.0"
#: Blank fields a reviewer fills in on the printed report.
SIGN_OFF_FIELDS = ("Reviewer name", "Role / function", "Decision (approve / approve with conditions / reject)",
                   "Conditions or follow-up", "Signature", "Date")
SECTIONS = (("summary", "Executive summary"), ("metadata", "0. Metadata and provenance"),
            ("intended-use", "1. Intended use and scope"), ("model", "2. Model"), ("data", "3. Data"),
            ("performance", "4. Performance"), ("fairness", "5. Fairness"), ("explainability", "6. Explainability"),
            ("quality", "6.4 Explanation quality"), ("policy", "7. Policy checks"),
            ("limitations", "8. Limitations and recommendations"), ("appendix", "Appendix: machine-readable files"),
            ("glossary", "Glossary"))


@dataclass
class Report:
    """``data`` is the JSON report; ``assets`` holds arrays for figures that are not numbers of the report."""

    data: dict[str, Any]
    assets: dict[str, Any] = field(default_factory=dict)


def _card(result: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The model card and the model facts the report shows, read from the run alone.

    The target's factory puts them in ``provenance["card"]`` (``intended_use``, ``out_of_scope``,
    ``limitations``, and ``architecture``, ``training_data``, ``version`` where known) and the run stores that
    as ``result["model"]["card"]``; the report never looks a model up in a registry, so a report rebuilt
    later shows what the run recorded. Facts the card lacks come from other fields of the result where the
    runner recorded them (``result["model"]["architecture"]`` etc.), else they are "not recorded".
    """
    model = result["model"]
    card = dict(model.get("card") or {})

    def fact(key: str) -> Any:
        return card[key] if card.get(key) is not None else model.get(key)

    meta = {"architecture": fact("architecture"), "dataset": fact("training_data"), "version": fact("version")}
    return card, meta, ("run" if card else "none")


def _commit(value: Any) -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` from either provenance form: a plain sha or ``{"commit", "dirty"}``."""
    if isinstance(value, dict):
        return value.get("commit"), value.get("dirty")
    return value, None


def metadata(run: AuditResult, meta: dict[str, Any]) -> dict[str, Any]:
    prov, model = run.provenance, run.model
    commit, dirty = _commit(prov.git_commit)
    return {
        "run_id": run.run_id, "created_at": prov.created_at, "model": model.name,
        "model_spec": model.spec, "version": meta.get("version") or "weights sha256 " + prov.weights_sha256[:12],
        "domain": model.domain, "task": model.task,
        "weights_sha256": prov.weights_sha256, "data_sha256": prov.data_sha256,
        "git_commit": commit, "git_dirty": dirty, "seed": prov.seed, "device": prov.device,
        "packages": prov.packages, "config": prov.config,
        "timings": prov.timings, "result_schema_version": run.schema_version,
        "report_schema_version": REPORT_SCHEMA_VERSION, "sign_off": list(SIGN_OFF_FIELDS),
        **integrity_metadata(run),
    }


def integrity_metadata(run: AuditResult) -> dict[str, Any]:
    """The run's manifest hash, its hash-chain entry, its signature status and the reviewer sign-offs recorded
    in its store (:mod:`deepaudit.audit.integrity`); read as data, never trusted or executed."""
    from pathlib import Path

    from deepaudit.audit import integrity

    if run.path is None:
        return {"integrity": {"manifest_sha256": None, "chain_entry": None, "signature": {"status": "unsigned"}},
                "signoffs": []}
    d = Path(run.path)
    chain: list[dict[str, Any]] = []
    index = d.parent.parent / "index.sqlite"
    if index.is_file():
        import sqlite3

        try:
            con = sqlite3.connect(f"file:{index}?mode=ro", uri=True)
            try:
                chain = integrity.entries_readonly(con, run.run_id)
            finally:
                con.close()
        except sqlite3.Error:
            chain = []
    entry = next((e for e in chain if e["kind"] in ("run", "seal")), None)
    sig = integrity.signature_status(d)
    signoffs = [{k: str(e["payload"].get(k, "")) for k in ("reviewer", "decision", "conditions", "comment", "via")}
                | {"recorded_at": e["recorded_at"], "chain_entry": e["seq"]}
                for e in chain if e["kind"] == "signoff" and isinstance(e["payload"], dict)]
    return {"integrity": {"manifest_sha256": integrity.manifest_hash(d),
                          "chain_entry": None if entry is None else {"seq": entry["seq"],
                                                                     "chain_hash": entry["chain_hash"],
                                                                     "kind": entry["kind"],
                                                                     "recorded_at": entry["recorded_at"]},
                          "signature": {k: sig[k] for k in ("status", "key_fingerprint", "signer", "signed_at",
                                                            "reason", "trusted") if k in sig}},
            "signoffs": signoffs}


def model_section(run: AuditResult, meta: dict[str, Any]) -> dict[str, Any]:
    m = run.model
    return {"name": m.name, "domain": m.domain, "task": m.task, "class_names": m.class_names,
            "favorable_label": m.favorable_label, "num_params": m.num_params,
            "architecture": meta.get("architecture"), "training_data": meta.get("dataset"),
            "recipe": run.provenance.recipe or meta.get("recipe") or {},
            "card_metrics": run.performance.card_metrics}


def data_section(run: AuditResult) -> dict[str, Any]:
    ds = run.dataset
    n = ds.n_samples
    kinds = {c: "sensitive" for c in ds.sensitive_columns} | {c: "cohort" for c in ds.cohort_columns}
    min_share = run.fairness.policy.get("min_group_share")
    attrs = []
    for name, groups in ds.groups.items():
        rows = [{"group": g, "n": c, "share": c / n, "unknown": g == "unknown",
                 "below_min_share": bool(min_share is not None and c / n < min_share)} for g, c in groups.items()]
        attrs.append({"name": name, "kind": kinds.get(name, "cohort"), "groups": rows,
                      "n_unknown": groups.get("unknown", 0)})
    return {"name": ds.name, "n_samples": n, "sha256": ds.sha256, "min_group_share": min_share,
            "attributes": attrs}


#: The method of an overall metric whose run stored no interval (``performance.intervals`` is optional: a run
#: written before intervals were stored, whose predictions could not supply them on migration).
NOT_STORED = "no interval stored in this run"
#: Display order of the overall metrics.
OVERALL_ORDER = ("accuracy", "roc_auc", "log_loss", "brier")


def overall_rows(performance: dict[str, Any]) -> list[dict[str, Any]]:
    """The overall metrics with their stored intervals (:mod:`deepaudit.audit.performance`), one row per metric.

    ``performance`` is the result's performance section (``run.result["performance"]``). A run without stored
    intervals gets its metrics with null bounds and :data:`NOT_STORED`; nothing is computed here.
    """
    ov = performance["overall"]
    stored = performance.get("intervals") or {}
    rows = []
    for m in dict.fromkeys([*OVERALL_ORDER, *stored]):
        value = ov.get(m)
        if value is None:
            continue
        iv = stored.get(m, {})
        rows.append({"metric": m, "value": value, "lo": iv.get("lo"), "hi": iv.get("hi"), "n": iv.get("n", ov["n"]),
                     "method": iv.get("method") or NOT_STORED})
    return rows


def performance_section(run: AuditResult, fair: dict[str, Any]) -> dict[str, Any]:
    """Overall metrics with intervals, per class, and per group (from the fairness tables): all stored numbers."""
    perf = run.performance
    per_class = [{"class": r["class"], "precision": r["precision"], "recall": r["recall"], "f1": r["f1"],
                  "support": r["support"], **{k: r.get(k) for k in ("precision_lo", "precision_hi", "recall_lo",
                                                                      "recall_hi")}}
                 for r in perf.per_class]
    by_group = [{"attribute": a["name"], "kind": a["kind"], "anchor": a["anchor"],
                 "groups": [{"group": g["group"], "n": g["n"], "small_group": g["small_group"],
                             "undefined": g.get("undefined", ""),
                             **{m: g[m] for m in ("accuracy", "tpr", "fpr") if m in g}} for g in a["groups"]]}
                for a in fair["attributes"]]
    calibration = [{"attribute": a["name"], "rows": a["calibration"]} for a in fair["attributes"] if a["calibration"]]
    return {"overall": overall_rows(perf.to_dict()), "per_class": per_class,
            "per_class_method": perf.per_class_interval.get("method"),
            "by_group": by_group, "calibration": calibration}


def policy_section(run: AuditResult) -> dict[str, Any]:
    rows = [{"id": c.id, "description": c.description, "value": c.value, "threshold": c.threshold,
             "comparison": c.comparison, "passed": c.passed, "note": c.note,
             "section": section_anchor(c)} for c in run.checks]
    return {"source": run.fairness.policy.get("source", "default"), "checks": rows}


def build_report(run: Any, *, with_examples: bool = True, profiles: Any = ()) -> Report:
    """Build the report model of a stored run, from the run directory alone (no model is loaded).

    Parameters
    ----------
    run : deepaudit.audit.result.AuditResult
    with_examples : bool
        False skips the local examples.
    profiles : iterable of str or path
        Compliance profiles (``ll144``, ``eu-ai-act``, ``sr11-7``, ``reg-b`` or a profile file) whose
        checklists are added as the ``compliance`` section (:mod:`deepaudit.audit.compliance`).

    Returns
    -------
    Report
        ``report.data`` is the JSON report (validated by :func:`deepaudit.audit.report.validate_report`).
    """
    run_id = run.run_id
    card, meta, card_source = _card(run.result)
    fair = fairness_section(run)
    summ = summary(run.checks)
    ex = _examples.local_examples(run) if with_examples else _examples.Examples(
        {"kind": "none", "methods": [], "samples": [], "note": "local examples not requested"})
    explain = explain_section(run)
    explain["examples"] = ex.data
    data = {
        "report_schema_version": REPORT_SCHEMA_VERSION,
        "run_id": run_id,
        "title": f"Audit report: {run.model.name}",
        "sections": [{"id": i, "title": t} for i, t in SECTIONS],
        "summary": summ,
        "metadata": metadata(run, meta),
        "intended_use": {"source": card_source, "intended_use": card.get("intended_use", ""),
                         "out_of_scope": card.get("out_of_scope", ""), "limitations": card.get("limitations", "")},
        "model": model_section(run, meta),
        "data": data_section(run),
        "performance": performance_section(run, fair),
        "fairness": fair,
        "explainability": explain,
        "quality": quality_section(run),
        "policy": policy_section(run),
        "limitations": limitations(run, card, summ["failed"]),
        "appendix": {"result_json": f"runs/{run_id}/result.json",
                     "report_json": f"{run_id}.report.json",
                     "model_card_json": f"{run_id}.model-card.json",
                     "arrays": [f"runs/{run_id}/arrays/{n}.npz" for n in run.array_names()]},
    }
    assets = {"images": ex.images,
              # Reliability bins per sensitive attribute (figures only; the ECE numbers are in the JSON).
              "reliability": {a.name: a.reliability for a in run.fairness.attributes
                              if a.kind == "sensitive" and a.reliability}}
    if kind_of_run(run.model) == "image":
        for m in run.explanations.methods:
            if f"view_{m}" in run.array_names():
                assets.setdefault("class_maps", {})[m] = run.arrays(f"view_{m}")["class_maps"]
    from deepaudit.audit.store import to_jsonable

    if profiles:
        from deepaudit.audit.compliance import evaluate_profile, load_profile

        loaded = [load_profile(p) for p in dict.fromkeys(profiles)]
        data["compliance"] = [evaluate_profile(p, run, data) for p in loaded]
        data["sections"].insert(len(data["sections"]) - 2, {"id": "compliance", "title": "9. Compliance profiles"})
    return Report(to_jsonable(data), assets)
