"""Migration of 1.0 runs: the statistics moved out of the readers are filled from what the old run stored, by the
same audit functions, or left absent (and shown as not stored) where the old run cannot supply them."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix

from deepaudit.audit.confusion import confusion_counts
from deepaudit.audit.migrate import migrate
from deepaudit.audit.quality.curves import auc_intervals
from deepaudit.audit.store import RunStore, to_jsonable
from deepaudit.audit.tolerance import FLOAT64_ATOL

V1 = Path(__file__).resolve().parent.parent / "fixtures" / "store_v1"
RUN_IDS = sorted(p.name for p in (V1 / "runs").iterdir())


@pytest.fixture(scope="module")
def v1_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("v1stats") / "store"
    shutil.copytree(V1, root)
    return RunStore(root)


@pytest.mark.parametrize("run_id", RUN_IDS)
def test_v1_confusion_and_auc_intervals_are_filled_from_stored_data(v1_store, run_id):
    raw = json.loads((V1 / "runs" / run_id / "result.json").read_text())
    assert "confusion" not in raw["performance"]
    assert "auc_intervals" not in raw["quality"]["deletion_insertion"]["summary"]
    res = v1_store.load(run_id).result
    pred = pd.read_parquet(V1 / "runs" / run_id / "predictions.parquet")
    classes = raw["model"]["class_names"]
    # confusion: counted from the stored predictions, exactly
    stored = res["performance"]["confusion"]
    cm = confusion_matrix(pred["y_true"], pred["y_pred"], labels=list(range(len(classes))))
    assert [c["count"] for c in stored] == cm.ravel().tolist()
    assert stored == to_jsonable(confusion_counts(pred["y_true"], pred["y_pred"], classes))
    assert sum(c["count"] for c in stored if c["true"] == c["predicted"]) == raw["performance"]["overall"]["n_correct"]
    # deletion/insertion intervals: from the stored per-sample AUC table, centred on the stored means
    q = raw["quality"]["deletion_insertion"]
    iv = res["quality"]["deletion_insertion"]["summary"]["auc_intervals"]
    assert iv == to_jsonable(auc_intervals(q["tables"]["auc"], points=q["summary"]))
    assert iv["deletion"]["attribution"]["value"] == q["summary"]["deletion_auc"]
    assert iv["deletion"]["attribution"]["n"] == sum(1 for r in q["tables"]["auc"]
                                                     if r["curve"] == "deletion" and r["order"] == "attribution")
    for curve in iv.values():
        for r in curve.values():
            assert r["lo"] <= r["value"] <= r["hi"]
    # feature-importance intervals need the attribution arrays, which migration does not read: absent
    for m in res["explanations"]["methods"].values():
        for row in m["tables"].get("feature_importance", []):
            assert "mean_abs_lo" not in row and "mean_abs_hi" not in row


def test_migration_leaves_fields_absent_when_the_old_run_cannot_supply_them():
    raw = json.loads((V1 / "runs" / RUN_IDS[0] / "result.json").read_text())
    raw["quality"]["deletion_insertion"]["tables"].pop("auc")

    def unreadable():
        raise OSError("no predictions.parquet")

    doc = migrate(raw, predictions=unreadable)
    assert "confusion" not in doc["performance"] and "intervals" not in doc["performance"]
    assert "auc_intervals" not in doc["quality"]["deletion_insertion"]["summary"]
    # predictions are read once for every step that needs them
    calls = []
    pred = pd.read_parquet(V1 / "runs" / RUN_IDS[0] / "predictions.parquet")

    def counted():
        calls.append(1)
        return pred

    doc = migrate(json.loads((V1 / "runs" / RUN_IDS[0] / "result.json").read_text()), predictions=counted)
    assert "confusion" in doc["performance"] and "intervals" in doc["performance"] and len(calls) == 1


def test_text_examples_take_their_totals_from_the_audit_helper(v1_store):
    """The report's token heatmaps print ``attribution_sum`` and scale by ``max_abs``: the audit helper's numbers
    for the tokens shown."""
    from deepaudit.audit.explain.views import attribution_totals
    from deepaudit.audit.report.examples import local_examples

    (rid,) = [r for r in RUN_IDS if "sentiment" in r]
    ex = local_examples(v1_store.load(rid)).data
    assert ex["kind"] == "token_heatmaps" and ex["samples"]
    for s in ex["samples"]:
        shown = [seg["attribution"] for seg in s["segments"] if seg["attribution"] is not None]
        assert shown and {k: s[k] for k in ("attribution_sum", "max_abs")} == attribution_totals(shown)
        assert s["max_abs"] == pytest.approx(max(abs(a) for a in shown)) and s["max_abs"] > 0
        assert s["attribution_sum"] == pytest.approx(sum(shown), rel=1e-9, abs=FLOAT64_ATOL)
