"""One small run store and one set of reports for the whole report test package.

Two runs keep it under a minute: mortgage (finance: fairness tables, reason
codes, mitigation) and the shortcut canary (vision: a failed shortcut check,
saliency overlays), each with few explained samples.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

MODELS = {"mortgage": 80, "mnist_cnn_shortcut": 16}


@pytest.fixture(scope="session")
def report_store(tmp_path_factory, bundled_target) -> Path:
    from deepaudit.audit.runner import RunConfig, run_target
    from deepaudit.audit.store import RunStore

    root = tmp_path_factory.mktemp("report_store")
    store = RunStore(root)
    for spec, n in MODELS.items():
        target = bundled_target(spec)
        run_target(target, RunConfig(samples=n, quality_samples=4, progress=False, device="cpu"), store=store,
                   spec=spec)
    return root


@pytest.fixture(scope="session")
def reports(report_store, tmp_path_factory) -> dict[str, dict]:
    """Per model: the Run, the Written paths by suffix, and the parsed JSON report."""
    import json

    from deepaudit.audit.report import write_reports
    from deepaudit.audit.store import RunStore

    out = tmp_path_factory.mktemp("reports")
    have_pdf = shutil.which("pdftoppm") is not None
    got = {}
    for model in MODELS:
        run = RunStore(report_store).load(f"latest:{model}")
        formats = "html,pdf,json,model-card" if have_pdf else "html,json,model-card"
        written = write_reports(run, out, formats=formats)
        paths = {p.name[len(run.run_id):]: p for p in written.paths}
        got[model] = {"run": run, "paths": paths, "written": written,
                      "json": json.loads(paths[".report.json"].read_text())}
    return got
