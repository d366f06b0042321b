"""The result contract: every stored-run fixture loads through ``AuditResult.load``, round-trips, and renders
every report format and every dashboard page; the README's Python example runs; the public API resolves.

Fixtures: ``tests/fixtures/store_v1`` holds real runs written by deepaudit with results schema 1.0 (finance,
text and image models), read through the migration; the dashboard session store (schema 2.0, written by this
code) is covered by tests/dashboard.
"""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

import deepaudit as da
from deepaudit.audit.migrate import check_fields_from_id, migrate
from deepaudit.audit.result import AuditResult
from deepaudit.audit.schema import CHECK_FAMILIES, RESULT_SCHEMA, SCHEMA_VERSION, check_area, validate_result
from deepaudit.audit.store import RunStore

ROOT = Path(__file__).resolve().parent.parent
V1 = ROOT / "tests" / "fixtures" / "store_v1"


@pytest.fixture(scope="module")
def v1_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("v1") / "store"
    shutil.copytree(V1, root)  # listing writes an index; the fixture in the repository stays untouched
    return RunStore(root)


def _v1_ids():
    return sorted(p.name for p in (V1 / "runs").iterdir())


def test_fixture_store_is_schema_1_0():
    for rid in _v1_ids():
        doc = json.loads((V1 / "runs" / rid / "result.json").read_text())
        assert doc["schema_version"] == "1.0" and "family" not in doc["checks"][0]
        with pytest.raises(ValueError, match="family"):  # 1.0 is not valid 2.0 without the migration
            validate_result(doc)


@pytest.mark.parametrize("run_id", _v1_ids())
def test_v1_run_loads_migrated_and_round_trips(v1_store, run_id, tmp_path):
    res = AuditResult.load(v1_store.root, run_id)
    also = AuditResult.load(v1_store.runs_dir / run_id)
    assert res.schema_version == also.schema_version == SCHEMA_VERSION
    assert isinstance(res, AuditResult) and res.path == v1_store.runs_dir / run_id
    jsonschema.validate(res.to_dict(), RESULT_SCHEMA)
    raw = json.loads((v1_store.runs_dir / run_id / "result.json").read_text())
    assert raw["schema_version"] == "1.0"  # reading never rewrites the store
    # every check got structured fields; the ids are unchanged, so passed/failed and values are too
    assert [c.id for c in res.checks] == [c["id"] for c in raw["checks"]]
    assert [c.passed for c in res.checks] == [c["passed"] for c in raw["checks"]]
    assert all(c.family in CHECK_FAMILIES for c in res.checks)
    fair = [c for c in res.checks if check_area(c.family) == "fairness"]
    assert fair and all(c.subject and c.subject in c.id for c in fair)
    attrs = [c.subject for c in fair if c.family.startswith("fairness.")]
    assert set(attrs) <= set(res.dataset.sensitive_columns + res.dataset.cohort_columns)
    # the performance intervals were recomputed from the stored predictions and contain the stored accuracy
    acc = res.performance.intervals["accuracy"]
    assert acc["lo"] <= raw["performance"]["overall"]["accuracy"] <= acc["hi"]
    # every table is a DataFrame; save -> load into another store gives the same document
    tables = res.tables()
    assert tables and all(name in res.table_names() for name in tables)
    copy = res.save(tmp_path / "copy")
    assert AuditResult.load(tmp_path / "copy", copy.run_id).to_dict() == res.to_dict()
    assert copy.predictions().equals(res.predictions())


def test_v1_reason_codes_params_come_from_the_stored_method(v1_store):
    (rid,) = [r for r in _v1_ids() if "mortgage" in r]
    res = v1_store.load(rid)
    params = res.fairness.probes["reason_codes"]["params"]
    assert params["n_steps"] == int(re.search(r"n_steps=(\d+)", res.fairness.probes["reason_codes"]["method"])[1])


@pytest.mark.parametrize("check_id, family, subject, key", [
    ("fairness.impact_ratio.race_x_sex", "fairness.impact_ratio", "race_x_sex", "impact_ratio_min"),
    ("counterfactual_identity_race_flip_share", "counterfactual_flip_share", "identity_race",
     "counterfactual_max_flip_share"),
    ("counterfactual_gender_max_abs_diff", "counterfactual_max_abs_diff", "gender", "counterfactual_max_abs_diff"),
    ("shortcut_corner_mark", "shortcut", "corner_mark", "shortcut_ratio_max"),
    ("sanity_randomization_grad_cam", "sanity_randomization", "grad_cam", "randomization_similarity_max"),
    ("max_sensitivity_integrated_gradients", "max_sensitivity", "integrated_gradients", "max_sensitivity_max"),
    ("completeness_ig", "completeness_ig", None, "completeness_share_min"),
    ("my_own_check", "my_own_check", None, None),
])
def test_migration_reads_1_0_check_ids(check_id, family, subject, key):
    f = check_fields_from_id(check_id)
    assert (f["family"], f["subject"], f["policy_key"]) == (family, subject, key)


def test_migrate_leaves_current_and_newer_documents_alone():
    doc = {"schema_version": SCHEMA_VERSION, "checks": []}
    assert migrate(doc) is doc
    newer = {"schema_version": "9.0"}
    assert migrate(newer) is newer
    with pytest.raises(ValueError, match="newer than this deepaudit"):
        validate_result(newer)


