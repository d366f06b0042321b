"""/model/<model>/report: download the run's report (HTML, PDF, JSON, model card) and see its provenance.

Downloads go through ``<base>download/<run_id>/<format>`` (:mod:`deepaudit.dashboard.downloads`): by run id from the
store, never by path.
"""
from __future__ import annotations

from typing import Any

from dash import Input, Output, State, dcc, html, no_update

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
    page = shell.model_page(ctx, model, run, PAGE, body, key=())
    resolved = ctx.resolve(model, run)
    if resolved is not None:   # not memoized: sign-offs are added while the server runs
        content = page.children[-1]
        content.children = list(content.children) + signoff_section(ctx, resolved)
    return page


def integrity_rows(ctx: AppContext, run: Run) -> list[dict[str, str]]:
    """The run's manifest hash, its place in the store's hash chain and its signature (read, never trusted)."""
    from pathlib import Path

    from deepaudit.audit import integrity

    d = Path(run.path)
    mh = integrity.manifest_hash(d)
    chained = [e for e in ctx.store.chain(run.run_id) if e["kind"] in ("run", "seal")]
    sig = integrity.signature_status(d)
    signed = {"unsigned": "not signed (deepaudit sign RUN --key FILE)",
              "valid": f"valid, key {sig.get('key_fingerprint')} ({sig.get('signer') or 'signer not named'}, "
                       f"{sig.get('signed_at')}); check the signer with deepaudit verify --public-key",
              "invalid": f"INVALID: {sig.get('reason')}"}[sig["status"]]
    return [{"field": "manifest sha256", "value": mh or "no manifest (run written before manifests)"},
            {"field": "hash chain", "value": f"entry {chained[0]['seq']}, link {chained[0]['chain_hash'][:16]}…"
             + (f" (sealed after it was written, {chained[0]['recorded_at'][:10]})"
                if chained[0]["kind"] == "seal" else "") if chained else "not in the store's chain"},
            {"field": "signature", "value": signed},
            {"field": "verify", "value": f"deepaudit verify {run.run_id} --store <store> (recomputes every hash)"}]


def signoff_rows(ctx: AppContext, run_id: str) -> list[dict[str, str]]:
    return [{"recorded_at": s["recorded_at"][:19].replace("T", " "), "reviewer": s["reviewer"],
             "decision": s["decision"].replace("_", " "), "conditions": s.get("conditions") or "–",
             "comment": s.get("comment") or "–", "via": s.get("via", "")} for s in ctx.store.signoffs(run_id)]


SIGNOFF_COLUMNS = [("recorded_at", "Recorded (UTC)"), ("reviewer", "Reviewer"), ("decision", "Decision"),
                   ("conditions", "Conditions"), ("comment", "Comment"), ("via", "Via")]


def signoff_section(ctx: AppContext, run: Run) -> list:
    from deepaudit.dashboard.auth import authenticated_user

    user = authenticated_user()
    form: list = [html.P("Sign-offs are recorded only by an authenticated reviewer: serve the dashboard with "
                         "--credentials (README, \"Dashboard\"), or use `deepaudit signoff`.", className="note")]
    if user is not None:
        form = [
            html.P(["Signing as ", html.Strong(user), ". A sign-off is appended to the store's hash chain and "
                    "cannot be edited or removed."]),
            dcc.RadioItems(id=ids.SIGNOFF_DECISION, value="accepted", inline=True,
                           options=[{"label": " accepted", "value": "accepted"},
                                    {"label": " accepted with conditions", "value": "accepted_with_conditions"},
                                    {"label": " rejected", "value": "rejected"}]),
            html.Label("Conditions (required with conditions)", htmlFor=ids.SIGNOFF_CONDITIONS),
            dcc.Textarea(id=ids.SIGNOFF_CONDITIONS, value="", maxLength=4000, style={"width": "100%"}),
            html.Label("Comment", htmlFor=ids.SIGNOFF_COMMENT),
            dcc.Textarea(id=ids.SIGNOFF_COMMENT, value="", maxLength=4000, style={"width": "100%"}),
            html.Button("Record sign-off", id=ids.SIGNOFF_SUBMIT, n_clicks=0, className="button"),
        ]
    return [
        html.H2("Integrity"),
        tables.table(ids.REPORT_INTEGRITY, [("field", "Field"), ("value", "Value")], integrity_rows(ctx, run)),
        html.H2("Reviewer sign-off"),
        html.Div(tables.table(ids.SIGNOFF_LIST, SIGNOFF_COLUMNS, signoff_rows(ctx, run.run_id)),
                 id=ids.SIGNOFF_LIST + "-box"),
        *form,
        html.Div(id=ids.SIGNOFF_STATUS, role="status"),
    ]


def record_signoff(ctx: AppContext, run_id: str | None, decision: str | None, conditions: str | None,
                   comment: str | None) -> tuple[str, Any]:
    """The sign-off callback's work: refused unless the request carries a verified user."""
    from deepaudit.dashboard.auth import authenticated_user

    user = authenticated_user()
    if user is None:
        return "Refused: sign-offs need an authenticated reviewer (serve with --credentials).", no_update
    if not isinstance(run_id, str):
        return "Refused: no run is shown.", no_update
    try:
        entry = ctx.store.signoff(run_id, reviewer=user, decision=str(decision), conditions=conditions or "",
                                  comment=comment or "", via="dashboard")
    except ValueError as exc:
        return f"Not recorded: {exc}", no_update
    return (f"Recorded: {entry['payload']['decision'].replace('_', ' ')} by {user} (chain entry {entry['seq']}).",
            tables.table(ids.SIGNOFF_LIST, SIGNOFF_COLUMNS, signoff_rows(ctx, run_id)))


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
    @app.callback(Output(ids.SIGNOFF_STATUS, "children"), Output(ids.SIGNOFF_LIST + "-box", "children"),
                  Input(ids.SIGNOFF_SUBMIT, "n_clicks"), State(ids.RUN_SHOWN, "data"),
                  State(ids.SIGNOFF_DECISION, "value"), State(ids.SIGNOFF_CONDITIONS, "value"),
                  State(ids.SIGNOFF_COMMENT, "value"), prevent_initial_call=True)
    def _signoff(n_clicks, run_id, decision, conditions, comment):
        if not n_clicks:
            return no_update, no_update
        return record_signoff(ctx, run_id, decision, conditions, comment)

    # Runs in the browser: a click on the PDF link says what is happening while the server builds the file.
    app.clientside_callback(
        "function(n, msg) { return n ? [msg, {}] : ['', {display: 'none'}]; }",
        Output(ids.REPORT_PDF_STATUS, "children"), Output(ids.REPORT_PDF_STATUS, "style"),
        Input(ids.REPORT_PDF_LINK, "n_clicks"), State(ids.REPORT_PDF_STATUS, "title"))
