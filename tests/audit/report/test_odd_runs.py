"""Every run the store accepts renders in every format, and says what it could not compute.

Odd but valid runs come from the real runner on tiny tabular targets (one to
seven rows, one group, a model that never or always predicts the favourable
class, a constant model, no favourable class, three classes, missing group
values, a single label class, a string recipe): a fixed list of named cases
plus a seeded sample of the same option space. Check-level oddities (all
passing, all failing, none computable, no checks at all, each check failing
alone) are mutations of one real run's ``checks``, written back through
``RunStore.write_run`` so the store validates them. PDF (3-5 s each) is
rendered for the one-sample case and the CLI case only.
"""
from __future__ import annotations

import copy
import itertools
import json
import math
import random
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from deepaudit.audit.report import build_report, validate_report, write_reports
from deepaudit.audit.report.fairness import NO_FAVOURABLE
from deepaudit.audit.report.findings import NOT_COMPUTABLE_ADVICE, ONE_GROUP
from deepaudit.audit.report.fmt import NOT_COMPUTABLE
from deepaudit.audit.runner import RunConfig, run_target
from deepaudit.audit.schema import validate_result
from deepaudit.audit.store import Run, RunStore, new_run_id
from deepaudit.audit.target import AuditTarget, EvalData

ALL = "html,pdf,json,model-card"
NO_PDF = "html,json,model-card"
N_FEATURES = 3


def _have_pdf() -> bool:
    from deepaudit.audit.report.pdf import PdfUnavailable, _weasyprint

    try:
        _weasyprint()
    except PdfUnavailable:
        return False
    return True


HAVE_PDF = _have_pdf()


@dataclass(frozen=True)
class Case:
    """One odd target. ``outcome``: how often the model predicts the last class (the favourable one, if any)."""

    n: int = 4
    groups: str = "two"          # one | two | missing (all but the first row unknown) | none (no sensitive column)
    outcome: str = "mixed"       # never | always | mixed | constant (zero weights: ties, so always class 0)
    classes: int = 2
    favourable: bool = True
    domain: str = "finance"
    labels: str = "mixed"        # mixed | single (every true label is the last class)
    recipe: str = "dict"         # dict | str (a free-text recipe, as deepaudit.audit.testing.linear_target records)
    pdf: bool = False

    @property
    def id(self) -> str:
        return (f"n{self.n}-{self.groups}-{self.outcome}-k{self.classes}{'fav' if self.favourable else 'nofav'}-"
                f"{self.domain}-{self.labels}-{self.recipe}")


def odd_target(case: Case) -> AuditTarget:
    k, n = case.classes, case.n
    model = nn.Linear(N_FEATURES, k)
    with torch.no_grad():
        w = torch.arange(k * N_FEATURES, dtype=torch.float32).reshape(k, N_FEATURES) / 3 - 1
        model.weight.copy_(torch.zeros_like(w) if case.outcome == "constant" else w)
        bias = torch.zeros(k)
        bias[-1] = {"never": -50.0, "always": 50.0}.get(case.outcome, 0.0)
        model.bias.copy_(bias)
    x = torch.randn(n, N_FEATURES, generator=torch.Generator().manual_seed(n))
    labels = np.arange(n) % k if case.labels == "mixed" else np.full(n, k - 1)
    values = {"one": ["a"] * n, "two": [["a", "b"][i % 2] for i in range(n)],
              "missing": ["a"] + [None] * (n - 1), "none": None}[case.groups]
    groups = None if values is None else pd.DataFrame({"sex": pd.Series(values, dtype="object")})
    classes = [f"c{i}" for i in range(k)]
    return AuditTarget(
        name="odd", domain=case.domain, task="odd-run property test", class_names=classes,
        favorable_label=classes[-1] if case.favourable else None, model=model,
        eval_data=EvalData(inputs=x, labels=labels, groups=groups),
        sensitive_columns=[] if values is None else ["sex"], feature_names=[f"f{i}" for i in range(N_FEATURES)],
        baseline=torch.zeros(N_FEATURES),
        provenance={"recipe": "closed form, not trained" if case.recipe == "str" else {"kind": "closed form"}},
    ).validate()


NAMED = [
    Case(n=1, groups="one", outcome="never", pdf=True),
    Case(n=2, groups="two", outcome="never"),
    Case(n=3, groups="one", outcome="always"),
    Case(n=3, groups="missing", outcome="mixed", recipe="str"),
    Case(n=4, outcome="constant"),
    Case(n=6, classes=3, outcome="mixed"),
    Case(n=4, favourable=False, domain="other"),
    Case(n=2, groups="none", outcome="mixed"),
    Case(n=3, labels="single", outcome="always"),
]
_SPACE = [Case(n=n, groups=g, outcome=o, classes=k, favourable=f, domain=d, labels=lab, recipe=r)
          for n, g, o, k, f, d, lab, r in itertools.product(
              (1, 2, 3, 7), ("one", "two", "missing", "none"), ("never", "always", "mixed", "constant"), (2, 3),
              (True, False), ("finance", "other"), ("mixed", "single"), ("dict", "str"))]
