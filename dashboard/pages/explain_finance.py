"""Explanations page body for finance (tabular) models: global importance, applicant browser, what-if editor.

- Global importance: the stored ``feature_importance`` table of the selected method (mean |attribution|
  with direction), with a 95% interval of the mean over the explained applicants from the stored array.
- Applicant browser: the explained applicants (``attr_<method>`` arrays joined to ``run.predictions()``),
  filterable by decision and group; the selection is kept in the URL (``?applicant=<sample_id>``) and shows
  the applicant's score, decision, top attributions and stored adverse-action reasons.
- What-if editor: the selected applicant's raw features as inputs; "Recompute" rescores and re-explains the
  edited row with the loaded model (:mod:`deepaudit.dashboard.live_tabular`).

Callback bodies (``update_*``) are plain functions of (ctx, ...) that the unit tests call directly.
"""
from __future__ import annotations

from typing import Any

import dash
import numpy as np
import plotly.graph_objects as go
from dash import ALL, Input, Output, State, dash_table, dcc, html
from dash.dash_table.Format import Format, Scheme

from deepaudit.audit.display import read_display
from deepaudit.audit.features import Codebook
from deepaudit.audit.store import Run
from deepaudit.dashboard import evidence, ids, urlsync
from deepaudit.dashboard import explain_finance_data as tables
from deepaudit.dashboard.context import AppContext
from deepaudit.dashboard.figures import GRAPH_CONFIG
from deepaudit.dashboard.figures import explain_finance as fig
from deepaudit.dashboard.figures.base import FigureLike
from deepaudit.dashboard.live_tabular import MISSING, LiveTabularCache, format_value, ig_options, input_text
from deepaudit.dashboard.pages import checks

PAGE = "explain-finance"   # url-sync sink prefix: the explanations page hosts one body per domain
PAGE_SIZE = 10
VISIBLE_FIELDS = 12        # fields shown first in the editor (most influential for this applicant)
# The live model may be a user's own target file: whatever it raises becomes a message on the page.
LIVE_ERRORS = (Exception,)
DERIVED_NOTE = ("Inputs derived from others (for the mortgage model: loan / price, two or more units, the "
                "mortgage-history flags) are not recomputed when you edit their sources: edit them too.")
TABLE_STYLE = {
    "style_table": {"overflowX": "auto"},
    "style_cell": {"fontFamily": "inherit", "fontSize": 13, "padding": "4px 8px", "textAlign": "left",
                   "whiteSpace": "normal", "height": "auto", "maxWidth": 260},
    "style_header": {"fontWeight": "600", "backgroundColor": "#f3f4f6"},
}


