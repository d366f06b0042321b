"""/model/<model>/performance: overall metrics with intervals, per class, by group, confusion matrix, calibration.

Every interval is stored by the audit (:mod:`deepaudit.audit.performance`): the overall ones (Wilson for accuracy,
Hanley &
McNeil for ROC AUC, normal approximation for log loss and Brier) are read through the report's
:func:`deepaudit.audit.report.model.overall_rows`, so the page and the report show one set of numbers; the per-class
Wilson intervals and counts are stored with the per-class metrics. Group rates, their Wilson intervals, ECE and
reliability bins are the stored fairness tables. The confusion matrix of all samples is stored too; a group's is
counted by the audit's :func:`deepaudit.audit.confusion.confusion_counts` from the run's stored predictions (it follows
the
group filter).

Selections live in the URL: ``?attribute=`` (sensitive attribute or cohort) and ``?group=`` (restricts the
confusion matrix and the reliability curves to one group). The layout is drawn for the URL's selection; the
callbacks only redraw on a change (``prevent_initial_call``), so a stored view costs one request.
"""
from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html

from deepaudit.audit.store import Run
from deepaudit.dashboard import data, figures, ids, urlsync
from deepaudit.dashboard.context import AppContext
from deepaudit.dashboard.figures import performance as pfig
from deepaudit.dashboard.pages import performance_tables as pt
from deepaudit.dashboard.pages import shell
from deepaudit.dashboard.pages.tables import table

PAGE = "performance"
NO_FAIRNESS = "This run has no group statistics (fairness was not computed), so there are no rates by group."
NO_RUN = "This run is no longer in the store; reload the page."
HIDDEN = {"display": "none"}

GroupOut = tuple[str, list[dict[str, str]], str | None, go.Figure, list[dict[str, str]], list[dict[str, Any]],
                 go.Figure]
ConfusionOut = tuple[str, go.Figure, str, go.Figure]


def build(ctx: AppContext, model: str | None = None, run: str | None = None, attribute: str | None = None,
          group: str | None = None, **_: Any) -> html.Div:
    return shell.model_page(ctx, model, run, PAGE, lambda r: body(r, attribute, group), key=(attribute, group))


def _section(title: str, *children: Any, id: str | None = None) -> html.Section:
    kw = {"id": id} if id else {}
    return html.Section([html.H2(title), *children], className="perf-section", **kw)


def _tiles(run: Run) -> html.Div:
    tiles = [html.Div([
        html.Div(r["label"], className="perf-tile-label"),
        html.Div(r["value"], className="perf-tile-value"),
        html.Div(f"95% CI {r['interval']}" if r["interval"] else "no interval stored", className="perf-tile-ci"),
        html.Div(f"{r['method']}; n = {r['n']:,}", className="perf-tile-method muted"),
    ], className="perf-tile") for r in pt.overall_rows(run)]
    extra = pt.card_metric_rows(run.result)
    card = []
    if extra:
        card = [html.Details([
            html.Summary("Other metrics recorded for the model card"),
            html.Dl([x for r in extra for x in (html.Dt(r["label"]), html.Dd(r["value"]))], className="perf-card"),
        ])]
    return html.Div([html.Div(tiles, className="perf-tiles"), *card], id=ids.PERFORMANCE_OVERALL)