SAMPLED = random.Random(20240612).sample([c for c in _SPACE if c not in NAMED], 3)


def _run(target: AuditTarget, store: RunStore) -> Run:
    result, _, _ = run_target(target, RunConfig(progress=False, quality_samples=4, device="cpu"), store=store,
                              spec="odd")
    return store.load(result["run_id"])


def _html_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", html, flags=re.S)))


def render_and_check(run: Run, out: Path, *, pdf: bool) -> dict:
    """Write every format and check each; returns the parsed JSON report."""
    formats = ALL if pdf and HAVE_PDF else NO_PDF
    written = write_reports(run, out, formats=formats)
    assert written.pdf_error is None, written.pdf_error
    return check_written(run, written.paths, pdf=formats == ALL)


def check_written(run: Run, written: list[Path], *, pdf: bool) -> dict:
    """Every format is there, non-empty and valid, and says what it could not compute."""
    paths = {p.name[len(run.run_id):]: p for p in written}
    expected = {".report.json", ".model-card.json", ".html"} | ({".pdf"} if pdf else set())
    assert set(paths) == expected
    for p in paths.values():
        assert p.is_file() and p.stat().st_size > 0, p
    if ".pdf" in paths:
        assert paths[".pdf"].read_bytes()[:4] == b"%PDF"
    data = validate_report(json.loads(paths[".report.json"].read_text()))
    html = paths[".html"].read_text()
    text = _html_text(html)
    assert "{{" not in html and "{%" not in html
    assert not re.search(r"\b(?:NaN|nan|None)\b", text), "a missing statistic leaked as NaN/None"
    lim = data["limitations"]
    assert lim["recommendations"] and all(r["text"] for r in lim["recommendations"])
    assert lim["items"] and all(i["text"] for i in lim["items"])
    # A statistic the run could not compute says so (with the reason for comparisons), never a number.
    for c in data["policy"]["checks"]:
        if c["value"] is None:
            row = re.search(r'<tr id="check-' + re.escape(c["id"].replace(".", "-")) + r'">.*?</tr>', html, re.S)
            assert NOT_COMPUTABLE in row.group(0) and not c["passed"], c["id"]
    for f in data["summary"]["failed"]:
        if f["value"] is None:
            assert f["title"].startswith("Not computable") and f["advice"] == NOT_COMPUTABLE_ADVICE, f
    shown = ("difference", "ratio", "impact_ratio") if data["fairness"]["binary"] else ("difference", "ratio")
    for a in data["fairness"]["attributes"]:
        for comp in a["comparisons"]:
            for k in shown:
                e = comp[k]
                if e is not None and e["value"] is None:
                    assert e["note"], (a["name"], comp["group"], k)
                    assert e["note"] in html.replace("&#39;", "'")
    card = json.loads(paths[".model-card.json"].read_text())
    for m in card["quantitative_analysis"]["performance_metrics"]:
        assert math.isfinite(float(m["value"])), m
    if data["summary"]["n_checks"] == 0:
        assert "no policy checks were evaluated" in text
    return data


@pytest.mark.slow
@pytest.mark.parametrize("case", NAMED + SAMPLED, ids=lambda c: c.id + ("-pdf" if c.pdf else ""))
def test_odd_run_renders_every_format(case, tmp_path):
    store = RunStore(tmp_path / "store")
    run = _run(odd_target(case), store)
    data = render_and_check(run, tmp_path / "reports", pdf=case.pdf)
    fair = data["fairness"]
    html = (tmp_path / "reports" / f"{run.run_id}.html").read_text().replace("&#39;", "'")
    checks = {c["id"]: c for c in data["policy"]["checks"]}
    if case.groups in ("one", "missing") or (case.groups == "two" and case.n == 1):
        assert ONE_GROUP.format(attr="sex", group="a", name="sex") in html
    if case.favourable and case.groups == "two" and case.n >= 2 and case.outcome in ("never", "constant"):
        # Every group is refused: the four-fifths rule has no highest rate to divide by.
        assert checks["fairness.impact_ratio.sex"]["value"] is None
        assert NO_FAVOURABLE in html
        sex = next(a for a in fair["attributes"] if a["name"] == "sex")
        assert all(c["impact_ratio"]["value"] is None for c in sex["comparisons"])
    if case.n == 1:
        brier = [r for r in data["performance"]["overall"] if r["metric"] in ("log_loss", "brier")]
        assert brier and all(r["lo"] is None and r["hi"] is None for r in brier)