# -- layout ------------------------------------------------------------------------------------------------
def body(ctx: AppContext, run: Run, query: dict[str, Any]) -> list:
    result = run.result
    methods = tables.methods(result)
    if not methods:
        return [html.P("This run stored no tabular feature attributions, so there is nothing to show here. "
                       "Re-run the audit with an attribution method (deepaudit run --methods ...).")]
    method = query.get("method")
    note = None
    if method not in methods:
        if method:
            note = html.P(f"Unknown method '{method}' in the URL; showing {tables.method_label(methods[0])}.",
                          className="xf-warning")
        method = methods[0]
    fav, unfav = tables.outcomes(result)
    who = tables.noun(result)  # what a row is called: "applicant" for the credit model, "case" by default
    decision = query.get("decision") if query.get("decision") in (fav, unfav) else "all"
    groups = tables.group_options(run)
    group = query.get("group") if query.get("group") in {g["value"] for g in groups} else "all"
    applicant = query.get("applicant") or tables.default_applicant(run, decision, group)
    state = {"model": run.model.name, "run_id": run.run_id}
    return [
        urlsync.sink(PAGE),
        dcc.Store(id=ids.EXPLAIN_FINANCE_STATE, data=state),
        dcc.Store(id=ids.EXPLAIN_FINANCE_APPLICANT, data=applicant),
        html.Section([
            html.Div([
                html.H2("Global feature importance"),
                html.Div([html.Label("Method", htmlFor=ids.EXPLAIN_FINANCE_METHOD),
                          dcc.Dropdown(id=ids.EXPLAIN_FINANCE_METHOD, value=method, clearable=False,
                                       searchable=False, options=[{"label": tables.method_label(m), "value": m}
                                                                  for m in methods])],
                         className="xf-inline"),
            ], className="xf-head"),
            note,
            html.P(id=ids.EXPLAIN_FINANCE_IMPORTANCE_NOTE, className="muted"),
            dcc.Graph(id=ids.EXPLAIN_FINANCE_IMPORTANCE, config=GRAPH_CONFIG, className="chart"),
        ], className="xf-section"),
        html.Section([
            html.H2(f"{who.capitalize()}s"),
            checks.checks_box(run, "explanations", families=("fairness.reason_faithfulness",)),
            html.Div([
                html.Div([html.Label("Decision", htmlFor=ids.EXPLAIN_FINANCE_DECISION),
                          dcc.RadioItems(id=ids.EXPLAIN_FINANCE_DECISION, value=decision, inline=True,
                                         options=[{"label": "all", "value": "all"}, {"label": fav, "value": fav},
                                                  {"label": unfav, "value": unfav}])],
                         className="xf-inline"),
                html.Div([html.Label("Group", htmlFor=ids.EXPLAIN_FINANCE_GROUP),
                          dcc.Dropdown(id=ids.EXPLAIN_FINANCE_GROUP, value=group, clearable=False,
                                       options=[{"label": "all groups", "value": "all"}] + groups)],
                         className="xf-inline xf-group"),
                html.Span(id=ids.EXPLAIN_FINANCE_COUNT, className="muted"),
            ], className="xf-filters"),
            dash_table.DataTable(id=ids.EXPLAIN_FINANCE_TABLE, columns=_columns(run),
                                 row_selectable="single", sort_action="native", page_size=PAGE_SIZE,
                                 style_data_conditional=[
                                     {"if": {"filter_query": f'{{decision}} = "{unfav}"', "column_id": "decision"},
                                      "color": "#D55E00", "fontWeight": "600"}],
                                 **TABLE_STYLE),
            html.Div([
                html.Div(id=ids.EXPLAIN_FINANCE_DETAIL, className="xf-detail"),
                dcc.Graph(id=ids.EXPLAIN_FINANCE_ATTRIBUTIONS, config=GRAPH_CONFIG, className="chart"),
            ], className="xf-applicant"),
        ], className="xf-section", id=evidence.REASON_CODES),
        html.Section([
            html.H2(f"What if? Edit this {who}"),
            html.P(["Change any input and press ", html.B("Recompute"), f": the loaded model rescores the edited "
                    f"{who} and Integrated Gradients re-explains it with this run's settings. Fields are "
                    f"ordered by their influence on this {who}; edited values must lie in the training range. "
                    + (DERIVED_NOTE if tables.noun(run.result) == "applicant" else "")], className="muted"),
            dcc.Loading(html.Div(id=ids.EXPLAIN_FINANCE_EDITOR), type="dot"),
            html.Div([html.Button("Recompute", id=ids.EXPLAIN_FINANCE_RECOMPUTE, n_clicks=0, className="xf-primary"),
                      html.Button(f"Reset to the {who}'s values", id=ids.EXPLAIN_FINANCE_RESET, n_clicks=0,
                                  className="button")], className="xf-actions"),
            dcc.Loading(html.Div(id=ids.EXPLAIN_FINANCE_WHATIF, className="xf-whatif"), type="dot"),
            html.Div(dcc.Graph(id=ids.EXPLAIN_FINANCE_WHATIF_CHART, config=GRAPH_CONFIG, className="chart"),
                     id=ids.EXPLAIN_FINANCE_WHATIF_CHART_WRAP, style={"display": "none"}),
        ], className="xf-section"),
    ]


def _columns(run: Run) -> list[dict[str, Any]]:
    fav, _ = tables.outcomes(run.result)
    cols = [("id", tables.noun(run.result).capitalize()), ("score", f"P({fav})"), ("decision", "Decision"),
            ("actual", "Actual"),
            ("reason", "Principal reason")] + [(c, c.replace("_", " ")) for c in tables.sensitive_columns(run.result)]
    fmt = {"id": {"type": "numeric"}, "score": {"type": "numeric", "format": Format(precision=3, scheme=Scheme.fixed)}}
    return [{"name": t, "id": c, **fmt.get(c, {})} for c, t in cols]


