"""Home: every model's latest run (verdict, headline metric, worst impact ratio) and the run history."""
from __future__ import annotations

import pandas as pd
from dash import dash_table, dcc, html

from deepaudit.dashboard import data, ids
from deepaudit.dashboard.context import AppContext
from deepaudit.dashboard.evidence import check_anchor
from deepaudit.dashboard.pages import tables
from deepaudit.dashboard.pages.shell import href, verdict_badge

PAGE = "home"


def _model_card(row) -> html.Div:
    metric = f"{row.metric_value:.1%}" if pd.notna(row.metric_value) else "–"
    if pd.notna(row.worst_impact_ratio):  # a DataFrame holds a missing value as NaN, not None
        fair_term = "Worst impact ratio"
        fair = html.Span(f"{row.worst_impact_ratio:.3f} ({row.worst_impact_attribute})",
                         className="fail-text" if row.worst_impact_ratio < 0.8 else "")
    elif isinstance(row.worst_fairness_title, str):
        # no impact ratio (no favourable outcome), but a fairness-type check failed: say which
        fair_term = "Worst fairness finding"
        fair = dcc.Link(row.worst_fairness_title, className="fail-text",
                        href=href(row.model, "checks") + f"#{check_anchor(row.worst_fairness_check)}")
    else:
        fair_term = "Worst impact ratio"
        fair = html.Span("not applicable (no favourable outcome or no sensitive attribute)", className="muted")
    return html.Div([
        html.Div([html.H2(dcc.Link(row.model, href=href(row.model, "performance"))),
                  _badge(row)], className="card-head"),
        html.Dl([
            html.Dt("Domain"), html.Dd(row.domain),
            html.Dt("Dataset"), html.Dd(f"{row.dataset} (n = {row.n_samples:,} test samples)"),
            html.Dt("Headline metric"), html.Dd(f"{row.metric} {metric}"),
            html.Dt(fair_term), html.Dd(fair),
            *([html.Dt("Limitations"), html.Dd(row.limitations, className="small")]
              if isinstance(row.limitations, str) else []),
            html.Dt("Latest run"), html.Dd([data.utc_minute(row.created_at), html.Br(), html.Code(row.run_id)]),
        ]),
        html.Div([dcc.Link(label, href=href(row.model, page), className="button")
                  for page, label in (("checks", "Checks"), ("performance", "Performance"), ("fairness", "Fairness"),
                                      ("explanations", "Explanations"), ("quality", "Quality"), ("runs", "Runs"),
                                      ("report", "Report"))],
                 className="button-row"),
    ], className="card model-card")


def _badge(row):
    return verdict_badge(row.n_failed, row.n_checks, href=href(row.model, "checks"))


def build(ctx: AppContext, **_) -> html.Div:
    summaries = data.model_summaries(ctx)
    root = ctx.store.root
    if summaries.empty:
        return html.Div([html.H1("deepaudit"), html.P(
            f"No runs in the store at {root}. Run `deepaudit run <model> --store {root}` first.")])
    history = data.run_history(ctx)
    history["run_id"] = [f"[{r.run_id}]({href(r.model, 'performance', r.run_id)})" for r in history.itertuples()]
    return html.Div([
        html.H1("Audited models"),
        html.P("Each model's latest run. A check fails when its value crosses the policy threshold.",
               className="muted"),
        html.Div([_model_card(r) for r in summaries.itertuples()], id=ids.HOME_MODELS, className="cards"),
        html.H2("Run history"),
        dash_table.DataTable(
            id=ids.HOME_HISTORY, data=history.to_dict("records"),
            columns=[{"name": c.replace("_", " "), "id": c, "presentation": "markdown" if c == "run_id" else "input"}
                     for c in history.columns],
            sort_action="native", page_size=15, **tables.STYLE,
            style_data_conditional=[{"if": {"filter_query": "{status} = fail", "column_id": "status"},
                                     "color": "#D55E00", "fontWeight": "600"}],
        ),
    ])
