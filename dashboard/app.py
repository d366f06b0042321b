"""The Dash app factory: ``create_app(store) -> dash.Dash``.

Pages live in :mod:`dashboard.pages`; each per-model page module exposes ``PAGE``, ``build(ctx, model,
run, **query)`` and ``register_callbacks(app, ctx)``, and is registered here with explicit module names
(importing a page never needs a global app). Layouts and callbacks close over one
:class:`~dashboard.context.AppContext`; there are no mutable module globals. Dash keeps its page registry
process-wide, so the last app created in a process decides the layouts (one app per process in
production; tests create one app per store).
"""
from __future__ import annotations

import os

import dash
from dash import dcc, html

from audit.store import RunStore
from dashboard import downloads, ids, response_cache
from dashboard.context import AppContext, LiveModels
from dashboard.pages import explanations, fairness, home, not_found_404, performance, quality, report, runs, shell

ASSETS = os.path.join(os.path.dirname(__file__), "assets")
MODEL_PAGES = [performance, fairness, explanations, quality, runs, report]
MAX_REQUEST_BYTES = 1 << 20  # callback payloads are small; a live input larger than 1 MiB is refused (413)


def create_app(store: str | os.PathLike | RunStore, *, base_path: str = "/", device: str = "cpu") -> dash.Dash:
    """The dashboard over ``store`` (a path or a :class:`RunStore`), served under ``base_path``."""
    store = store if isinstance(store, RunStore) else RunStore(store)
    ctx = AppContext(store, live=LiveModels(device))
    base = "/" + base_path.strip("/") + "/" if base_path.strip("/") else "/"
    app = dash.Dash(
        __name__, use_pages=True, pages_folder="", assets_folder=ASSETS, serve_locally=True,
        url_base_pathname=base, title="deepaudit", suppress_callback_exceptions=True, update_title=None,
    )
    app.server.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app._deepaudit_ctx = ctx  # for the server (preloading) and tests; pages get ctx through closures
    dash.register_page("dashboard.pages.home", path="/", name="Models", title="deepaudit · models", order=0,
                       layout=lambda **q: home.build(ctx, **clean_query(q)))
    # Dash matches path templates in registry order (sorted by ``order``) and a template variable also
    # matches "/": the catch-all /model/<model> must come after every /model/<model>/<page>.
    for order, page in enumerate(MODEL_PAGES, 1):
        dash.register_page(f"dashboard.pages.{page.PAGE}", path_template=f"/model/<model>/{page.PAGE}",
                           name=page.PAGE.title(), title=_title(page.PAGE), layout=_layout(page, ctx), order=order)
        page.register_callbacks(app, ctx)
    dash.register_page("dashboard.pages.model_index", path_template="/model/<model>", name="Model",
                       title=_title("performance"), layout=_layout(performance, ctx),
                       order=len(MODEL_PAGES) + 1)
    dash.register_page("dashboard.pages.not_found_404", path="/404", name="Not found",
                       title="deepaudit · not found", layout=lambda **_: not_found_404.build(known=ctx.known_models()))
    shell.register_callbacks(app)
    downloads.register(app, ctx)
    response_cache.register(app.server, ctx)
    app.layout = html.Div([
        dcc.Location(id=ids.URL, refresh="callback-nav"),
        html.Header([dcc.Link("deepaudit", href=dash.get_relative_path("/"), className="brand"),
                     html.Span("model audit dashboard", className="muted")], id=ids.NAV, className="nav"),
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


def path_model(default: str | None) -> str | None:
    """The model named by the URL path of the page-router request being served.

    Dash merges query parameters over path variables, so ``/model/a/performance?model=b`` would show
    model b; the path decides. Outside a router request (direct calls in tests) ``default`` is kept.
    """
    from urllib.parse import unquote

    import flask

    try:
        body = flask.request.get_json(silent=True) or {}
        path = next(i["value"] for i in body.get("inputs", []) if i.get("property") == "pathname")
        parts = (dash.strip_relative_path(path) or "").split("/")
    except Exception:  # no request context, or not a router request
        return default
    return unquote(parts[1]) if len(parts) >= 2 and parts[0] == "model" else default


def _layout(page, ctx: AppContext):
    def layout(**params):
        q = clean_query(params)
        model = path_model(q.pop("model", None))
        return page.build(ctx, model, q.pop("run", None), **q)

    return layout
