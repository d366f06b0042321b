"""The Dash app factory: ``create_app(store_root) -> dash.Dash``.

Pages live in :mod:`dashboard.pages` and are registered here, with explicit module names, so importing a
page never needs a global app. Layouts and callbacks close over the :class:`RunStore`; there are no mutable
module globals. Note: Dash keeps its page registry process-wide, so the last app created in a process
decides the page layouts of every app in it (one app per process in production).
"""
from __future__ import annotations

import os
from pathlib import Path

import dash
from dash import dcc, html

from audit.store import RunStore
from dashboard import ids
from dashboard.pages import fairness, home, not_found_404

ASSETS = Path(__file__).parent / "assets"


def create_app(store_root: str | os.PathLike | RunStore) -> dash.Dash:
    store = store_root if isinstance(store_root, RunStore) else RunStore(store_root)
    app = dash.Dash(
        __name__, use_pages=True, pages_folder="", assets_folder=str(ASSETS), serve_locally=True,
        title="deepaudit", suppress_callback_exceptions=True, update_title=None,
    )
    dash.register_page("dashboard.pages.home", path="/", name="Models", title="deepaudit · models",
                       layout=lambda **_: home.build(store))
    dash.register_page("dashboard.pages.fairness", path_template="/model/<model>/fairness", name="Fairness",
                       title=lambda model=None, **_: f"deepaudit · {model} · fairness",
                       layout=lambda model=None, attribute=None, **_: fairness.build(store, model, attribute))
    dash.register_page("dashboard.pages.not_found_404", path="/404", name="Not found",
                       title="deepaudit · not found",
                       layout=lambda **_: not_found_404.build(known=_known(store)))
    fairness.register_callbacks(app, store)
    app.layout = html.Div([
        html.Header([dcc.Link("deepaudit", href="/", className="brand"),
                     html.Span("model audit dashboard", className="muted")], id=ids.NAV, className="nav"),
        html.Main(dash.page_container, className="main"),
    ])
    return app


def _known(store: RunStore) -> list[str]:
    from dashboard.data import known_models
    return known_models(store)
