"""The friendly 404 page (Dash uses a page module named ``not_found_404`` for unknown paths)."""
from __future__ import annotations

import dash
from dash import dcc, html

from deepaudit.dashboard import ids


def build(message: str | None = None, known: list[str] | None = None) -> html.Div:
    children = [
        html.H1("Page not found"),
        html.P(message or "There is no page at this address."),
    ]
    if known:
        children.append(html.P(["Audited models: "] + _links(known)))
    children.append(dcc.Link("Back to all models", href=dash.get_relative_path("/"), className="button"))
    return html.Div(children, id=ids.NOT_FOUND, className="card not-found")


def _links(models: list[str]) -> list:
    out: list = []
    for i, m in enumerate(models):
        if i:
            out.append(", ")
        out.append(dcc.Link(m, href=dash.get_relative_path(f"/model/{m}/performance")))
    return out