# -- callback bodies -----------------------------------------------------------------------------------------
def update_importance(ctx: AppContext, method: str | None, state: dict[str, Any]) -> tuple[go.Figure, str]:
    run = ctx.runs.get(state["run_id"])
    result = run.result
    methods = tables.methods(result)
    method = method if method in methods else (methods[0] if methods else None)
    fav, _ = tables.outcomes(result)
    title = f"Global importance · {tables.method_label(method)}"
    table = tables.importance_table(run, method) if method else None
    if table is None or table.empty:
        return fig.importance_figure(table if table is not None else tables.EMPTY, title=title, unit=""), \
            "This run stored no feature importance table for this method."
    n = run.explanations.methods[method].n_samples
    ci = " Whiskers: 95% interval of the mean." if "lo" in table else ""
    note = (f"Mean |attribution| toward '{fav}' over the {n} explained {tables.noun(result)}s, top "
            f"{min(15, len(table))} of "
            f"{len(table)} inputs. Colour: whether a higher value of the input raises or lowers the score "
            f"(sign of the Spearman correlation between value and attribution).{ci}")
    flagged = Codebook.from_result(result).flagged_note(list(table["feature"][:15]) if "feature" in table else [])
    note += f" {flagged}" if flagged else ""
    return fig.importance_figure(table, title=title, unit=tables.unit(method, fav)), note


def update_table(ctx: AppContext, decision: str | None, group: str | None, selected_rows: list[int] | None,
                 data: list[dict] | None, applicant: Any, state: dict[str, Any], *, clicked: bool
                 ) -> tuple[list[dict], list[int], Any, str, int | Any]:
    """Rows after the filters; a click on a row selects that applicant (else the stored one stays selected).

    The applicant output is ``no_update`` unless a click changed it, so that the detail and the editor
    (which listen to it) are not rebuilt when only the filters moved.
    """
    run = ctx.runs.get(state["run_id"])
    chosen = applicant
    if clicked and selected_rows and data and 0 <= selected_rows[0] < len(data):
        chosen = data[selected_rows[0]]["id"]
    everyone = tables.applicants(run)
    records = tables.filter_applicants(everyone, decision, group).to_dict("records")
    sel = [i for i, r in enumerate(records) if str(r["id"]) == str(chosen)]
    count = f"{len(records)} of {len(everyone)} explained {tables.noun(run.result)}s"
    page = dash.no_update if clicked else (sel[0] // PAGE_SIZE if sel else 0)
    return records, sel, (chosen if str(chosen) != str(applicant) else dash.no_update), count, page


def update_detail(ctx: AppContext, applicant: Any, method: str | None,
                  state: dict[str, Any]) -> tuple[list, go.Figure]:
    run = ctx.runs.get(state["run_id"])
    result = run.result
    fav, unfav = tables.outcomes(result)
    row, problem = tables.find_applicant(run, applicant)
    title = "Applicant attributions"
    if row is None:
        return [html.P(problem, className="xf-warning")], fig.empty(title, "select an applicant in the table")
    methods = tables.methods(result)
    method = method if method in methods else methods[0]
    raw_values = _stored_values(run, method, row["id"])
    attr = tables.applicant_attributions(run, method, row["id"], values=raw_values)
    title = f"{tables.noun(result).capitalize()} {row['id']} · {tables.method_label(method)}"
    if attr is None:  # a run that recorded no input names (``model.feature_names`` is optional)
        figure = fig.empty(title, "this run did not record its input names: audit the model again to see them")
    else:
        figure = fig.applicant_figure(attr, title=title, unit=tables.unit(method, fav), favorable=fav,
                                      unfavorable=unfav, signed=tables.signed(method))
    return _detail_card(result, row, fav, unfav), figure


def _stored_values(run, method: str, sample_id: Any) -> dict[str, str] | None:
    """The applicant's raw inputs as stored with the run (:mod:`deepaudit.audit.display`); None for runs without
    them."""
    arr = tables.attr_array(run, method)
    display = read_display(run)
    if arr is None or display.rows is None:
        return None
    hit = np.nonzero(arr["sample_id"].astype(str) == str(sample_id))[0]
    row = display.row(int(arr["sample_index"][hit[0]])) if len(hit) else None
    if row is None:
        return None
    book = Codebook.from_result(run.result)
    return {k: MISSING if v is None else book.value(k, v) if k in book.codes.keys()
            else format_value(float(v)) if isinstance(v, (int, float)) else str(v)
            for k, v in row.items()}


def _detail_card(result: dict[str, Any], row: dict[str, Any], fav: str, unfav: str) -> list:
    denied = row["decision"] == unfav
    facts = [("Score", f"P({fav}) = {row['score']:.3f}"), ("Decision", row["decision"]),
             ("Actual outcome", row["actual"])] + [(c.replace("_", " "), row.get(c, "")) for c in
                                                   tables.sensitive_columns(result)]
    who = tables.noun(result)
    out = [html.H3(f"{who.capitalize()} {row['id']}"),
           html.Span(row["decision"], className="badge fail" if denied else "badge pass"),
           html.Dl([x for k, v in facts for x in (html.Dt(k), html.Dd(str(v)))], className="xf-facts")]
    # "adverse action" is the credit term (Regulation B); other models get plain words
    credit = who == "applicant"
    out.append(html.H4("Adverse-action reasons" if credit else f"Reasons for '{unfav}'"))
    if not denied:
        out.append(html.P(f"Decision '{fav}': no adverse-action notice is needed." if credit else
                          f"Decision '{fav}': there is no '{unfav}' outcome to explain.", className="muted"))
        return out
    reasons, method = tables.stored_reasons(result, row["id"])
    if reasons is None:
        why = tables.capability_reason(result, "reason_codes")
        out.append(html.P(f"This run stored no reason codes for this {who}{': ' + why if why else ''}.",
                          className="muted"))
        return out
    book = Codebook.from_result(result)
    out.append(html.Ol([html.Li([html.B(r["reason"]), f": {_shown(book, r)} · ",
                                 html.Span(f"{r['share_of_denial']:.0%} of what pulled the score toward {unfav}",
                                           title=SHARE_MEANS.format(unfav=unfav))]) for r in reasons
                        if r["rank"] > 0] or [html.Li(reasons[0]["reason"])], className="xf-reasons"))
    out.append(html.P("Method: " + method, className="muted xf-small"))
    return out


SHARE_MEANS = ("This input's attribution divided by the sum of all attributions that lowered the score (toward "
               "'{unfav}'): the inputs listed, and the ones below them, add up to 100%.")


def _shown(book: Codebook, reason: dict[str, Any]) -> str:
    """A reason's value for a reader: decoded by the run's codebook ("no (0)"); numbers as stored."""
    value = reason.get("value")
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)  # already decoded at audit time ("no (0)", "missing")
    return book.value(str(reason.get("feature", "")), number) if reason.get("feature") in book.codes \
        else format_value(number)


