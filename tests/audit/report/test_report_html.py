"""HTML report: self-contained, every section present, numbers identical to the JSON's."""
from __future__ import annotations

import re
import sys

import pytest

from deepaudit.audit.report import PDF_MISSING, write_reports
from deepaudit.audit.report.fmt import interval, num


def _html(reports, model):
    return reports[model]["paths"][".html"].read_text()


def _block(html: str, element_id: str) -> str:
    """The markup from the element with ``element_id`` up to the next element that starts a section/subsection."""
    start = html.index(f'id="{element_id}"')
    nxt = re.search(r'<(?:div|section) id="', html[start + 10:])
    return html[start: start + 10 + nxt.start()] if nxt else html[start:]


def _row(block: str, first_cell: str) -> str:
    m = re.search(r"<tr[^>]*>\s*<td[^>]*>" + re.escape(first_cell) + r"\b.*?</tr>", block, re.S)
    assert m, first_cell
    return m.group(0)


@pytest.mark.parametrize("model", ["mortgage", "mnist_cnn_shortcut"])
def test_html_is_self_contained(reports, model):
    html = _html(reports, model)
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)
    assert "<script" not in html and "<link" not in html
    srcs = re.findall(r'<img [^>]*src="([^"]+)"', html)
    assert srcs and all(s.startswith("data:image/") for s in srcs)
    assert "{{" not in html and "{%" not in html and "&lt;td" not in html
    # a mapping in the run configuration reads as its items, not its keys
    assert "executor=name local, workers 1;" in html


@pytest.mark.parametrize("model", ["mortgage", "mnist_cnn_shortcut"])
def test_every_section_present_and_non_empty(reports, model):
    html = _html(reports, model)
    for s in reports[model]["json"]["sections"]:
        block = _block(html, s["id"])
        text = re.sub(r"<[^>]+>", " ", block)
        assert s["title"] in text
        assert len(text.split()) > 5, s["id"]


def test_impact_ratio_for_black_applicants_matches_json(reports):
    data = reports["mortgage"]["json"]
    race = next(a for a in data["fairness"]["attributes"] if a["name"] == "race")
    black = next(c for c in race["comparisons"] if c["group"] == "black")
    ir = black["impact_ratio"]
    row = _row(_block(_html(reports, "mortgage"), race["anchor"]), "black")
    assert f"{num(ir['value'])} <span class=\"ci\">{interval(ir['lo'], ir['hi'])}</span>" in row
    assert black["four_fifths_flag"] and "✗ flag" in row
    rate = next(g for g in race["groups"] if g["group"] == "black")["selection_rate"]
    assert num(rate["value"]) in row and interval(rate["lo"], rate["hi"]) in row


def test_policy_table_numbers_match_json(reports):
    data, html = reports["mortgage"]["json"], _html(reports, "mortgage")
    for c in data["policy"]["checks"]:
        row = re.search(r'<tr id="check-' + re.escape(c["id"].replace(".", "-")) + r'">.*?</tr>', html, re.S).group(0)
        assert f">{num(c['value'])}<" in row
        assert f"{c['comparison']} {num(c['threshold'])}".replace(">", "&gt;").replace("<", "&lt;") in row
        assert ("✓ PASS" if c["passed"] else "✗ FAIL") in row


def test_summary_names_failed_checks_with_links(reports):
    html = _html(reports, "mnist_cnn_shortcut")
    summary = _block(html, "summary")
    data = reports["mnist_cnn_shortcut"]["json"]["summary"]
    assert f"{data['n_failed']} of {data['n_checks']} checks failed" in summary
    assert 'href="#explain-shortcut"' in summary and "shortcut_corner_mark" in summary
    assert 'id="explain-shortcut"' in html


def test_saliency_overlays_rendered_for_vision(reports):
    data = reports["mnist_cnn_shortcut"]["json"]["explainability"]["examples"]
    assert data["kind"] == "saliency_overlays" and data["samples"]
    assert 'alt="saliency overlays"' in _html(reports, "mnist_cnn_shortcut")


def test_reliability_figure_only_where_there_are_scores_by_group(reports):
    assert 'alt="reliability curves by group"' in _html(reports, "mortgage")
    # Digits have no favourable outcome, hence no scores to calibrate.
    assert 'alt="reliability curves by group"' not in _html(reports, "mnist_cnn_shortcut")


def test_missing_weasyprint_names_fix_and_still_writes_html_json(reports, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # `import weasyprint` now raises ImportError
    run = reports["mortgage"]["run"]
    written = write_reports(run, tmp_path, formats="html,pdf,json")
    names = sorted(p.name for p in written.paths)
    assert names == sorted([f"{run.run_id}.html", f"{run.run_id}.report.json"])
    assert all(p.is_file() for p in written.paths) and not (tmp_path / f"{run.run_id}.pdf").exists()
    assert written.pdf_error.startswith(PDF_MISSING.split("(")[0])
    assert "pip install weasyprint" in written.pdf_error and "libpango-1.0-0" in written.pdf_error


def test_cli_reports_missing_weasyprint(report_store, tmp_path, monkeypatch, capsys):
    from deepaudit.audit.cli import main

    monkeypatch.setitem(sys.modules, "weasyprint", None)
    rc = main(["report", "latest", "--store", str(report_store), "--model", "mortgage", "--format", "pdf,json",
               "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert rc == 1
    assert "pip install weasyprint" in err
    assert out.strip().endswith(".report.json")
