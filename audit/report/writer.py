"""Write a run's reports to disk: JSON, model card, HTML, PDF (in that order).

HTML and JSON never depend on PDF prerequisites: when WeasyPrint or Pango is
missing, the other formats are written and :attr:`Written.pdf_error` holds
the message naming what to install.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from deepaudit.audit.report.model import build_report
from deepaudit.audit.report.schema import validate_report

log = logging.getLogger(__name__)

FORMATS = ("html", "pdf", "json", "model-card")
UNKNOWN_FORMAT = "unknown report format {fmt!r}. Fix: use one or more of {formats}, comma-separated."
SUFFIX = {"json": ".report.json", "model-card": ".model-card.json", "html": ".html", "pdf": ".pdf"}


@dataclass
class Written:
    """Paths written (in format order), seconds taken, and the PDF problem if there was one."""

    paths: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    pdf_error: str | None = None


def parse_formats(spec: str | Iterable[str]) -> list[str]:
    """``"html,pdf"`` or a list -> validated, de-duplicated list in canonical order."""
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    for f in items:
        if f not in FORMATS:
            raise ValueError(UNKNOWN_FORMAT.format(fmt=f, formats=", ".join(FORMATS)))
    if not items:
        raise ValueError(UNKNOWN_FORMAT.format(fmt=spec, formats=", ".join(FORMATS)))
    return [f for f in ("json", "model-card", "html", "pdf") if f in items]


def dumps(obj: Any) -> str:
    """Canonical JSON text of the report (stable order, no NaN), so regenerated files compare equal."""
    return json.dumps(obj, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def write_reports(run: Any, out_dir: str | Path, *, formats: str | Iterable[str] = FORMATS,
                  profiles: Iterable[str | Path] = ()) -> Written:
    """Build the report of ``run`` and write the requested formats into ``out_dir``.

    Parameters
    ----------
    run : deepaudit.audit.store.Run
    out_dir : path
        Created if missing. Files are named ``<run_id><suffix>``.
    formats : str or iterable of str
        Any of ``html, pdf, json, model-card``.
    profiles : iterable
        Compliance profiles to add (names or profile files; :mod:`deepaudit.audit.compliance`).
    """
    fmts = parse_formats(formats)
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = build_report(run, with_examples=bool({"html", "pdf", "json"} & set(fmts)), profiles=tuple(profiles))
    validate_report(report.data)
    stem = out / run.run_id
    written = Written()
    if "json" in fmts:
        written.paths.append(_write(Path(f"{stem}{SUFFIX['json']}"), dumps(report.data)))
    if "model-card" in fmts:
        from deepaudit.audit.report.model_card import model_card

        written.paths.append(_write(Path(f"{stem}{SUFFIX['model-card']}"), dumps(model_card(report.data))))
    if "html" in fmts or "pdf" in fmts:
        from deepaudit.audit.report.figures import render_figures
        from deepaudit.audit.report.html import render_html

        html = render_html(report.data, render_figures(report.data, report.assets))
        if "html" in fmts:
            written.paths.append(_write(Path(f"{stem}{SUFFIX['html']}"), html))
        if "pdf" in fmts:
            from deepaudit.audit.report.pdf import PdfUnavailable, render_pdf

            try:
                written.paths.append(render_pdf(html, Path(f"{stem}{SUFFIX['pdf']}")))
            except PdfUnavailable as exc:
                log.warning("%s", exc)
                written.pdf_error = str(exc)
    written.seconds = round(time.perf_counter() - t0, 3)
    return written


def _write(path: Path, text: str) -> Path:
    from deepaudit.audit.atomic import write_atomic

    return write_atomic(path, text)