def update_editor(ctx: AppContext, cache: LiveTabularCache, applicant: Any, state: dict[str, Any]) -> list:
    run = ctx.runs.get(state["run_id"])
    row, problem = tables.find_applicant(run, applicant)
    if row is None:
        return [html.P(problem, className="muted")]
    try:
        live = cache.get(run.model.spec)
        original = live.row(row["id"])
        _, merged, _ = live.explain_rows(original, ig_options(run.result))
    except LIVE_ERRORS as exc:
        return [html.P(f"The live model is not available, so the what-if editor is off: {exc}",
                       className="xf-warning")]
    values = live.values(original)
    influence = dict(zip(live.groups, abs(merged[0])))
    order = sorted(live.fields, key=lambda f: -influence.get(f.name, 0.0))
    book = Codebook.from_result(run.result)
    inputs = [_field_input(f, values[f.name], book) for f in order]
    out = [html.Div(inputs[:VISIBLE_FIELDS], className="xf-fields")]
    if len(inputs) > VISIBLE_FIELDS:
        out.append(html.Details([html.Summary(f"All other inputs ({len(inputs) - VISIBLE_FIELDS})"),
                                 html.Div(inputs[VISIBLE_FIELDS:], className="xf-fields")], className="xf-more"))
    warning = tables.provenance_warning(run.result, live.target)
    out.append(html.P(f"Allowed ranges come from {live.range_source}." + (f" {warning}" if warning else ""),
                      className="muted xf-small"))
    return out


def _field_input(f, value: float, book: Codebook) -> html.Label:
    fid = {"type": ids.EXPLAIN_FINANCE_FIELD, "name": f.name}
    finite = value == value
    if f.kind == "numeric":
        # Text, not type="number": a browser turns an out-of-range or malformed number into an empty value,
        # and the user would then be told "required" instead of what is wrong with what they typed.
        control = dcc.Input(id=fid, type="text", inputMode="decimal", value=input_text(value),
                            placeholder=MISSING if f.missing_ok else f"{format_value(f.lo)} to {format_value(f.hi)}",
                            maxLength=32, debounce=True, className="xf-input")
        hint = f"{format_value(f.lo)} to {format_value(f.hi)}" + (", blank = missing" if f.missing_ok else "")
        if finite and not f.lo <= value <= f.hi:
            hint += f" (this applicant: {format_value(value)}, outside)"
    else:
        opts = [{"label": book.value(f.name, o) if f.name in book.codes else
                 (("yes" if o else "no") + f" ({o:g})") if f.kind == "binary" else f"{o:g}", "value": o}
                for o in f.options] + ([{"label": MISSING, "value": MISSING}] if f.missing_ok else [])
        control = dcc.Dropdown(id=fid, options=opts, value=value if finite else MISSING, clearable=False,
                               searchable=False, className="xf-input")
        hint = f.kind
    return html.Label([html.Span(f.label, className="xf-label"), control,
                       html.Small(f"{f.name} · {hint}", className="muted")], className="xf-field")


