"""/model/<model>/explanations: one body per data kind (image gallery, live text, tabular applicants).

The view follows what the run's data is (``deepaudit.audit.capabilities.kind_of_run``), not its domain label: a tabular
model labelled "other" or "insurance" gets the applicant browser. Each module exposes
``body(ctx, run, query) -> list`` and ``register_callbacks(app, ctx)``.
"""
from __future__ import annotations

from typing import Any

from dash import html

from deepaudit.audit.capabilities import kind_of_run
from deepaudit.dashboard.context import AppContext
from deepaudit.dashboard.pages import explain_finance, explain_nlp, explain_vision, shell

PAGE = "explanations"
KINDS = {"image": explain_vision, "text": explain_nlp, "tabular": explain_finance}


def build(ctx: AppContext, model: str | None = None, run: str | None = None, **query: Any) -> html.Div:
    def body(r):
        kind = kind_of_run(r.model)
        module = KINDS.get(kind)
        if module is None:
            return [html.P(f"No explanation view for {kind} data (inputs that are neither tabular rows, images "
                           "nor text). The stored attribution tables are in the run's JSON report (Report tab).")]
        return module.body(ctx, r, query)

    return shell.model_page(ctx, model, run, PAGE, body, key=(shell.query_key(query), ctx.live.version))


def register_callbacks(app, ctx: AppContext) -> None:
    for module in KINDS.values():
        module.register_callbacks(app, ctx)