def body(run: Run, attribute: str | None, group: str | None) -> list:
    result = run.result
    attrs = data.fairness_attributes(result)
    names = [a["name"] for a in attrs]
    selected = attribute if attribute in names else (names[0] if names else None)
    attr = next((a for a in attrs if a["name"] == selected), None)
    group = group if attr is not None and group in pt.group_names(attr) else None
    state = {"model": result["model"]["name"], "run_id": run.run_id}
    classes = result["model"].get("class_names", [])
    pred = pt.predictions(run)
    calibrated = pt.has_calibration(attrs)  # multi-class runs store none: say so once instead of two empty charts
    per_class = pt.per_class_rows(result)

    out: list[Any] = [
        dcc.Store(id=ids.PERFORMANCE_STATE, data=state), urlsync.sink(PAGE),
        _section("Overall", _tiles(run)),
        _section(f"Per class ({len(classes)} classes)", table(
            ids.PERFORMANCE_PER_CLASS, pt.PER_CLASS_COLUMNS, per_class, page_size=10,
            style_cell_conditional=[{"if": {"column_id": c}, "textAlign": "right"}
                                    for c in ("precision", "recall", "f1", "support", "predicted")],
        ), html.P(pt.per_class_note(result), className="muted small")),
    ]
    g = update_groups_for(result, attr, group) if attr is not None else _no_groups(NO_FAIRNESS)
    c = update_confusion_for(result, pred, attr, group)
    controls = html.Div([
        html.Div([
            html.Label("Attribute", htmlFor=ids.PERFORMANCE_ATTRIBUTE),
            dcc.Dropdown(id=ids.PERFORMANCE_ATTRIBUTE, value=selected, clearable=False, disabled=attr is None,
                         options=[{"label": f"{a['name']} ({a.get('kind', '')})", "value": a["name"]}
                                  for a in attrs]),
        ], className="control"),
        html.Div([
            html.Label("Group (confusion matrix, reliability)", htmlFor=ids.PERFORMANCE_GROUP),
            dcc.Dropdown(id=ids.PERFORMANCE_GROUP, value=group, clearable=True, placeholder="all samples",
                         options=g[1], disabled=attr is None),
        ], className="control"),
    ], className="controls-row perf-controls")
    by_group = [dcc.Graph(id=ids.PERFORMANCE_GROUP_CHART, figure=g[3], config=figures.GRAPH_CONFIG, className="chart"),
                dcc.Graph(id=ids.PERFORMANCE_ECE, figure=g[6], config=figures.GRAPH_CONFIG, className="chart",
                          style=None if calibrated else HIDDEN)]
    out.append(_section(
        "By group", controls,
        html.P(g[0], id=ids.PERFORMANCE_GROUP_NOTE, className="reference" if attr is not None else "note"),
        html.Div(by_group, className="charts perf-group" if calibrated else "perf-single"),
        html.Div(table(ids.PERFORMANCE_GROUP_TABLE, [(k, v) for k, v in pt.GROUP_COLUMNS if k in g[4]], g[5]),
                 className="perf-group-table"),
    ))
    confusion = dcc.Graph(id=ids.PERFORMANCE_CONFUSION, figure=c[1], config=figures.GRAPH_CONFIG, className="chart")
    reliability = dcc.Graph(id=ids.PERFORMANCE_RELIABILITY, figure=c[3], config=figures.GRAPH_CONFIG,
                            className="chart", style=None if calibrated else HIDDEN)
    calibration_note = html.P(c[2], id=ids.PERFORMANCE_CALIBRATION_NOTE, className="muted" if calibrated else "note")
    out.append(_section(
        "Confusion matrix and calibration" if calibrated else "Confusion matrix",
        html.P(c[0], id=ids.PERFORMANCE_CONFUSION_NOTE, className="muted"),
        html.Div([confusion, html.Div([calibration_note, reliability])],
                 className="charts" if calibrated else "perf-single"),
    ))
    return out


def _no_groups(msg: str) -> GroupOut:
    empty = pfig.blank("Rates by group", msg)
    return msg, [], None, empty, [k for k, _ in pt.GROUP_COLUMNS], [], pfig.blank("Calibration error by group", msg)


def update_groups_for(result: dict[str, Any], attr: dict[str, Any], group: str | None) -> GroupOut:
    """Rates by group, the group table and ECE of ``attr``; ``group`` is kept when it belongs to ``attr``."""
    rates = pt.rates_table(attr)
    binary = pt.is_binary_outcome(attr)
    calib = pt.ece_table(attr)
    threshold = result.get("fairness", {}).get("policy", {}).get("ece_max")
    rows = pt.group_display_rows(attr)
    keep = [k for k, _ in pt.GROUP_COLUMNS if k not in ("tpr", "fpr") or binary]
    if calib.empty:
        keep.remove("ece")
    name = attr["name"]
    return (pt.group_note(result, attr), pt.group_options(attr), group if group in pt.group_names(attr) else None,
            pfig.group_rates_figure(rates, title=f"{'Accuracy, TPR and FPR' if binary else 'Accuracy'} by {name} "
                                                 "(Wilson 95% CI)"),
            keep, rows,
            pfig.ece_figure(calib, threshold=threshold, title=f"Expected calibration error by {name} "
                                                              "(bootstrap 95% CI)"))


