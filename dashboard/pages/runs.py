"""/model/<model>/runs: compare two runs of a model — metric deltas, changed verdicts, changed settings.

``?a=<run id>&b=<run id>`` select the runs (default: the previous run and the latest).
"""
from __future__ import annotations

from typing import Any

from dash import Input, Output, State, dcc, html

from deepaudit.audit.store import Run
from deepaudit.dashboard import compare, ids, urlsync
from deepaudit.dashboard.context import AppContext
from deepaudit.dashboard.pages import shell, tables

PAGE = "runs"
CHANGE_STYLE = [
    # every failing verdict is marked, changed or not; a changed verdict is also bold in the Change column
    *({"if": {"filter_query": f'{{{col}}} = "fail"', "column_id": col}, "color": tables.FAIL, "fontWeight": "600"}
      for col in ("passed_a", "passed_b")),
    {"if": {"filter_query": '{change} = "now fails"', "column_id": "change"}, "color": tables.FAIL,
     "fontWeight": "600"},
    {"if": {"filter_query": '{change} = "now passes"', "column_id": "change"}, "color": tables.PASS,
     "fontWeight": "600"},
    {"if": {"filter_query": '{change} = "now fails" || {change} = "now passes"'}, "backgroundColor": "#fff7e6"},
    {"if": {"filter_query": "{changed} = true"}, "fontWeight": "600", "backgroundColor": "#fff7e6"},
]


def build(ctx: AppContext, model: str | None = None, run: str | None = None, a: str | None = None,
          b: str | None = None, **_: Any) -> html.Div:
    return shell.model_page(ctx, model, run, PAGE, lambda r: body(ctx, r, a, b), key=(a, b, len(ctx.model_runs(model))))


def defaults(runs: list[dict[str, Any]], a: str | None, b: str | None) -> tuple[str | None, str | None, str]:
    """Valid (a, b) run ids of this model and a note when a URL parameter was not one of them."""
    known = [r["run_id"] for r in runs]
    note = ""
    bad = [x for x in (a, b) if x and x not in known]
    if bad:
        note = f"Ignored unknown run id(s) {', '.join(bad)}: not runs of this model."
    b = b if b in known else (known[0] if known else None)
    a = a if a in known else next((k for k in known if k != b), None)
    return a, b, note


def body(ctx: AppContext, run: Run, a: str | None, b: str | None) -> list:
    model = run.model.name
    runs = ctx.model_runs(model)
    if len(runs) < 2:
        return [html.P(f"{model} has one run in this store. Run `deepaudit run {model}` again (after retraining, "
                       "or with another seed or policy) to compare two runs here.", className="note")]
    a, b, note = defaults(runs, a, b)
    options = shell.run_options(runs)
    return [
        urlsync.sink(PAGE),
        dcc.Store(id=ids.RUNS_STATE, data={"model": model}),
        html.P(note, className="note") if note else None,
        html.Div([
            html.Div([html.Label("Run A (before)", htmlFor=ids.RUNS_A),
                      dcc.Dropdown(id=ids.RUNS_A, options=options, value=a, clearable=False)], className="control"),
            html.Div([html.Label("Run B (after)", htmlFor=ids.RUNS_B),
                      dcc.Dropdown(id=ids.RUNS_B, options=options, value=b, clearable=False)], className="control"),
        ], className="controls-row"),
        html.P(id=ids.RUNS_SUMMARY, className="reference"),
        html.H2("Checks (changed verdicts first)"),
        tables.table(ids.RUNS_CHECKS, [("what", "Check"), ("check", "Id"), ("value_a", "A value"), ("passed_a", "A"),
                                       ("value_b", "B value"), ("passed_b", "B"), ("delta", "B − A"),
                                       ("comparison", "Rule"), ("threshold", "Threshold"), ("change", "Change")],
                     style_data_conditional=CHANGE_STYLE, page_size=40, sort_action="native",
                     style_cell_conditional=[{"if": {"column_id": "check"}, "fontSize": 11, "color": "#6b7280"}]),
        html.Div([
            html.Div([html.H2("Performance"),
                      tables.table(ids.RUNS_METRICS, [("metric", "Metric"), ("a", "A"), ("b", "B"),
                                                      ("delta", "B − A")])]),
            html.Div([html.H2("How the runs were made"),
                      tables.table(ids.RUNS_SETTINGS, [("setting", "Setting"), ("a", "A"), ("b", "B")],
                                   style_data_conditional=CHANGE_STYLE)]),
        ], className="two-col"),
    ]


def _rounded(df) -> list[dict[str, Any]]:
    out = df.astype(object).where(df.notna(), None).to_dict("records")
    for row in out:
        for k, v in row.items():
            if isinstance(v, float):
                row[k] = float(f"{v:.4g}")
            elif isinstance(v, bool) and k != "changed":
                row[k] = "pass" if v else "fail"
    return out


def update(ctx: AppContext, model: str, a: str | None, b: str | None) -> tuple[str, list, list, list]:
    """Callback body: the comparison tables of runs ``a`` and ``b`` of ``model``."""
    ra, rb = ctx.resolve(model, a), ctx.resolve(model, b)
    if ra is None or rb is None:
        return f"Choose two runs of {model}.", [], [], []
    if ra.run_id == rb.run_id:
        return "Run A and run B are the same run: choose two different runs.", [], [], []
    checks = compare.check_changes(ra, rb)
    n_fail, n_pass = int((checks["change"] == "now fails").sum()), int((checks["change"] == "now passes").sum())
    settings = compare.setting_changes(ra, rb)
    changed = settings.loc[settings["changed"], "setting"].tolist()
    summary = (f"{n_fail} check(s) now fail, {n_pass} now pass, {int((checks['change'] == 'same').sum())} unchanged"
               f" verdict(s). Changed settings: {', '.join(changed) if changed else 'none'}.")
    return (summary, _rounded(compare.metric_deltas(ra, rb)), _rounded(checks),
            _rounded(settings))


def register_callbacks(app, ctx: AppContext) -> None:
    urlsync.register(app, PAGE, {"a": (ids.RUNS_A, "value"), "b": (ids.RUNS_B, "value")})

    @app.callback(Output(ids.RUNS_SUMMARY, "children"), Output(ids.RUNS_METRICS, "data"),
                  Output(ids.RUNS_CHECKS, "data"), Output(ids.RUNS_SETTINGS, "data"),
                  Input(ids.RUNS_A, "value"), Input(ids.RUNS_B, "value"), State(ids.RUNS_STATE, "data"))
    def _update(a, b, state):
        return update(ctx, state["model"], a, b)