@pytest.mark.parametrize("run_id", _v1_ids())
def test_v1_run_renders_every_report_format(v1_store, run_id, tmp_path):
    from deepaudit.audit.report import write_reports

    formats = "html,json,model-card" + (",pdf" if "mortgage" in run_id else "")
    written = write_reports(v1_store.load(run_id), tmp_path, formats=formats)
    assert written.pdf_error is None
    assert len(written.paths) == len(formats.split(","))
    html = next(p for p in written.paths if p.suffix == ".html").read_text()
    assert run_id in html and "Traceback" not in html


_PAGES_SCRIPT = """
import json, sys
from deepaudit.audit.store import RunStore
from deepaudit.dashboard.app import create_app
from deepaudit.dashboard.context import AppContext
from deepaudit.dashboard.pages import explanations, fairness, home, performance, quality, report, runs
from tests.dashboard.util import text

create_app(sys.argv[1])  # sets Dash's process-wide page registry and paths: hence a process of its own
ctx = AppContext(RunStore(sys.argv[1]))
out = {"home": text(home.build(ctx))}
for model in ctx.known_models():
    run = ctx.resolve(model)
    for page in (fairness, performance, explanations, quality, report, runs):
        out[f"{model}/{page.__name__.rsplit('.', 1)[1]}"] = [run.run_id, text(page.build(ctx, model))]
print(json.dumps(out))
"""


def test_v1_store_renders_every_dashboard_page(v1_store):
    out = subprocess.run([sys.executable, "-c", _PAGES_SCRIPT, str(v1_store.root)], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    pages = json.loads(out.stdout.strip().splitlines()[-1])
    models = {rid.split("-", 1)[1].rsplit("-", 1)[0] for rid in _v1_ids()}
    assert set(pages) == {"home"} | {f"{m}/{p}" for m in models for p in
                                     ("fairness", "performance", "explanations", "quality", "report", "runs")}
    assert all(m in pages["home"] for m in models)
    for name, (run_id, body) in ((k, v) for k, v in pages.items() if k != "home"):
        model = name.split("/")[0]
        assert model in body or run_id in body, name
        assert "Traceback" not in body and "KeyError" not in body, name


def test_public_api_resolves_every_name():
    for name in da.__all__:
        assert getattr(da, name) is not None, name
    with pytest.raises(AttributeError):
        da.not_a_name  # noqa: B018


def test_schema_document_matches_the_code():
    stored = json.loads((ROOT / "docs" / "result.schema.json").read_text())
    assert stored == json.loads(json.dumps(RESULT_SCHEMA)), (
        "docs/result.schema.json is stale: regenerate it with "
        "`python -c 'import json, deepaudit.audit.schema as s; print(json.dumps(s.RESULT_SCHEMA, indent=1))' "
        "> docs/result.schema.json`")


def _readme_example() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Python API"):]
    return re.search(r"```python\n(.*?)```", section, re.S)[1]


def test_readme_python_example_runs(tmp_path):
    code = _readme_example()
    assert "da.audit(" in code and "AuditResult.load" in code
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "AuditResult(run_id=" in out.stdout
    stored = RunStore(tmp_path / "runs").list_runs()
    assert len(stored) == 1
    assert sorted(p.suffix for p in (tmp_path / "reports").iterdir()) == [".html", ".json"]


def test_damaged_1_0_runs_never_break_the_store(tmp_path, caplog):
    """Hostile or damaged 1.0 runs: an unreadable predictions file only leaves the recomputed statistics absent;
    a section of the wrong type makes that one run unreadable (skipped with a warning), never the listing."""
    root = tmp_path / "store"
    shutil.copytree(V1, root)
    mortgage, sentiment, mnist = (next(r for r in _v1_ids() if m in r) for m in ("mortgage", "sentiment", "mnist"))
    (root / "runs" / mortgage / "predictions.parquet").write_bytes(b"PAR1 not really a parquet file")
    import pandas as pd

    preds = pd.read_parquet(root / "runs" / mnist / "predictions.parquet")
    preds["y_true"] = "seven"  # readable, but not labels
    preds.to_parquet(root / "runs" / mnist / "predictions.parquet")
    doc = json.loads((root / "runs" / sentiment / "result.json").read_text())
    doc["explanations"] = ["not", "a", "section"]
    doc["fairness"] = "not a section"
    (root / "runs" / sentiment / "result.json").write_text(json.dumps(doc))
    store = RunStore(root)
    listed = set(store.list_runs()["run_id"])
    assert listed == {mortgage, mnist}  # the damaged sentiment run is skipped, the others are listed
    assert any(sentiment in r.getMessage() for r in caplog.records)
    with pytest.raises(ValueError, match=f"run {sentiment} .* is damaged"):
        store.load(sentiment)
    res = store.load(mortgage)  # readable; what needs the predictions is absent, not guessed
    assert res.performance.intervals == {} and "confusion" not in res.result["performance"]
    assert all(c.family in CHECK_FAMILIES for c in res.checks)
    odd = store.load(mnist)
    assert odd.performance.intervals == {} and odd.performance.overall["n"] == len(preds)  # stored values kept
    assert any(mnist in r.getMessage() and "not recomputed from stored data" in r.getMessage()
               for r in caplog.records)
    from deepaudit.audit.report import write_reports

    written = write_reports(res, tmp_path / "out", formats="html,json")
    assert len(written.paths) == 2
