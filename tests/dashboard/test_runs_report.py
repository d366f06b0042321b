"""Runs (compare two runs) and Report (downloads, provenance) pages: layouts and callback bodies."""
import dash
import pytest

from deepaudit.dashboard import compare, ids
from deepaudit.dashboard.downloads import download_url
from deepaudit.dashboard.pages import report, runs, shell


def _find(layout, cid):
    return next(c for c in layout._traverse() if getattr(c, "id", None) == cid)


@pytest.fixture(scope="module")
def two(store):
    ids_ = store.list_runs(model="mortgage")["run_id"].tolist()  # newest first
    return store.load(ids_[1]), store.load(ids_[0])


def test_check_changes_follow_the_stored_checks(two):
    a, b = two
    df = compare.check_changes(a, b)
    assert set(df["check"]) == {c["id"] for c in a.result["checks"]} | {c["id"] for c in b.result["checks"]}
    for row in df.itertuples():
        ca = next((c for c in a.result["checks"] if c["id"] == row.check), None)
        cb = next((c for c in b.result["checks"] if c["id"] == row.check), None)
        if ca and cb:
            assert row.passed_a == ca["passed"] and row.passed_b == cb["passed"]
            flips = {(True, False): "now fails", (False, True): "now passes"}
            expected = flips.get((ca["passed"], cb["passed"]), "same")
            assert row.change == expected
            if isinstance(ca["value"], float) and isinstance(cb["value"], float):
                assert row.delta == pytest.approx(cb["value"] - ca["value"])
    order = {"now fails": 0, "now passes": 1, "only in a": 2, "only in b": 3, "same": 4}
    assert list(df["change"].map(order)) == sorted(df["change"].map(order))


def test_check_changes_flags_a_flipped_verdict(two):
    a, b = two
    import copy

    from deepaudit.audit.result import AuditResult

    b2 = copy.deepcopy(b.result)
    flipped = b2["checks"][0]
    # The opposite verdict of run a's: a passing value is the threshold itself, a failing one is not computable.
    passes = not next(c for c in a.result["checks"] if c["id"] == flipped["id"])["passed"]
    flipped.update(value=flipped["threshold"] if passes else None, passed=passes)
    df = compare.check_changes(a, AuditResult.from_dict(b2, path=b.path))
    assert df.iloc[0]["check"] == flipped["id"] and df.iloc[0]["change"] in ("now fails", "now passes")


def test_settings_and_metric_deltas(two):
    a, b = two
    s = compare.setting_changes(a, b).set_index("setting")
    assert bool(s.loc["seed", "changed"]) and s.loc["seed", "a"] == "0" and s.loc["seed", "b"] == "1"
    assert not bool(s.loc["weights", "changed"])
    assert s.loc["methods", "b"] == "integrated_gradients, saliency"
    m = compare.metric_deltas(a, b).set_index("metric")
    acc_a, acc_b = a.result["performance"]["overall"]["accuracy"], b.result["performance"]["overall"]["accuracy"]
    assert m.loc["accuracy", "delta"] == pytest.approx(acc_b - acc_a)


