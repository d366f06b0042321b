"""PDF report: page count, text (section titles, key numbers) and embedded figures, via poppler-utils."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from deepaudit.audit.report.fmt import num

pytestmark = pytest.mark.skipif(shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None,
                                reason="poppler-utils (pdftoppm, pdftotext) not installed: `make system-deps`")


def _pdf(reports, model):
    assert reports[model]["written"].pdf_error is None, reports[model]["written"].pdf_error
    return reports[model]["paths"][".pdf"]


def _text(path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


@pytest.mark.parametrize("model", ["mortgage", "mnist_cnn_shortcut"])
def test_pdf_renders_to_pages(reports, model, tmp_path):
    pdf = _pdf(reports, model)
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(pdf), str(tmp_path / "p")], check=True)
    pages = sorted(tmp_path.glob("p-*.png"))
    assert len(pages) > 3
    assert all(p.stat().st_size > 1000 for p in pages)


@pytest.mark.parametrize("model", ["mortgage", "mnist_cnn_shortcut"])
def test_pdf_text_has_section_titles_and_key_numbers(reports, model):
    text = _text(_pdf(reports, model))
    data = reports[model]["json"]
    for s in data["sections"]:
        assert s["title"] in text, s["title"]
    assert f"{data['summary']['n_failed']} of {data['summary']['n_checks']} checks failed" in text
    assert data["metadata"]["weights_sha256"] in text
    for c in data["policy"]["checks"]:
        assert num(c["value"]) in text, c["id"]
    if model == "mortgage":
        race = next(a for a in data["fairness"]["attributes"] if a["name"] == "race")
        black = next(c for c in race["comparisons"] if c["group"] == "black")
        assert re.search(r"black\s+\d+\s.*" + re.escape(num(black["impact_ratio"]["value"])), text)


def test_pdf_embeds_figures(reports):
    # Charts arrive as vector form XObjects (SVG), image grids as raster images.
    raw = _pdf(reports, "mortgage").read_bytes()
    assert raw.count(b"/Form") >= 5
    text = _text(_pdf(reports, "mortgage"))
    assert "impact ratio vs highest eligible group" in text  # figure labels stay text
    listing = subprocess.run(["pdfimages", "-list", str(_pdf(reports, "mnist_cnn_shortcut"))], check=True,
                             capture_output=True, text=True).stdout
    assert len([ln for ln in listing.splitlines()[2:] if " image " in ln]) >= 6


@pytest.mark.parametrize("model", ["mortgage", "mnist_cnn_shortcut"])
def test_every_table_column_header_is_in_the_pdf(reports, model):
    """A wide table cut at the right margin loses columns: every header of every table of the HTML report must
    be in the PDF's text (whitespace and hyphenation aside)."""
    from html.parser import HTMLParser

    class Headers(HTMLParser):
        def __init__(self):
            super().__init__()
            self.inside, self.cells = False, []

        def handle_starttag(self, tag, attrs):
            if tag == "th":
                self.inside = True
                self.cells.append("")

        def handle_endtag(self, tag):
            if tag == "th":
                self.inside = False

        def handle_data(self, data):
            if self.inside:
                self.cells[-1] += data

    parser = Headers()
    parser.feed(reports[model]["paths"][".html"].read_text())
    squash = lambda s: re.sub(r"[\s\u00ad-]+", "", s)  # noqa: E731 - line breaks and hyphens in wrapped cells
    text = squash(subprocess.run(["pdftotext", str(_pdf(reports, model)), "-"], check=True, capture_output=True,
                                 text=True).stdout)
    headers = {h.strip() for h in parser.cells if h.strip()}
    assert len(headers) > 20
    missing = sorted(h for h in headers if squash(h) not in text)
    assert not missing, missing


def test_pdf_is_archival_and_tagged(reports):
    pdf = str(_pdf(reports, "mortgage"))
    info = subprocess.run(["pdfinfo", pdf], check=True, capture_output=True, text=True).stdout
    meta = subprocess.run(["pdfinfo", "-meta", pdf], check=True, capture_output=True, text=True).stdout
    assert re.search(r"^Tagged:\s+yes", info, re.M)
    assert 'pdfaid:part="3"' in meta and 'pdfaid:conformance="B"' in meta
