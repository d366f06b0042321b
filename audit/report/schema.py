"""The JSON Schema of the report (``report.schema.json``, shipped in the package)."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

INVALID_REPORT = "report does not match report.schema.json: {error} (at {path}). Fix: this is a deepaudit bug; " \
                 "please report it with the run's result.json."


@lru_cache(maxsize=1)
def report_schema() -> dict[str, Any]:
    """The shipped schema as a dict."""
    return json.loads(resources.files("deepaudit.audit.report").joinpath("report.schema.json").read_text())


def validate_report(data: dict[str, Any]) -> dict[str, Any]:
    """Raise ``ValueError`` naming the first violation; return ``data`` unchanged when valid."""
    from deepaudit.audit.schema import first_violation

    e = first_violation(report_schema(), data)
    if e is not None:
        path = "/".join(str(p) for p in e.absolute_path) or "<root>"
        raise ValueError(INVALID_REPORT.format(error=e.message, path=path))
    return data
