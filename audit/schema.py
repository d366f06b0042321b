"""The versioned results schema: the hand-off between computation and presentation.

A run's ``result.json`` is a JSON object with exactly the top-level keys in
``TOP_LEVEL_KEYS``; ``checks`` is a list of :class:`Check` records. Arrays
(attributions, saliency maps) live beside it as ``.npz`` files and are
referenced by relative path; per-sample predictions live in
``predictions.parquet``. :data:`RESULT_SCHEMA` is the JSON Schema (draft
2020-12) that :func:`validate_result` enforces; the report and the dashboard
read only what it describes.

Version history: 1.0 (first release).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

SCHEMA_VERSION = "1.0"
TOP_LEVEL_KEYS = ("schema_version", "run_id", "model", "dataset", "provenance", "performance", "fairness",
                  "explanations", "quality", "checks")

INVALID_RESULT = "result does not match deepaudit results schema {version}: {error} (at {path})."
NEWER_SCHEMA = ("result was written with schema {found}, newer than this deepaudit reads ({ours}). "
                "Fix: upgrade deepaudit.")


@dataclass(frozen=True)
class Check:
    """One pass/fail entry of ``checks``.

    ``value`` is compared with ``threshold`` using ``comparison`` (``"<="`` or
    ``">="``); ``passed`` is exactly that comparison, so a flag fires exactly
    when its threshold is crossed. ``value`` may be None when the check could
    not be computed, in which case ``passed`` is False and ``note`` says why.
    """

    id: str
    description: str
    value: float | None
    threshold: float
    comparison: str = "<="
    note: str = ""

    @property
    def passed(self) -> bool:
        if self.value is None or not math.isfinite(self.value):
            return False
        return self.value <= self.threshold if self.comparison == "<=" else self.value >= self.threshold

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["passed"] = self.passed
        return d


_CHECK = {
    "type": "object",
    "required": ["id", "description", "value", "threshold", "passed"],
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z0-9_.:-]+$"},
        "description": {"type": "string", "minLength": 1},
        "value": {"type": ["number", "null"]},
        "threshold": {"type": "number"},
        "comparison": {"enum": ["<=", ">="]},
        "passed": {"type": "boolean"},
        "note": {"type": "string"},
    },
}

RESULT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "deepaudit run result",
    "type": "object",
    "required": list(TOP_LEVEL_KEYS),
    "additionalProperties": False,
    "properties": {
        "schema_version": {"type": "string", "pattern": r"^\d+\.\d+$"},
        "run_id": {"type": "string", "minLength": 1},
        "model": {
            "type": "object",
            "required": ["name", "domain", "task", "class_names", "favorable_label"],
            "properties": {"name": {"type": "string"}, "domain": {"type": "string"},
                           "class_names": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
        },
        "dataset": {
            "type": "object",
            "required": ["n_samples", "sha256", "groups"],
            "properties": {"n_samples": {"type": "integer", "minimum": 1}, "sha256": {"type": "string"}},
        },
        "provenance": {
            "type": "object",
            "required": ["weights_sha256", "data_sha256", "seed", "device", "packages", "created_at"],
        },
        "performance": {"type": "object", "required": ["overall"]},
        "fairness": {"type": "object", "required": ["status"]},
        "explanations": {"type": "object", "required": ["methods"]},
        "quality": {"type": "object"},
        "checks": {"type": "array", "items": _CHECK},
    },
}


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


def validate_result(result: dict[str, Any]) -> dict[str, Any]:
    """Raise ``ValueError`` naming the first violation; return ``result`` unchanged when valid."""
    import jsonschema

    found = result.get("schema_version") if isinstance(result, dict) else None
    if isinstance(found, str) and found.replace(".", "").isdigit():
        if _version_tuple(found)[0] > _version_tuple(SCHEMA_VERSION)[0]:
            raise ValueError(NEWER_SCHEMA.format(found=found, ours=SCHEMA_VERSION))
    try:
        jsonschema.validate(result, RESULT_SCHEMA)
    except jsonschema.ValidationError as e:
        path = "/".join(str(p) for p in e.absolute_path) or "<root>"
        raise ValueError(INVALID_RESULT.format(version=SCHEMA_VERSION, error=e.message, path=path)) from None
    for c in result["checks"]:
        recomputed = Check(c["id"], c["description"], c["value"], c["threshold"],
                           c.get("comparison", "<=")).passed
        if recomputed != c["passed"]:
            raise ValueError(INVALID_RESULT.format(version=SCHEMA_VERSION, path=f"checks/{c['id']}",
                                                   error="'passed' disagrees with value vs threshold"))
    return result