def update_whatif(ctx: AppContext, cache: LiveTabularCache, applicant: Any, values: list, field_ids: list,
                  state: dict[str, Any], *, recompute: bool) -> tuple[list, go.Figure | Any, dict, list | Any]:
    """(result children, comparison figure, its wrapper's style, className per field: invalid ones marked).

    ``field_ids`` are the ids of every field on the page (the wildcard output has one entry per field).
    """
    hidden = {"display": "none"}
    field_ids = [i for i in (field_ids or []) if isinstance(i, dict) and "name" in i]
    if not recompute:
        return [], dash.no_update, hidden, [dash.no_update] * len(field_ids)
    plain = ["xf-input"] * len(field_ids)
    run = ctx.runs.get(state["run_id"])
    row, problem = tables.find_applicant(run, applicant)
    if row is None:
        return [html.P(problem, className="xf-warning")], dash.no_update, hidden, plain
    submitted = {i["name"]: v for i, v in zip(field_ids, values or [])}
    try:
        live = cache.get(run.model.spec)
        w = live.what_if(row["id"], submitted, ig_options(run.result))
    except LIVE_ERRORS as exc:
        return [html.P(f"Could not recompute: {exc}", className="xf-warning")], dash.no_update, hidden, plain
    if isinstance(w, dict):
        marks = ["xf-input xf-bad" if i["name"] in w else "xf-input" for i in field_ids]
        return [html.P("Fix these inputs, then press Recompute:", className="xf-warning"),
                html.Ul([html.Li(e) for e in w.values()], className="xf-errors")], dash.no_update, hidden, marks
    return _whatif_result(run, row, w), _whatif_figure(run, w), {}, plain


def _whatif_result(run: Run, row: dict[str, Any], w) -> list:
    fav, unfav = tables.outcomes(run.result)
    delta = w.edited_score - w.original_score
    out = [html.P([f"P({fav}): {w.original_score:.3f} → ", html.B(f"{w.edited_score:.3f}"), f" ({delta:+.3f}). ",
                   "Decision: ", w.original_decision, " → ", html.B(w.edited_decision), " ",
                   html.Span("flipped" if w.flipped else "unchanged",
                             className="badge xf-flip" if w.flipped else "badge xf-same")], className="xf-delta")]
    if abs(w.original_score - row["score"]) > 1e-6:
        out.append(html.P(f"The live model scores the unedited applicant {w.original_score:.4f}; this run "
                          f"recorded {row['score']:.4f}: the model or its data changed since the run.",
                          className="xf-warning"))
    out.append(html.P("Changed: " + "; ".join(f"{c['label']} {c['before']} → {c['after']}" for c in w.changed)
                      if w.changed else "No input changed: this is the applicant as audited.", className="muted"))
    if w.edited_decision == unfav:
        out += [html.H4("Adverse-action reasons after the edit"),
                html.Ol([html.Li([html.B(r.reason)] + ([f" · {r.share_of_denial:.0%} of the push toward {unfav}"]
                                                       if r.rank > 0 else []))
                         for r in w.reasons_edited.itertuples()], className="xf-reasons")]
    opts = ", ".join(f"{k}={v}" for k, v in ig_options(run.result).items()) or "default options"
    batched = (f"; in one pass with {w.batch_size - 1} other live request{'s' if w.batch_size > 2 else ''}"
               if w.batch_size > 1 else "")
    out.append(html.P(f"Recomputed in {w.elapsed_s * 1000:.0f} ms{batched} (Integrated Gradients, {opts}, toward "
                      f"'{fav}', from the reference applicant).", className="muted xf-small"))
    return out


def _whatif_figure(run: Run, w) -> FigureLike:
    fav, _ = tables.outcomes(run.result)
    return fig.whatif_figure(w.attributions, title="Attributions before and after the edit",
                             unit=tables.unit("integrated_gradients", fav), favorable=fav)