def update_confusion_for(result: dict[str, Any], pred: pd.DataFrame | None, attr: dict[str, Any] | None,
                         group: str | None) -> ConfusionOut:
    """Confusion matrix and reliability curves, restricted to ``group`` of ``attr`` when given."""
    classes = [str(c) for c in result["model"].get("class_names", [])]
    name = attr["name"] if attr is not None else None
    cells, note = pt.confusion_table(result, pred, column=name, group=group)
    if cells is None:
        fig = pfig.blank("Confusion matrix", "not stored" if pred is None else "not drawn")
    else:
        filtered = bool(group and name and pred is not None and name in pred.columns)
        where = f" · {name} = {group}" if filtered else " · all samples"
        fig = pfig.confusion_figure(cells, classes=classes, title=f"Confusion matrix{where} (count, row %)")
    favorable = pt.favorable(result)
    rel = pt.reliability_table(attr, group) if attr is not None else pd.DataFrame()
    cal_note = pt.calibration_note(result, attr, group, rel)
    rel_fig = pfig.reliability_figure(rel, favorable=favorable or "favorable",
                                      title=f"Reliability by {name} (Wilson 95% CI per bin)" if name else None)
    return note, fig, cal_note, rel_fig


def _load(ctx: AppContext, state: dict[str, Any] | None) -> Run | None:
    return ctx.run_by_id((state or {}).get("run_id"))


def update_groups(ctx: AppContext, attribute: str | None, group: str | None, state: dict[str, Any] | None
                  ) -> GroupOut:
    """Callback body for an attribute change: note, group options and value, rates chart, table, ECE chart."""
    run = _load(ctx, state)
    attr = data.attribute_record(run.result, attribute) if run is not None else None
    if attr is None or attr["name"] != attribute:
        msg = NO_RUN if run is None else (NO_FAIRNESS if attr is None else
                                          f"'{attribute}' is not an attribute of this run; showing {attr['name']}.")
        if attr is None:
            return _no_groups(msg)
        out = update_groups_for(run.result, attr, group)
        return (msg + " " + out[0], *out[1:])
    return update_groups_for(run.result, attr, group)


def update_confusion(ctx: AppContext, attribute: str | None, group: str | None, state: dict[str, Any] | None
                     ) -> ConfusionOut:
    """Callback body for an attribute or group change: confusion matrix and reliability curves."""
    run = _load(ctx, state)
    if run is None:
        empty = pfig.blank("Confusion matrix", NO_RUN)
        return NO_RUN, empty, NO_RUN, empty
    attr = data.attribute_record(run.result, attribute)
    if attr is not None and group not in pt.group_names(attr):
        group = None
    return update_confusion_for(run.result, pt.predictions(run), attr, group)


def register_callbacks(app, ctx: AppContext) -> None:
    @app.callback(
        Output(ids.PERFORMANCE_GROUP_NOTE, "children"), Output(ids.PERFORMANCE_GROUP, "options"),
        Output(ids.PERFORMANCE_GROUP, "value"), Output(ids.PERFORMANCE_GROUP_CHART, "figure"),
        Output(ids.PERFORMANCE_GROUP_TABLE, "columns"), Output(ids.PERFORMANCE_GROUP_TABLE, "data"),
        Output(ids.PERFORMANCE_ECE, "figure"),
        Input(ids.PERFORMANCE_ATTRIBUTE, "value"), State(ids.PERFORMANCE_GROUP, "value"),
        State(ids.PERFORMANCE_STATE, "data"), prevent_initial_call=True,
    )
    def _groups(attribute, group, state):
        out = update_groups(ctx, attribute, group, state)
        columns = [{"name": h, "id": k} for k, h in pt.GROUP_COLUMNS if k in out[4]]
        return (*out[:4], columns, *out[5:])

    @app.callback(
        Output(ids.PERFORMANCE_CONFUSION_NOTE, "children"), Output(ids.PERFORMANCE_CONFUSION, "figure"),
        Output(ids.PERFORMANCE_CALIBRATION_NOTE, "children"), Output(ids.PERFORMANCE_RELIABILITY, "figure"),
        Input(ids.PERFORMANCE_ATTRIBUTE, "value"), Input(ids.PERFORMANCE_GROUP, "value"),
        State(ids.PERFORMANCE_STATE, "data"), prevent_initial_call=True,
    )
    def _confusion(attribute, group, state):
        return update_confusion(ctx, attribute, group, state)

    urlsync.register(app, PAGE, {"attribute": (ids.PERFORMANCE_ATTRIBUTE, "value"),
                                 "group": (ids.PERFORMANCE_GROUP, "value")})
