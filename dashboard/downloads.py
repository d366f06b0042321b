"""``GET <base>download/<run_id>/<fmt>``: a run's report (html, pdf, json, model-card) from the store.

The client names a run id and a format, never a path: the id must match the run-id pattern and be in the
store's index, the format one of :data:`deepaudit.audit.report.FORMATS`. Reports are built on first request into
``<store>/reports/<run_id>/`` (runs are immutable, so the files stay valid) and served from there.
"""
from __future__ import annotations

import threading
from pathlib import Path

import dash
from flask import abort, send_file

from deepaudit.dashboard.context import AppContext

MIMETYPES = {"html": "text/html", "pdf": "application/pdf", "json": "application/json",
             "model-card": "application/json"}


def report_file(ctx: AppContext, run_id: str, fmt: str, lock: threading.Lock | None = None) -> Path | None:
    """The report file of ``run_id`` in ``fmt``, written when missing; None for an unknown run or format."""
    from deepaudit.audit.report.writer import FORMATS, SUFFIX, write_reports

    if fmt not in FORMATS:
        return None
    run = ctx.run_by_id(run_id)
    if run is None:
        return None
    # Keyed by the run's integrity state too: a report written before a signature or a sign-off was recorded is
    # not served after it (the report shows both).
    from deepaudit.audit.integrity import sha256_json
    from deepaudit.audit.report.model import integrity_metadata

    state = sha256_json(integrity_metadata(run))[:12]
    out = ctx.store.root / "reports" / run.run_id / state
    path = out / f"{run.run_id}{SUFFIX[fmt]}"
    with lock or threading.Lock():
        if not path.is_file():
            written = write_reports(run, out, formats=[fmt])
            if written.pdf_error:
                raise RuntimeError(written.pdf_error)
    return path


def download_url(run_id: str, fmt: str) -> str:
    return dash.get_relative_path(f"/download/{run_id}/{fmt}")


def register(app: dash.Dash, ctx: AppContext) -> None:
    lock = threading.Lock()  # one report build at a time; later requests find the file
    base = app.config.routes_pathname_prefix

    @app.server.route(f"{base}download/<run_id>/<fmt>")
    def _download(run_id: str, fmt: str):
        try:
            path = report_file(ctx, run_id, fmt, lock)
        except RuntimeError as exc:  # WeasyPrint / pango missing: say so, keep the other formats working
            return (f"PDF report unavailable: {exc}", 503, {"Content-Type": "text/plain; charset=utf-8"})
        if path is None:
            abort(404)
        resp = send_file(path, mimetype=MIMETYPES[fmt], as_attachment=fmt != "html", download_name=path.name)
        if fmt == "html":  # shown inline on the dashboard's origin: no scripts, no same-origin access
            resp.headers["Content-Security-Policy"] = "sandbox"
        return resp