def test_runs_page_defaults_and_callback(ctx, two):
    a, b = two
    layout = runs.build(ctx, "mortgage")
    assert _find(layout, ids.RUNS_A).value == a.run_id and _find(layout, ids.RUNS_B).value == b.run_id
    layout = runs.build(ctx, "mortgage", a="bogus", b=a.run_id)  # URL restores b; a unknown -> note
    assert _find(layout, ids.RUNS_B).value == a.run_id and _find(layout, ids.RUNS_A).value == b.run_id
    summary, metrics, checks, settings = runs.update(ctx, "mortgage", a.run_id, b.run_id)
    assert "Changed settings: seed, methods" in summary
    assert len(checks) == len(compare.check_changes(a, b))
    assert {r["passed_a"] for r in checks} <= {"pass", "fail", None}
    # Every failing verdict cell is coloured, changed or not (the mortgage runs fail checks in both).
    fail_rules = [r for r in runs.CHANGE_STYLE if r["if"].get("column_id") in ("passed_a", "passed_b")]
    assert {r["if"]["column_id"] for r in fail_rules} == {"passed_a", "passed_b"}
    assert all('= "fail"' in r["if"]["filter_query"] and r["color"] == runs.tables.FAIL for r in fail_rules)
    assert any(r["passed_a"] == "fail" and r["change"] == "same" for r in checks)
    assert "same run" in runs.update(ctx, "mortgage", a.run_id, a.run_id)[0]
    # Forged dropdown values of the wrong type are unknown runs, not server errors.
    for bad in ({"run_id": a.run_id}, 3.5, [a.run_id], "../" + a.run_id):
        assert runs.update(ctx, "mortgage", bad, b.run_id)[0] == "Choose two runs of mortgage."
        assert ctx.resolve("mortgage", bad) is None
    assert ctx.resolve({"model": "mortgage"}) is None and ctx.model_runs(7) == []
    one = runs.build(ctx, "mnist_cnn")
    assert "has one run" in str(one)


def test_report_page_links_by_run_id(ctx, two):
    _, b = two
    layout = report.build(ctx, "mortgage", b.run_id)
    links = [c.href for c in _find(layout, ids.REPORT_LINKS)._traverse() if getattr(c, "href", None)]
    assert links == [download_url(b.run_id, f) for f in ("html", "pdf", "json", "model-card")]
    assert all(f"/download/{b.run_id}/" in h for h in links)
    prov = {r["field"]: r["value"] for r in _find(layout, ids.REPORT_PROVENANCE).data}
    assert prov["weights sha256"] == b.result["provenance"]["weights_sha256"] and prov["seed"] == "1"


def test_shell_run_selector_and_tabs(ctx, two):
    a, _ = two
    layout = report.build(ctx, "mortgage", a.run_id)
    sel = _find(layout, ids.RUN_SELECT)
    assert sel.value == a.run_id and len(sel.options) == 2
    # One clock: the label's start time is the minute the run id is stamped with; the full id on hover.
    for run in two:  # the id is stamped with the start time the run records as created_at
        created = run.result["provenance"]["created_at"][:19]
        assert run.run_id.split("-", 1)[0] == created.replace("-", "").replace(":", "") + "Z"
    for opt in sel.options:
        stamp = opt["value"].split("-", 1)[0]  # 20261130T173205Z
        minute = f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}"
        assert opt["label"].startswith(f"started {minute} UTC")
        assert opt["label"].endswith(opt["value"].rsplit("-", 1)[-1]) and opt["title"] == f"run {opt['value']}"
    tabs = [c.href for c in _find(layout, ids.MODEL_TABS).children]
    assert tabs[0] == f"/model/mortgage/checks?run={a.run_id}" and len(tabs) == 7
    assert tabs[1] == f"/model/mortgage/performance?run={a.run_id}"
    assert shell.navigate_to_run(a.run_id, "/model/mortgage/fairness") == f"/model/mortgage/fairness?run={a.run_id}"
    assert shell.navigate_to_run(a.run_id, "/model/mortgage/fairness", shown=a.run_id) is dash.no_update


def test_report_page_shows_the_verdict_and_failed_checks(ctx):
    from deepaudit.audit.report.findings import rank_failed
    from deepaudit.dashboard.pages import report as report_page

    run = ctx.resolve("sentiment")
    layout = report_page.build(ctx, "sentiment")
    box = _find(layout, ids.REPORT_VERDICT)
    failed = rank_failed(run.checks)
    links = [c for c in box._traverse() if getattr(c, "href", None)]
    # the badge (to the Checks page) and one evidence link per failed check, in the report's order
    assert len(links) == len(failed) + 1 and "/model/sentiment/checks" in links[0].href
    assert [lnk.children for lnk in links[1:]] == [f["title"] for f in failed]
