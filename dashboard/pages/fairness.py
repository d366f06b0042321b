"""/model/<model>/fairness: per-attribute group table with intervals, impact-ratio chart, the reference group."""
from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from dash import Input, Output, State, dash_table, dcc, html

from audit.store import Run
from dashboard import data, figures, ids
from dashboard.context import AppContext
from dashboard.pages import shell

PAGE = "fairness"

TABLE_STYLE = {
    "style_table": {"overflowX": "auto"},
    "style_cell": {"fontFamily": "inherit", "fontSize": 13, "padding": "4px 8px", "textAlign": "left", "whiteSpace": "normal", "height": "auto"},
    "style_header": {"fontWeight": "600", "backgroundColor": "#f3f4f6"},
}


def build(ctx: AppContext, model: str | None = None, run: str | None = None, attribute: str | None = None,
          **_: Any) -> html.Div:
    return shell.model_page(ctx, model, run, PAGE, lambda r: body(r, attribute))


def body(run: Run, attribute: str | None) -> list:
    result = run.result
    attrs = data.fairness_attributes(result)
    if not attrs:
        return [html.P("This run has no fairness statistics.")]
    names = [a["name"] for a in attrs]
    selected = attribute if attribute in names else names[0]
    return [
        dcc.Store(id=ids.FAIRNESS_STATE, data={"model": result["model"]["name"], "run_id": run.run_id}),
        html.Div([
            html.Label("Attribute", htmlFor=ids.FAIRNESS_ATTRIBUTE),
            dcc.Dropdown(id=ids.FAIRNESS_ATTRIBUTE, value=selected, clearable=False,
                         options=[{"label": f"{a['name']} ({a.get('kind', '')})", "value": a["name"]}
                                  for a in attrs]),
        ], className="control"),
        html.P(id=ids.FAIRNESS_REFERENCE, className="reference"),
        dash_table.DataTable(id=ids.FAIRNESS_TABLE, columns=[{"name": t, "id": c} for c, t in data.GROUP_COLUMNS],
                             **TABLE_STYLE),
        html.Div([
            dcc.Graph(id=ids.FAIRNESS_IMPACT, config=figures.GRAPH_CONFIG, className="chart"),
            dcc.Graph(id=ids.FAIRNESS_RATES, config=figures.GRAPH_CONFIG, className="chart"),
        ], className="charts"),
    ]


def update(ctx: AppContext, attribute: str | None, state: dict[str, Any] | None
           ) -> tuple[str, list[dict[str, Any]], go.Figure, go.Figure]:
    """The callback body: load the run in ``state`` and draw ``attribute``."""
    run = ctx.runs.get(state["run_id"])
    result = run.result
    attr = data.attribute_record(result, attribute)
    if attr is None:
        empty = figures.impact_ratio_figure(data.impact_ratio_table({}))
        return "No fairness statistics in this run.", [], empty, empty
    groups = data.group_table(attr)
    impact = data.impact_ratio_table(attr)
    favorable = result["fairness"].get("favorable_label") or result["model"].get("favorable_label", "favorable")
    ref = groups.loc[groups["is_reference"], "group"].tolist() if "is_reference" in groups else []
    ir_ref = impact["reference"].iloc[0] if not impact.empty else None
    text = (f"Reference group: {ref[0] if ref else '–'} "
            f"({result['fairness'].get('reference_rule', 'the largest group')}). ")
    if ir_ref is not None:
        text += f"Impact ratios divide by the highest selection rate among known groups: {ir_ref}."
    else:
        text += "Impact ratios do not apply to this attribute (no favorable outcome)."
    return (text, data.group_display_rows(groups, impact),
            figures.impact_ratio_figure(impact, title=f"Impact ratio by {attr['name']} (95% bootstrap CI)"),
            figures.selection_rate_figure(groups, favorable=favorable))


def register_callbacks(app, ctx: AppContext) -> None:
    @app.callback(
        Output(ids.FAIRNESS_REFERENCE, "children"), Output(ids.FAIRNESS_TABLE, "data"),
        Output(ids.FAIRNESS_IMPACT, "figure"), Output(ids.FAIRNESS_RATES, "figure"),
        Input(ids.FAIRNESS_ATTRIBUTE, "value"), State(ids.FAIRNESS_STATE, "data"),
    )
    def _update(attribute, state):
        return update(ctx, attribute, state)
