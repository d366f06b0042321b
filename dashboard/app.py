"""The Dash app factory: ``create_app(store) -> dash.Dash``.

Pages live in :mod:`deepaudit.dashboard.pages`; each per-model page module exposes ``PAGE``, ``build(ctx, model,
run, **query)`` and ``register_callbacks(app, ctx)``, and is registered here with explicit module names
(importing a page never needs a global app). Layouts and callbacks close over one
:class:`~deepaudit.dashboard.context.AppContext`; there are no mutable module globals. Dash keeps its page registry
process-wide, so the last app created in a process decides the layouts (one app per process in
production; tests create one app per store).

The HTTP side is hardened here, whatever serves the app (waitress, the dev server, tests): callback requests
naming unknown runs or models are refused (400) before any callback runs, an unknown page answers 404 while
still showing the friendly page, errors are logged in one line and never echo internals, and responses carry
security headers, a Content-Security-Policy and ``Cache-Control: no-store`` (audit results stay out of caches).
"""
from __future__ import annotations

import logging
import os

import dash
from dash import dcc, html
from dash.exceptions import DependencyException, InvalidResourceError, UnsupportedRelativePath
from flask import Response, request
from werkzeug.exceptions import HTTPException

from deepaudit.audit.store import RunStore
from deepaudit.dashboard import downloads, ids, response_cache
from deepaudit.dashboard.context import AppContext, LiveModels
from deepaudit.dashboard.pages import (
    checks,
    explanations,
    fairness,
    glossary,
    home,
    not_found_404,
    performance,
    quality,
    report,
    runs,
    shell,
)
from deepaudit.dashboard.pages.shell import ClientInputError

log = logging.getLogger("deepaudit.dashboard")

ASSETS = os.path.join(os.path.dirname(__file__), "assets")
MODEL_PAGES = [checks, performance, fairness, explanations, quality, runs, report]
MODEL_PAGE_NAMES = frozenset(p.PAGE for p in MODEL_PAGES)
NOT_FOUND_MODULE = "deepaudit.dashboard.pages.not_found_404"
MAX_REQUEST_BYTES = 1 << 20  # callback payloads are small; a live input larger than 1 MiB is refused (413)
CALLBACK_PATH = "_dash-update-component"
# Every ids.*_STATE is a dcc.Store of {"run_id"} and/or {"model"} that callbacks load the run or model from.
RUN_STATES = frozenset(v for k, v in vars(ids).items() if k.endswith("_STATE") and isinstance(v, str))
STATIC_PATHS = ("_dash-component-suites/", "assets/", "_favicon.ico")  # versioned or public: cacheable

SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}
# Dash's renderer bootstrap and the clientside callbacks are inline scripts, allowed by their hashes (Dash
# computes them), so scripts need no 'unsafe-inline' or 'unsafe-eval'. Dash components and plotly set inline
# styles; explanation overlays are data: images.
CSP = ("default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
       "frame-ancestors 'none'")

# Response bodies: short, and never the exception (it may name paths or internals).
BAD_REQUEST = "Bad request: this page sent a value the server does not know. Reload the page."
SERVER_ERROR = "Internal server error. The server log has the details."
NOT_FOUND = "Not found."
# Why a callback request was refused (logged, one line).
NOT_A_CALLBACK = "not a Dash callback request"
UNKNOWN_OUTPUT = "no server callback has the output {output}"
BAD_STATE = "{store} is not a run state: {value}"
UNKNOWN_RUN = "{store} names no run in the store: {run_id}"
UNKNOWN_MODEL = "{store} names no model in the store: {model}"


