"""/model/<model>/explanations (stub: filled in by the explanations page work)."""
from __future__ import annotations

from typing import Any

from dash import html

from dashboard.context import AppContext
from dashboard.pages import shell

PAGE = "explanations"


def build(ctx: AppContext, model: str | None = None, run: str | None = None, **query: Any) -> html.Div:
    return shell.model_page(ctx, model, run, PAGE, lambda r: [html.P("Coming soon.")])


def register_callbacks(app, ctx: AppContext) -> None:
    return None