def test_user_factory_through_the_cli(tmp_path, capsys):
    """`deepaudit run file.py:factory` then `deepaudit report latest`, all formats: one group, never favourable."""
    from deepaudit.audit.cli import main

    factory = tmp_path / "odd_target.py"
    factory.write_text(textwrap.dedent('''
        import numpy as np, pandas as pd, torch
        from torch import nn
        from deepaudit.audit.target import AuditTarget, EvalData

        def odd():
            model = nn.Linear(2, 2)
            with torch.no_grad():
                model.weight.fill_(0.5)
                model.bias.copy_(torch.tensor([0.0, -50.0]))
            return AuditTarget(name="odd_cli", domain="finance", task="refuses everyone", class_names=["no", "yes"],
                               favorable_label="yes", model=model,
                               eval_data=EvalData(inputs=torch.ones(2, 2), labels=np.array([0, 1]),
                                                  groups=pd.DataFrame({"sex": ["f", "f"]})),
                               sensitive_columns=["sex"], feature_names=["a", "b"],
                               provenance={"recipe": "by hand"})
    '''))
    store, out = tmp_path / "store", tmp_path / "reports"
    assert main(["run", f"{factory}:odd", "--samples", "2", "--store", str(store), "--device", "cpu",
                 "--no-progress"]) == 0
    capsys.readouterr()
    formats = ALL if HAVE_PDF else NO_PDF
    assert main(["report", "latest", "--store", str(store), "--out", str(out), "--format", formats]) == 0
    printed = [Path(p) for p in capsys.readouterr().out.split()]
    data = check_written(RunStore(store).load("latest"), printed, pdf=HAVE_PDF)
    assert data["summary"]["verdict"] == "FAIL"


# -- check-level oddities: mutations of one real run ------------------------------------------------


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> tuple[RunStore, Run]:
    store = RunStore(tmp_path_factory.mktemp("odd_checks"))
    return store, _run(odd_target(Case(n=6, groups="two", outcome="mixed")), store)


def _passing(c: dict) -> dict:
    return {**c, "value": float(c["threshold"]), "passed": True}


def _failing(c: dict) -> dict:
    step = abs(c["threshold"]) + 1.0
    v = c["threshold"] - step if c.get("comparison", "<=") == ">=" else c["threshold"] + step
    return {**c, "value": float(v), "passed": False}


def _uncomputed(c: dict) -> dict:
    return {**c, "value": None, "passed": False, "note": ""}


MUTATIONS = {
    "all_passing": lambda cs: [_passing(c) for c in cs],
    "all_failing": lambda cs: [_failing(c) for c in cs],
    "none_computable": lambda cs: [_uncomputed(c) for c in cs],
    "no_checks": lambda cs: [],
}


def _mutated(base_run: Run, checks: list[dict]) -> dict:
    result = copy.deepcopy(base_run.result)
    result["run_id"] = new_run_id("odd")
    result["checks"] = checks
    return result


@pytest.mark.parametrize("kind", MUTATIONS)
def test_mutated_checks_render_every_format(base, kind, tmp_path):
    store, run = base
    result = _mutated(run, MUTATIONS[kind](run.result["checks"]))
    new = store.write_run(result, predictions=run.predictions(),
                          arrays={n: run.arrays(n) for n in run.array_names()})
    data = render_and_check(new, tmp_path, pdf=False)
    s = data["summary"]
    assert s["n_checks"] == len(result["checks"]) and s["verdict"] == ("FAIL" if s["n_failed"] else "PASS")
    if kind == "none_computable":
        recs = data["limitations"]["recommendations"]
        assert len(recs) == 1 and recs[0]["text"] == NOT_COMPUTABLE_ADVICE
        assert len(recs[0]["checks"]) == len(result["checks"])


def test_each_check_failing_alone_has_a_recommendation(base):
    """The mnist `--samples 3` failure: one failed check of a family without advice emptied section 8."""
    _, run = base
    checks = [_passing(c) for c in run.result["checks"]]
    for i, c in enumerate(checks):
        for bad in (_failing(c), _uncomputed(c)):
            result = validate_result(_mutated(run, checks[:i] + [bad] + checks[i + 1:]))
            data = validate_report(build_report(Run.from_dict(result, path=run.path), with_examples=False).data)
            recs = data["limitations"]["recommendations"]
            assert [r["checks"] for r in recs] == [[c["id"]]], (c["id"], recs)
            assert data["summary"]["findings"][0]["check_id"] == c["id"]
