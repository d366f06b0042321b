"""Explanations page body for vision models (stub)."""
from __future__ import annotations

from typing import Any

from dash import html

from audit.store import Run
from dashboard.context import AppContext


def body(ctx: AppContext, run: Run, query: dict[str, Any]) -> list:
    return [html.P("Coming soon.")]


def register_callbacks(app, ctx: AppContext) -> None:
    return None