def create_app(store: str | os.PathLike | RunStore, *, base_path: str = "/", device: str = "cpu",
               targets: tuple[str, ...] | list[str] = (), live_process: bool = False) -> dash.Dash:
    """The dashboard over ``store`` (a path or a :class:`RunStore`), served under ``base_path``.

    ``targets``: specs (e.g. ``path/to/file.py:factory``) the operator allows live features to load, besides
    bundled models and installed entry points; a spec read from the store is never loaded otherwise.
    ``live_process``: run live explanations in a worker process (:mod:`deepaudit.dashboard.live_worker`), as
    ``deepaudit serve`` does.
    """
    store = store if isinstance(store, RunStore) else RunStore(store)
    ctx = AppContext(store, live=LiveModels(device, allowed=targets, process=live_process))
    base = "/" + base_path.strip("/") + "/" if base_path.strip("/") else "/"
    app = dash.Dash(
        __name__, use_pages=True, pages_folder="", assets_folder=ASSETS, serve_locally=True,
        url_base_pathname=base, title="deepaudit", suppress_callback_exceptions=True, update_title=None,
    )
    app.server.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app._deepaudit_ctx = ctx  # for the server (preloading) and tests; pages get ctx through closures
    dash.register_page("deepaudit.dashboard.pages.home", path="/", name="Models", title="deepaudit · models", order=0,
                       layout=lambda **q: home.build(ctx, **clean_query(q)))
    # Dash matches path templates in registry order (sorted by ``order``) and a template variable also
    # matches "/": the catch-all /model/<model> must come after every /model/<model>/<page>.
    for order, page in enumerate(MODEL_PAGES, 1):
        dash.register_page(f"deepaudit.dashboard.pages.{page.PAGE}", path_template=f"/model/<model>/{page.PAGE}",
                           name=page.PAGE.title(), title=_title(page.PAGE), layout=_layout(page, ctx), order=order)
        page.register_callbacks(app, ctx)
    dash.register_page("deepaudit.dashboard.pages.model_index", path_template="/model/<model>", name="Model",
                       title=_title("performance"), layout=_layout(performance, ctx),
                       order=len(MODEL_PAGES) + 1)
    dash.register_page("deepaudit.dashboard.pages.glossary", path="/glossary", name="Glossary",
                       title="deepaudit · glossary",
                       order=len(MODEL_PAGES) + 2, layout=lambda **_: glossary.build())
    dash.register_page("deepaudit.dashboard.pages.not_found_404", path="/404", name="Not found",
                       title="deepaudit · not found", layout=lambda **_: not_found_404.build(known=ctx.known_models()))
    shell.register_callbacks(app)
    downloads.register(app, ctx)
    response_cache.register(app.server, ctx)
    _harden(app, ctx)
    app.layout = html.Div([
        dcc.Location(id=ids.URL, refresh="callback-nav"),
        html.Header([dcc.Link("deepaudit", href=dash.get_relative_path("/"), className="brand"),
                     html.Span("model audit dashboard", className="muted"),
                     dcc.Link("Glossary", href=dash.get_relative_path("/glossary"), className="brand-nav")],
                    id=ids.NAV, className="nav"),
        html.Main(dash.page_container, className="main"),
    ])
    return app


def _title(page: str):
    return lambda model=None, **_: f"deepaudit · {model} · {page}"


def clean_query(params: dict) -> dict[str, str]:
    """Query parameters as a layout may take them: strings only (a repeated parameter keeps its last
    value), at most 500 characters, identifier-like names; ``ctx`` is never a parameter."""
    out = {}
    for k, v in params.items():
        v = v[-1] if isinstance(v, list) and v else v
        if isinstance(k, str) and k.isidentifier() and k != "ctx" and isinstance(v, str) and len(v) <= 500:
            out[k] = v
    return out


def _router_path() -> list[str] | None:
    """The app-relative path of the page-router request being served, split at "/"; None outside one."""
    import flask

    try:
        body = flask.request.get_json(silent=True) or {}
        path = next(i["value"] for i in body.get("inputs", []) if i.get("property") == "pathname")
        return (dash.strip_relative_path(path) or "").split("/")
    except Exception:  # no request context, or not a router request
        return None


def path_model(default: str | None) -> str | None:
    """The model named by the URL path of the page-router request being served.

    Dash merges query parameters over path variables, so ``/model/a/performance?model=b`` would show
    model b; the path decides. Outside a router request (direct calls in tests) ``default`` is kept.
    """
    from urllib.parse import unquote

    parts = _router_path()
    return unquote(parts[1]) if parts and len(parts) >= 2 and parts[0] == "model" else default


def model_route(parts: list[str]) -> str | None:
    """The model segment of a model page path split at "/" (``model/<model>`` or ``model/<model>/<page>``);
    None for any other shape. Dash's ``<model>`` also matches "a/b", so the router alone would show
    /model/a/b/performance as a's page."""
    if parts and parts[0] == "model" and (len(parts) == 2 or (len(parts) == 3 and parts[2] in MODEL_PAGE_NAMES)):
        return parts[1]
    return None


def page_found(ctx: AppContext, path: str, query: dict) -> bool:
    """Whether app-relative ``path`` with ``query`` shows a page rather than the friendly 404, as the router
    and the page layouts decide: a registered path, or a model page of a known model (and run, with ?run=)."""
    parts = path.strip("/").split("/")
    if parts[0] == "model":
        model = model_route(parts)
        return model is not None and ctx.resolve(model, clean_query(query).get("run")) is not None
    path = "/".join(parts)
    return any(not p.get("path_template") and p["module"] != NOT_FOUND_MODULE and p["path"].strip("/") == path
               for p in dash.page_registry.values())


def _layout(page, ctx: AppContext):
    def layout(**params):
        parts = _router_path()
        if parts is not None and model_route(parts) is None:
            return not_found_404.build(known=ctx.known_models())
        q = clean_query(params)
        model = path_model(q.pop("model", None))
        return page.build(ctx, model, q.pop("run", None), **q)

    return layout


