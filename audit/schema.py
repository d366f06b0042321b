"""The versioned results schema: the hand-off between computation and presentation.

A run's ``result.json`` is a JSON object with exactly the top-level keys in
``TOP_LEVEL_KEYS``; :data:`RESULT_SCHEMA` (JSON Schema draft 2020-12) describes
every section and table in it, and :func:`validate_result` enforces it.
``checks`` is a list of :class:`Check` records whose structured fields
(``family``, ``subject``, ``group``, ``method``, ``policy_key``, ``params``)
say what each check measures, so no reader parses ids or prose. Arrays
(attributions, saliency maps, display inputs) live beside it as ``.npz`` files
and are referenced by relative path; per-sample predictions live in
``predictions.parquet``. :class:`deepaudit.audit.result.AuditResult` is the typed view.

Version history:

* 1.0: first release.
* 2.0: checks carry structured fields; performance holds its intervals
  (Wilson, Hanley-McNeil, log-loss) and per-class intervals; the reason-codes
  probe records its parameters as data (``params``); every section is
  described. Runs written as 1.0 are migrated on reading by
  :func:`deepaudit.audit.migrate.migrate` (the only code that still reads check ids).
  Later 2.0 runs add, without changing what older ones hold: quality entries
  for every published method (``completeness_<method>``,
  ``deletion_insertion_<method>``, ``robustness_<method>`` beside the
  primary method's unsuffixed keys), the ``completeness`` check family, and
  the ``not_applicable`` entry (:mod:`deepaudit.audit.quality.suite`). Readers treat a
  run without them as one that checked only its primary method.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = "2.0"
TOP_LEVEL_KEYS = ("schema_version", "run_id", "model", "dataset", "provenance", "performance", "fairness",
                  "explanations", "quality", "checks")

INVALID_RESULT = "result does not match deepaudit results schema {version}: {error} (at {path})."
NEWER_SCHEMA = ("result was written with schema {found}, newer than this deepaudit reads ({ours}). "
                "Fix: upgrade deepaudit.")

#: Built-in check families: (area, what ``subject`` names). docs/statistics.md explains each.
CHECK_FAMILIES: dict[str, tuple[str, str]] = {
    "fairness.impact_ratio": ("fairness", "attribute"),
    "fairness.equalized_odds_difference": ("fairness", "attribute"),
    "fairness.demographic_parity_difference": ("fairness", "attribute"),
    "fairness.ece": ("fairness", "attribute"),
    "fairness.min_group_share": ("fairness", "attribute"),
    "fairness.cohort_accuracy_gap": ("fairness", "attribute"),
    "fairness.favourable_outcome_given": ("fairness", "favourable label"),
    "fairness.proxy": ("fairness", "attribute"),
    "fairness.reason_faithfulness": ("fairness", "favourable label"),
    "counterfactual_flip_share": ("fairness", "attribute"),
    "counterfactual_max_abs_diff": ("fairness", "attribute"),
    "shortcut": ("shortcut", "artifact probe"),
    "sanity_randomization": ("quality", "attribution method"),
    "infidelity": ("quality", "attribution method"),
    "max_sensitivity": ("quality", "attribution method"),
    "completeness_ig": ("quality", "attribution method"),
    "completeness": ("quality", "attribution method"),
    "deletion_auc_vs_random": ("quality", "attribution method"),
    "insertion_auc_vs_random": ("quality", "attribution method"),
}


def check_area(family: str) -> str:
    """``fairness``, ``quality`` (explanation quality), ``shortcut`` or ``other`` (a family deepaudit does not know)."""
    return CHECK_FAMILIES.get(family, ("other", ""))[0]


@dataclass(frozen=True)
class Check:
    """One pass/fail entry of ``checks``.

    ``value`` is compared with ``threshold`` using ``comparison`` (``"<="`` or
    ``">="``); ``passed`` is exactly that comparison, so a flag fires exactly
    when its threshold is crossed. ``value`` may be None when the check could
    not be computed, in which case ``passed`` is False and ``note`` says why.

    Structured fields: ``family`` (what kind of check, a key of
    :data:`CHECK_FAMILIES` for built-in checks; defaults to ``id``),
    ``subject`` (the attribute, probe or method it is about), ``group`` (the
    group or pair that decided the value), ``method`` (the attribution method
    judged), ``policy_key`` (the policy field its threshold comes from) and
    ``params`` (every parameter of the computation, as data).
    """

    id: str
    description: str
    value: float | None
    threshold: float
    comparison: str = "<="
    note: str = ""
    family: str = ""
    subject: str | None = None
    group: str | None = None
    method: str | None = None
    policy_key: str | None = None
    params: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not self.family:
            object.__setattr__(self, "family", self.id)

    @property
    def passed(self) -> bool:
        if self.value is None or not math.isfinite(self.value):
            return False
        return self.value <= self.threshold if self.comparison == "<=" else self.value >= self.threshold

    @property
    def computed(self) -> bool:
        return self.value is not None and math.isfinite(self.value)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["passed"] = self.passed
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Check:
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in names})


# -- JSON Schema -------------------------------------------------------------------------------------------
_NUM = {"type": ["number", "null"]}          # NaN and inf are stored as null
_INT = {"type": "integer"}
_STR = {"type": "string"}
_OPT_STR = {"type": ["string", "null"]}
_BOOL = {"type": "boolean"}
_STR_LIST = {"type": "array", "items": {"type": "string"}}


def _obj(required: dict[str, Any], optional: dict[str, Any] | None = None, *, closed: bool = False) -> dict[str, Any]:
    props = {**required, **(optional or {})}
    out: dict[str, Any] = {"type": "object", "required": list(required), "properties": props}
    if closed:
        out["additionalProperties"] = False
    return out


def _table(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    """A tidy table: an array of row objects with at least these columns."""
    return {"type": "array", "items": _obj(required, optional)}


_CHECK = _obj(
    {"id": {"type": "string", "pattern": "^[a-z0-9_.:-]+$"}, "description": {"type": "string", "minLength": 1},
     "value": _NUM, "threshold": {"type": "number"}, "comparison": {"enum": ["<=", ">="]}, "passed": _BOOL,
     "family": {"type": "string", "minLength": 1}},
    {"note": _STR, "subject": _OPT_STR, "group": _OPT_STR, "method": _OPT_STR, "policy_key": _OPT_STR,
     "params": {"type": "object"}}, closed=True)

_INTERVAL = _obj({"lo": _NUM, "hi": _NUM, "method": _STR}, {"level": {"type": "number"}})

_PERFORMANCE = _obj({
    "overall": _obj({"n": _INT, "accuracy": _NUM, "n_correct": _INT, "log_loss": _NUM},
                    {"roc_auc": _NUM, "brier": _NUM}),
    "per_class": _table({"class": _STR, "precision": _NUM, "recall": _NUM, "f1": _NUM, "support": _INT}),
    "card_metrics": {"type": "object"},
}, {"intervals": {"type": "object", "additionalProperties": _INTERVAL},
    "per_class_interval": _obj({"level": {"type": "number"}, "method": _STR}),
    "confusion": _table({"true": _STR, "predicted": _STR, "count": _INT, "row_share": _NUM})})

_GROUPS = _table({"attribute": _STR, "group": _STR, "n": _INT, "share": _NUM, "small_group": _BOOL},
                 {"selection_rate": _NUM, "accuracy": _NUM, "tpr": _NUM, "fpr": _NUM, "ppv": _NUM,
                  "tp": _INT, "fp": _INT, "tn": _INT, "fn": _INT, "is_reference": _BOOL})
_DISPARITIES = _table({"attribute": _STR, "group": _STR, "metric": _STR, "statistic": _STR, "value": _NUM},
                      {"reference": _STR, "lo": _NUM, "hi": _NUM, "method": _STR, "n": _INT, "too_small": _BOOL})
_SIGNIFICANCE = _table({"attribute": _STR, "group": _STR, "metric": _STR, "p_value": _NUM},
                       {"p_adjusted": _NUM, "significant": _BOOL, "test": _STR, "correction": _STR})
_CALIBRATION = _table({"attribute": _STR, "group": _STR, "ece": _NUM}, {"lo": _NUM, "hi": _NUM, "n_bins": _INT})
_RELIABILITY = _table({"attribute": _STR, "group": _STR, "bin": _INT}, {"mean_score": _NUM, "observed_rate": _NUM})
_ATTRIBUTE = _obj({"name": _STR, "kind": _STR, "groups": _GROUPS},
                  {"rate_meaning": _STR, "disparities": _DISPARITIES, "significance": _SIGNIFICANCE,
                   "calibration": _CALIBRATION, "reliability": _RELIABILITY})
_PROBES = _obj({}, {
    "reason_codes": _obj({"method": _STR, "table": {"type": "array"}},
                         {"reference": _STR, "summary": {"type": "array"}, "params": {"type": "object"},
                          "faithfulness": _obj({"summary": {"type": "object"}, "table": {"type": "array"}})}),
    "proxy": _table({"attribute": _STR, "feature": _STR}, {"eta": _NUM, "p_value": _NUM, "proxy_candidate": _BOOL,
                                                          "evidence": _STR}),
    # what drives each group's gap to its reference (audit/fairness/gap.py)
    "gap": _obj({"method": _STR, "params": {"type": "object"},
                 "summary": _table({"attribute": _STR, "group": _STR, "reference": _STR},
                                   {"gap": _NUM, "pair_gap": _NUM, "completeness_residual": _NUM}),
                 "table": _table({"attribute": _STR, "group": _STR, "feature": _STR},
                                 {"contribution": _NUM, "lo": _NUM, "hi": _NUM, "rank": _INT})}),
    # per attribute: the what-if table, or {"skipped": why} when it could not be computed
    "mitigation": _obj({"method": _STR, "by_attribute": {"type": "object", "additionalProperties": {
        "oneOf": [{"type": "array"}, _obj({"skipped": _STR}, closed=True)]}}}),
    "counterfactual": _obj({}, {"groups": {"type": "array"}, "pairs": {"type": "array"},
                                "settings": {"type": "object"}, "notes": {"type": "array"}}),
})
_FAIRNESS = _obj({"status": _STR}, {"policy": {"type": "object"}, "favorable_label": _OPT_STR,
                                    "reference_rule": _STR, "outcome": _STR,
                                    "attributes": {"type": "array", "items": _ATTRIBUTE}, "probes": _PROBES,
                                    "reason": _STR})

_METHOD = _obj({"n_samples": _INT, "array": _STR, "needs_baseline": _BOOL, "options": {"type": "object"},
                "tables": {"type": "object", "additionalProperties": {"type": "array"}}},
               {"label": _STR, "params": {"type": "object"}})
_EXPLANATIONS = _obj({"methods": {"type": "object", "additionalProperties": _METHOD}},
                     {"explained_class": _STR, "sample_index": _STR,
                      # which rows were explained and why that many (audit/sampling.py)
                      "sample": _obj({"n_rows": {"type": "integer", "minimum": 0},
                                      "n_explained": {"type": "integer", "minimum": 0},
                                      "how": {"type": "string", "minLength": 1}},
                                     {"strata": _STR, "seed": {"type": "integer"},
                                      "sizing": {"type": ["object", "null"]},
                                      "achieved_precision": {"type": ["number", "null"]}}),
                      "shortcut_probes": {"type": "array", "items": _obj({"summary": {"type": "object"},
                                                                          "table": {"type": "array"}})}})
# One entry per measurement (audit/quality/suite.py names the keys); ``not_applicable`` lists, per published
# method, the check families that do not apply to it (or were not run) and why.
_NOT_APPLICABLE_ROW = _obj({"method": _STR, "check": {"enum": ["completeness", "deletion_insertion", "robustness",
                                                               "randomization"]},
                            "reason": {"type": "string", "minLength": 1}},
                           {"status": {"enum": ["not applicable", "not run"]}})
_QUALITY = {"type": "object",
            "properties": {"not_applicable": _obj({"name": {"const": "not_applicable"}, "summary": {"type": "object"},
                                                   "tables": _obj({"rows": {"type": "array",
                                                                            "items": _NOT_APPLICABLE_ROW}})})},
            "additionalProperties": _obj({
                "name": _STR, "summary": {"type": "object"},
                "tables": {"type": "object", "additionalProperties": {"type": "array"}}})}

RESULT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": f"https://deepaudit.dev/schema/result-{SCHEMA_VERSION}.json",
    "title": "deepaudit run result",
    "type": "object",
    "required": list(TOP_LEVEL_KEYS),
    "additionalProperties": False,
    "properties": {
        "schema_version": {"type": "string", "pattern": r"^\d+\.\d+$"},
        "run_id": {"type": "string", "minLength": 1},
        "model": _obj({"name": _STR, "domain": _STR, "task": _STR,
                       "class_names": {"type": "array", "items": _STR, "minItems": 1},
                       "favorable_label": _OPT_STR, "spec": _STR},
                      {"num_params": _INT, "feature_names": {"type": ["array", "null"], "items": _STR},
                       "card": {"type": "object"}, "features": {"type": "object"},
                       "kind": {"enum": ["tabular", "image", "text", "other", None]},
                       "capabilities": {"type": "object"}, "row_noun": _OPT_STR}),
        "dataset": _obj({"n_samples": {"type": "integer", "minimum": 1}, "sha256": _STR,
                         "groups": {"type": "object", "additionalProperties": {
                             "type": "object", "additionalProperties": _INT}}},
                        {"name": _STR, "sensitive_columns": _STR_LIST, "cohort_columns": _STR_LIST}),
        "provenance": _obj({"weights_sha256": _STR, "data_sha256": _STR, "seed": _INT, "device": _STR,
                            "packages": {"type": "object", "additionalProperties": _STR}, "created_at": _STR},
                           {"recipe": {"type": ["object", "string", "null"]},
                            "git_commit": {"type": ["object", "null"]},
                            "timings": {"type": "object", "additionalProperties": {"type": "number"}},
                            "config": {"type": "object"},
                            # what AuditTarget.validate() decided: Grad-CAM's layer when none was named, a cast
                            "target_notes": {"type": "object", "additionalProperties": _STR}}),
        "performance": _PERFORMANCE,
        "fairness": _FAIRNESS,
        "explanations": _EXPLANATIONS,
        "quality": _QUALITY,
        "checks": {"type": "array", "items": _CHECK},
    },
}


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


def is_newer(version: Any) -> bool:
    """True for a version string whose major number is above this deepaudit's."""
    return (isinstance(version, str) and version.replace(".", "").isdigit() and version.count(".") == 1
            and _version_tuple(version)[0] > _version_tuple(SCHEMA_VERSION)[0])