def register_callbacks(app, ctx: AppContext) -> None:
    cache = LiveTabularCache(ctx.live)

    @app.callback(Output(ids.EXPLAIN_FINANCE_IMPORTANCE, "figure"),
                  Output(ids.EXPLAIN_FINANCE_IMPORTANCE_NOTE, "children"),
                  Input(ids.EXPLAIN_FINANCE_METHOD, "value"), State(ids.EXPLAIN_FINANCE_STATE, "data"))
    def _importance(method, state):
        return update_importance(ctx, method, state)

    @app.callback(Output(ids.EXPLAIN_FINANCE_TABLE, "data"), Output(ids.EXPLAIN_FINANCE_TABLE, "selected_rows"),
                  Output(ids.EXPLAIN_FINANCE_APPLICANT, "data"), Output(ids.EXPLAIN_FINANCE_COUNT, "children"),
                  Output(ids.EXPLAIN_FINANCE_TABLE, "page_current"), Output(ids.EXPLAIN_FINANCE_TABLE, "sort_by"),
                  Input(ids.EXPLAIN_FINANCE_DECISION, "value"), Input(ids.EXPLAIN_FINANCE_GROUP, "value"),
                  Input(ids.EXPLAIN_FINANCE_TABLE, "selected_rows"), State(ids.EXPLAIN_FINANCE_TABLE, "data"),
                  State(ids.EXPLAIN_FINANCE_APPLICANT, "data"), State(ids.EXPLAIN_FINANCE_STATE, "data"))
    def _table(decision, group, selected_rows, data, applicant, state):
        clicked = dash.ctx.triggered_id == ids.EXPLAIN_FINANCE_TABLE
        out = update_table(ctx, decision, group, selected_rows, data, applicant, state, clicked=clicked)
        # the page holding the selected applicant is computed in filter order: a filter change clears a sort
        return (*out, dash.no_update if clicked else [])

    @app.callback(Output(ids.EXPLAIN_FINANCE_DETAIL, "children"), Output(ids.EXPLAIN_FINANCE_ATTRIBUTIONS, "figure"),
                  Input(ids.EXPLAIN_FINANCE_APPLICANT, "data"), Input(ids.EXPLAIN_FINANCE_METHOD, "value"),
                  State(ids.EXPLAIN_FINANCE_STATE, "data"))
    def _detail(applicant, method, state):
        return update_detail(ctx, applicant, method, state)

    @app.callback(Output(ids.EXPLAIN_FINANCE_EDITOR, "children"),
                  Input(ids.EXPLAIN_FINANCE_APPLICANT, "data"), Input(ids.EXPLAIN_FINANCE_RESET, "n_clicks"),
                  State(ids.EXPLAIN_FINANCE_STATE, "data"))
    def _editor(applicant, _reset, state):
        return update_editor(ctx, cache, applicant, state)

    @app.callback(Output(ids.EXPLAIN_FINANCE_WHATIF, "children"), Output(ids.EXPLAIN_FINANCE_WHATIF_CHART, "figure"),
                  Output(ids.EXPLAIN_FINANCE_WHATIF_CHART_WRAP, "style"),
                  Output({"type": ids.EXPLAIN_FINANCE_FIELD, "name": ALL}, "className"),
                  Input(ids.EXPLAIN_FINANCE_RECOMPUTE, "n_clicks"), Input(ids.EXPLAIN_FINANCE_APPLICANT, "data"),
                  Input(ids.EXPLAIN_FINANCE_RESET, "n_clicks"),
                  State({"type": ids.EXPLAIN_FINANCE_FIELD, "name": ALL}, "value"),
                  State({"type": ids.EXPLAIN_FINANCE_FIELD, "name": ALL}, "id"),
                  State(ids.EXPLAIN_FINANCE_STATE, "data"))
    def _whatif(_n, applicant, _reset, values, field_ids, state):
        recompute = dash.ctx.triggered_id == ids.EXPLAIN_FINANCE_RECOMPUTE
        return update_whatif(ctx, cache, applicant, values, field_ids, state, recompute=recompute)

    urlsync.register(app, PAGE, {"applicant": (ids.EXPLAIN_FINANCE_APPLICANT, "data"),
                                 "method": (ids.EXPLAIN_FINANCE_METHOD, "value"),
                                 "decision": (ids.EXPLAIN_FINANCE_DECISION, "value"),
                                 "group": (ids.EXPLAIN_FINANCE_GROUP, "value")})