def _clip(value, n: int = 80) -> str:
    """A client value for a log line: repr (no raw newlines), at most ``n`` characters."""
    r = repr(value)
    return r if len(r) <= n else r[:n] + "..."


def _one_line(exc: Exception, n: int = 300) -> str:
    """``Type: message`` with whitespace runs (newlines too) collapsed, at most ``n`` characters of message."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:n]}"


def _text(body: str, status: int) -> Response:
    return Response(body, status, mimetype="text/plain")


def check_callback_request(app: dash.Dash, ctx: AppContext, body) -> None:
    """ClientInputError unless ``body`` calls a registered callback whose run states (``ids.*_STATE``) name
    runs and models in the store. Callbacks load runs from these stores; a stale or forged one would fail
    inside them."""
    if not isinstance(body, dict) or not isinstance(body.get("output"), str):
        raise ClientInputError(NOT_A_CALLBACK)
    if "callback" not in app.callback_map.get(body["output"], {}):  # clientside callbacks have no server part
        raise ClientInputError(UNKNOWN_OUTPUT.format(output=_clip(body["output"])))
    items = [x for group in (body.get("inputs"), body.get("state")) if isinstance(group, list) for x in group]
    items = [y for x in items for y in (x if isinstance(x, list) else [x])]  # pattern-matching ids come as lists
    for item in items:
        if not (isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"] in RUN_STATES
                and item.get("property") == "data"):
            continue
        store, value = item["id"], item.get("value")
        if not isinstance(value, dict) or not {"run_id", "model"} & value.keys():
            raise ClientInputError(BAD_STATE.format(store=store, value=_clip(value)))
        if "run_id" in value and ctx.run_by_id(value["run_id"]) is None:
            raise ClientInputError(UNKNOWN_RUN.format(store=store, run_id=_clip(value["run_id"])))
        model = value.get("model")
        if "model" in value and not (isinstance(model, str) and ctx.model_runs(model)):
            raise ClientInputError(UNKNOWN_MODEL.format(store=store, model=_clip(model)))


def _harden(app: dash.Dash, ctx: AppContext) -> None:
    server = app.server
    prefix = app.config.routes_pathname_prefix
    page_endpoints = {prefix, prefix + "<path:path>"}  # Dash's index and catch-all: every app page
    suites = prefix + "_dash-component-suites/"

    # After the response cache: a cached answer was computed for a request that passed this check.
    @server.before_request
    def _check_callback():
        if request.method == "POST" and request.path == prefix + CALLBACK_PATH:
            check_callback_request(app, ctx, request.get_json(silent=True))

    def _error(exc: Exception):
        if isinstance(exc, HTTPException):
            return exc
        where = f"{request.method} {_clip(request.path)}"
        if isinstance(exc, (ClientInputError, UnsupportedRelativePath)):  # the latter: a forged router pathname
            log.warning("400 %s from %s: %s", where, request.remote_addr, _one_line(exc))
            return _text(BAD_REQUEST, 400)
        if request.path.startswith(suites) and isinstance(exc, (DependencyException, InvalidResourceError, OSError)):
            log.debug("404 %s: %s", where, type(exc).__name__)  # scanners probe these; not worth a warning
            return _text(NOT_FOUND, 404)
        log.error("500 %s: %s", where, _one_line(exc))
        log.debug("traceback of the error above", exc_info=exc)
        return _text(SERVER_ERROR, 500)

    # Flask logs a traceback only for exceptions no handler takes; Dash's own InvalidResourceError handler
    # echoes the requested path back as HTML, so this one replaces it.
    server.register_error_handler(Exception, _error)
    server.register_error_handler(InvalidResourceError, _error)

    @server.after_request
    def _page_status(resp):
        # Dash answers every path with the same index page and shows the friendly 404 in the browser; the
        # status says so too, for crawlers, monitors and scripts.
        if request.endpoint in page_endpoints and resp.status_code == 200:
            path = request.path[len(prefix):] if request.path.startswith(prefix) else request.path
            if not page_found(ctx, path, request.args.to_dict(flat=False)):
                resp.status_code = 404
        return resp

    @server.after_request
    def _headers(resp):
        rel = request.path[len(prefix):] if request.path.startswith(prefix) else request.path.lstrip("/")
        if not rel.startswith(STATIC_PATHS):
            resp.headers["Cache-Control"] = "no-store"
        if resp.mimetype == "text/html":  # setdefault: a sandboxed report download keeps its own policy
            resp.headers.setdefault("Content-Security-Policy", CSP.format(hashes=" ".join(app.csp_hashes())))
        for k, v in SECURITY_HEADERS.items():
            resp.headers.setdefault(k, v)
        return resp
