"""/model/<model>/explanations: one body per domain (vision gallery, NLP live text, finance applicants).

The domain modules each expose ``body(ctx, run, query) -> list`` and ``register_callbacks(app, ctx)``.
"""
from __future__ import annotations

from typing import Any

from dash import html

from dashboard.context import AppContext
from dashboard.pages import explain_finance, explain_nlp, explain_vision, shell

PAGE = "explanations"
DOMAINS = {"vision": explain_vision, "nlp": explain_nlp, "finance": explain_finance}


def build(ctx: AppContext, model: str | None = None, run: str | None = None, **query: Any) -> html.Div:
    def body(r):
        module = DOMAINS.get(r.model.domain)
        if module is None:
            return [html.P(f"No explanation view for domain '{r.model.domain}'. "
                           "The stored attribution tables are in the run's JSON report (Report tab).")]
        return module.body(ctx, r, query)

    return shell.model_page(ctx, model, run, PAGE, body, key=(shell.query_key(query), ctx.live.version))


def register_callbacks(app, ctx: AppContext) -> None:
    for module in DOMAINS.values():
        module.register_callbacks(app, ctx)
