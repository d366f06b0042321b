"""/model/<model>/report: download the run's report (HTML, PDF, JSON, model card) and see its provenance.

Downloads go through ``<base>download/<run_id>/<format>`` (:mod:`deepaudit.dashboard.downloads`): by run id from the
store, never by path.
"""
from __future__ import annotations

from typing import Any

from dash import Input, Output, State, dcc, html

from deepaudit.audit.store import Run
from deepaudit.dashboard import ids
from deepaudit.dashboard.context import AppContext
from deepaudit.dashboard.downloads import download_url
from deepaudit.dashboard.pages import shell, tables

PAGE = "report"
FORMATS = [("html", "HTML report", "self-contained page: open in any browser, print or archive"),
           ("pdf", "PDF report", "the same report paginated for sign-off, archival PDF/A (built on first request, "
                                 "about 10 s)"),
           ("json", "JSON report", "every number in the report, validated against report.schema.json"),
           ("model-card", "Model card", "Model Card Toolkit JSON")]


def build(ctx: AppContext, model: str | None = None, run: str | None = None, **_: Any) -> html.Div:
    return shell.model_page(ctx, model, run, PAGE, body, key=())


def provenance_rows(run: Run) -> list[dict[str, str]]:
    p = run.provenance
    cfg = p.config
    git = p.git_commit or {}
    rows = [("run id", run.run_id), ("created (UTC)", p.created_at),
            ("weights sha256", p.weights_sha256), ("data sha256", p.data_sha256),
            ("seed", p.seed), ("device", p.device),
            ("samples explained", cfg.get("samples") if cfg.get("samples") is not None else "all"),
            ("methods", ", ".join(cfg.get("methods", []))), ("policy", cfg.get("policy")),
            ("deepaudit commit", f"{git.get('commit', '–')}{' (uncommitted changes)' if git.get('dirty') else ''}"),
            ("run time", f"{p.timings.get('total_s', 0):.1f} s")]
    rows += [(f"package {k}", v) for k, v in p.packages.items()]
    return [{"field": k, "value": "–" if v in (None, "") else str(v)} for k, v in rows]


def verdict_section(run: Run) -> html.Div:
    """The verdict and the failed checks, most severe first, each linking to its evidence (as the report's
    executive summary ranks them)."""
    from deepaudit.audit.report.findings import rank_failed
    from deepaudit.dashboard.pages.checks import evidence_href

    failed = rank_failed(run.checks)
    by_id = {c.id: c for c in run.checks}
    verdict = html.P([html.Strong("Verdict: "), shell.verdict_badge(len(failed), len(run.checks),
                                                                    href=shell.href(run.model.name, "checks",
                                                                                    run.run_id))])
    if not failed:
        return html.Div([verdict], id=ids.REPORT_VERDICT)
    items = [html.Li([dcc.Link(f["title"], href=evidence_href(run, by_id[f["check_id"]])),
                      html.Span(f" · {f['check_id']}", className="muted")]) for f in failed]
    return html.Div([verdict, html.P("Failed checks, most severe first:"), html.Ol(items)], id=ids.REPORT_VERDICT)


def body(run: Run) -> list:
    links = [html.Li([html.A(label, href=download_url(run.run_id, fmt), className="button",
                             target="_blank" if fmt == "html" else None, rel="noopener",
                             **({"id": ids.REPORT_PDF_LINK, "n_clicks": 0} if fmt == "pdf" else {})),
                      html.Span(f" {note}", className="muted"),
                      html.Div(id=ids.REPORT_PDF_STATUS, role="status", className="note pdf-status",
                               title=PDF_BUILDING, style={"display": "none"}) if fmt == "pdf" else None])
             for fmt, label, note in FORMATS]
    return [
        html.P(["Reports of run ", html.Code(run.run_id), ". Every format is built from the same stored run; "
                "the numbers match this dashboard."]),
        html.Div([html.Ul(links, id=ids.REPORT_LINKS, className="downloads"), verdict_section(run)],
                 className="report-top"),
        html.H2("Provenance"),
        tables.table(ids.REPORT_PROVENANCE, [("field", "Field"), ("value", "Value")], provenance_rows(run)),
    ]


PDF_BUILDING = ("Building the PDF: the first request for a run lays out every page (about 10 s); the download "
                "starts when it is ready. Later requests are served from the store at once.")


def register_callbacks(app, ctx: AppContext) -> None:
    # Runs in the browser: a click on the PDF link says what is happening while the server builds the file.
    app.clientside_callback(
        "function(n, msg) { return n ? [msg, {}] : ['', {display: 'none'}]; }",
        Output(ids.REPORT_PDF_STATUS, "children"), Output(ids.REPORT_PDF_STATUS, "style"),
        Input(ids.REPORT_PDF_LINK, "n_clicks"), State(ids.REPORT_PDF_STATUS, "title"))