_VALIDATORS: dict[int, Any] = {}


def first_violation(schema: dict[str, Any], instance: Any) -> Any:
    """The error ``jsonschema.validate(instance, schema)`` would raise (its ``best_match``), or None.

    The validator is built once per schema object. ``jsonschema.validate`` also checks the schema
    against its metaschema on every call (0.15 s for the run schema, more than validating a run);
    our schemas are constants, so that check runs in the test suite
    (tests/audit/test_schema_validity.py), not on every run written.
    """
    import jsonschema

    key = id(schema)
    if key not in _VALIDATORS:
        cls = jsonschema.validators.validator_for(schema)
        _VALIDATORS[key] = (schema, cls(schema))   # the schema is kept alive, so its id stays unique
    return jsonschema.exceptions.best_match(_VALIDATORS[key][1].iter_errors(instance))


def validate_result(result: dict[str, Any]) -> dict[str, Any]:
    """Raise ``ValueError`` naming the first violation; return ``result`` unchanged when valid.

    Validates against the current schema; read older runs through
    :func:`deepaudit.audit.migrate.migrate` first.
    """
    found = result.get("schema_version") if isinstance(result, dict) else None
    if is_newer(found):
        raise ValueError(NEWER_SCHEMA.format(found=found, ours=SCHEMA_VERSION))
    e = first_violation(RESULT_SCHEMA, result)
    if e is not None:
        path = "/".join(str(p) for p in e.absolute_path) or "<root>"
        raise ValueError(INVALID_RESULT.format(version=SCHEMA_VERSION, error=e.message, path=path))
    for c in result["checks"]:
        recomputed = Check(c["id"], c["description"], c["value"], c["threshold"],
                           c.get("comparison", "<=")).passed
        if recomputed != c["passed"]:
            raise ValueError(INVALID_RESULT.format(version=SCHEMA_VERSION, path=f"checks/{c['id']}",
                                                   error="'passed' disagrees with value vs threshold"))
    return result
