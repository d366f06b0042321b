"""/model/<model>/fairness: group table with intervals, impact-ratio chart, intersections, reference group,
decision threshold.

Query parameters (all optional, all restored from a copied URL): ``attribute`` (a stored attribute),
``intersect=a,b`` (two or more columns crossed into groups; overrides ``attribute``), ``reference`` (a group
of the shown attribute; default: the largest known group for differences, the highest-rate known group for
impact ratios, as stored), ``threshold`` (0.05..0.95 on P(favourable); default: the model's decision rule,
0.5). A malformed or unknown value falls back to the default and says so in a note.

The stored tables are shown as they are; any other view is recomputed with the audit's own engine
(:mod:`deepaudit.dashboard.fairness_live`). :func:`update` and :func:`view_controls` are the pure callback bodies.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

from dash import Input, Output, State, dash_table, dcc, html

from deepaudit.audit.store import Run
from deepaudit.dashboard import data, evidence, figures, ids, urlsync
from deepaudit.dashboard import fairness_live as live
from deepaudit.dashboard.context import AppContext
from deepaudit.dashboard.figures import fairness as ffig
from deepaudit.dashboard.figures.base import FigureLike
from deepaudit.dashboard.pages import checks, shell
from deepaudit.dashboard.records import Records, records

PAGE = "fairness"
GRAPH_CONFIG = {**figures.GRAPH_CONFIG, "modeBarButtonsToRemove": ["select2d", "lasso2d", "zoomIn2d", "zoomOut2d",
                                                                   "autoScale2d"]}
TABLE_STYLE = {
    "style_table": {"overflowX": "auto", "maxHeight": "470px", "overflowY": "auto"},
    "style_cell": {"fontFamily": "system-ui, -apple-system, 'Segoe UI', sans-serif", "fontSize": 12.5,
                   "padding": "4px 6px", "textAlign": "left", "whiteSpace": "nowrap", "height": "auto"},
    "style_cell_conditional": [{"if": {"column_id": "group"}, "whiteSpace": "normal", "minWidth": 140, "maxWidth": 240},
                               {"if": {"column_id": "note"}, "whiteSpace": "normal", "minWidth": 80, "maxWidth": 140}],
    "style_header": {"fontWeight": "600", "backgroundColor": "#f3f4f6", "whiteSpace": "normal"},
    "style_data_conditional": [{"if": {"filter_query": '{note} contains "reference"'}, "backgroundColor": "#f6f8fa"}],
}
BAD_ATTRIBUTE = "The link asks for attribute {value!r}, which this run does not have; showing {shown!r}."
BAD_INTERSECT = "The link asks to intersect {value!r}: {why}; showing {shown!r}."
BAD_REFERENCE = "The link asks for reference group {value!r}, which is not a group of {attribute!r}; using the default."
BAD_THRESHOLD = ("The link asks for threshold {value!r}, which is not a number from {lo} to {hi}; showing the "
                 "model's decision rule ({default}).")
NO_THRESHOLD = ("This model has no favourable outcome, so a decision threshold does not apply (the link's {value!r} "
                "is ignored).")
THRESHOLD_OFF = ("The decision threshold does not apply: this model has no favourable outcome, so its rates are "
                 "accuracy per group (a correct prediction is the outcome), which no threshold changes.")


@dataclass(frozen=True)
class Selection:
    """A validated view: the stored attribute of the dropdown, the intersected columns, reference, threshold."""

    attribute: str
    intersect: tuple[str, ...] = ()
    reference: str | None = None
    threshold: float | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return self.intersect if len(self.intersect) >= 2 else (self.attribute,)


def split_columns(value: Any) -> list[str]:
    """``"a,b"`` (URL) or ``["a", "b"]`` (multi-select) -> unique column names in order."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    return list(dict.fromkeys(str(v).strip() for v in items if str(v).strip()))


def parse_threshold(value: Any) -> float | None:
    """A threshold from the URL or the slider, rounded to the slider's step; None when invalid."""
    try:
        t = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(t) or not live.THRESHOLD_MIN - 1e-9 <= t <= live.THRESHOLD_MAX + 1e-9:
        return None
    return round(t, 2)


def parse_query(run: Run, attribute: Any = None, intersect: Any = None, reference: Any = None,
                threshold: Any = None, *, groups_of=None) -> tuple[Selection, list[str]]:
    """The selection a URL asks for, and a note for every parameter that could not be used.

    ``groups_of(columns)`` lists the groups of a view (default: from the stored tables, else from the
    run's predictions); it is only called when the URL names a reference group.
    """
    notes: list[str] = []
    names = data.attribute_names(run)
    chosen = attribute if attribute in names else names[0]
    if attribute not in (None, "") and attribute not in names:
        notes.append(BAD_ATTRIBUTE.format(value=attribute, shown=chosen))
    cols = split_columns(intersect) if intersect not in (None, "") else []
    unknown = [c for c in cols if c not in names]
    if unknown or len(cols) == 1:
        why = (f"{', '.join(map(repr, unknown))} is not a column of this run (columns: {', '.join(names)})"
               if unknown else "an intersection needs two or more columns")
        notes.append(BAD_INTERSECT.format(value=intersect, why=why, shown=chosen))
        cols = []
    settings = live.run_settings(run)
    thr = None
    if settings.threshold_applies:
        thr = live.DEFAULT_THRESHOLD
        if threshold not in (None, ""):
            parsed = parse_threshold(threshold)
            if parsed is None:
                notes.append(BAD_THRESHOLD.format(value=threshold, lo=live.THRESHOLD_MIN, hi=live.THRESHOLD_MAX,
                                                  default=live.DEFAULT_THRESHOLD))
            else:
                thr = parsed
    elif threshold not in (None, ""):
        notes.append(NO_THRESHOLD.format(value=threshold))
    sel = Selection(chosen, tuple(cols), None, thr)
    if reference not in (None, ""):
        groups = (groups_of or (lambda c: view_groups(run, c)))(sel.columns)
        if str(reference) in groups:
            sel = Selection(chosen, tuple(cols), str(reference), thr)
        else:
            notes.append(BAD_REFERENCE.format(value=reference, attribute=view_name(sel.columns)))
    return sel, notes


def view_name(columns: tuple[str, ...]) -> str:
    return " x ".join(columns)


def view_groups(run: Run, columns: tuple[str, ...], cache: live.LiveCache | None = None) -> list[str]:
    """Group labels of a view: the stored ones when the run holds it, else the engine's from the predictions."""
    stored = data.stored_attribute(run, columns)
    groups = run.groups(stored) if stored is not None else None
    if groups is not None and "group" in groups:
        return groups["group"].tolist()
    return live.group_labels(_predictions(run, cache), (stored,) if stored else columns, run.run_id)


def _predictions(run: Run, cache: live.LiveCache | None):
    if cache is None:
        return run.predictions()
    return cache.get(("predictions", run.run_id), run.predictions)


def build(ctx: AppContext, model: str | None = None, run: str | None = None, attribute: str | None = None,
          intersect: str | None = None, reference: str | None = None, threshold: str | None = None,
          **_: Any) -> html.Div:
    query = {"attribute": attribute, "intersect": intersect, "reference": reference, "threshold": threshold}
    return shell.model_page(ctx, model, run, PAGE, lambda r: body(r, **query), key=tuple(query.values()))


def _control(label: str, cid: str, component, hint: str | None = None) -> html.Div:
    return html.Div([html.Label(label, htmlFor=cid), component,
                     html.Small(hint, className="muted") if hint else None], className="control")


def body(run: Run, attribute: str | None = None, intersect: str | None = None, reference: str | None = None,
         threshold: str | None = None) -> list:
    attrs = data.attributes_of(run)
    if not attrs:
        return [html.P("This run has no fairness statistics (the audit skipped them or an older deepaudit wrote "
                       "it). Rerun `deepaudit run` to compute them.", className="note")]
    try:
        sel, notes = parse_query(run, attribute, intersect, reference, threshold)
        groups = view_groups(run, sel.columns)
    except (ValueError, OSError) as e:  # e.g. an intersection whose rows all miss a value, no predictions file
        sel, notes, groups = Selection(attrs[0].name), [f"The link's selection cannot be shown: {e}"], []
        sel = Selection(sel.attribute, threshold=live.DEFAULT_THRESHOLD if live.threshold_applies(run) else None)
    applies = live.threshold_applies(run)
    fav = run.model.favorable_label
    marks = {v: f"{v:g}" for v in (0.05, 0.25, 0.75, 0.95)} | {0.5: "0.5 (model)"}
    slider = html.Div([
        html.Label(f"Decision threshold on P({fav})" if applies else "Decision threshold",
                   htmlFor=ids.FAIRNESS_THRESHOLD),
        html.Div(dcc.Slider(id=ids.FAIRNESS_THRESHOLD, min=live.THRESHOLD_MIN, max=live.THRESHOLD_MAX, step=0.01,
                            value=sel.threshold, marks=marks, disabled=not applies, updatemode="mouseup",
                            tooltip={"placement": "top", "always_visible": False}),  # not over the help text
                 style=None if applies else {"display": "none"}),
        html.Small(f"Predicted '{fav}' when P({fav}) ≥ threshold; 0.5 is the model's own rule (argmax)."
                   if applies else THRESHOLD_OFF, className="muted"),
    ], id=ids.FAIRNESS_THRESHOLD_PANEL, className="control threshold-control")
    return [
        dcc.Store(id=ids.FAIRNESS_STATE, data={"model": run.model.name, "run_id": run.run_id}),
        urlsync.sink(PAGE),
        html.Div([
            _control("Attribute", ids.FAIRNESS_ATTRIBUTE, dcc.Dropdown(
                id=ids.FAIRNESS_ATTRIBUTE, value=sel.attribute, clearable=False, disabled=len(sel.intersect) >= 2,
                options=[{"label": f"{a.name} ({a.kind})", "value": a.name} for a in attrs])),
            _control("Intersect columns", ids.FAIRNESS_INTERSECT, dcc.Dropdown(
                id=ids.FAIRNESS_INTERSECT, value=list(sel.intersect) or None, multi=True,
                placeholder="pick two or more to cross",
                options=[{"label": a.name, "value": a.name} for a in attrs]),
                f"Groups become intersections, e.g. {' x '.join(n.name for n in attrs[:2])}."
                if len(attrs) >= 2 else None),
            _control("Reference group", ids.FAIRNESS_REFERENCE_SELECT, dcc.Dropdown(
                id=ids.FAIRNESS_REFERENCE_SELECT, value=sel.reference, clearable=True,
                placeholder="default (as audited)", options=groups)),
            slider,
        ], className="fairness-controls"),
        html.Div([html.P(n) for n in notes], id=ids.FAIRNESS_NOTE, className="note" if notes else "",
                 role="status"),
        html.Div([
            checks.checks_box(run, "fairness", families=("fairness.",)),
            html.Div(id=ids.FAIRNESS_REFERENCE, className="reference"),
            dash_table.DataTable(id=ids.FAIRNESS_TABLE, columns=data.group_columns(), **TABLE_STYLE,
                                 tooltip_header=data.header_tooltips(data.group_columns()),
                                 tooltip_delay=300, tooltip_duration=None),
        ], id=evidence.FAIRNESS_TABLE),
        html.P(id=ids.FAIRNESS_SOURCE, className="muted fairness-source"),
        html.Div([
            dcc.Graph(id=ids.FAIRNESS_IMPACT, config=GRAPH_CONFIG, className="chart"),
            dcc.Graph(id=ids.FAIRNESS_RATES, config=GRAPH_CONFIG, className="chart"),
        ], className="charts"),
        html.Div(dcc.Graph(id=ids.FAIRNESS_SWEEP, config=GRAPH_CONFIG, className="chart"),
                 className="fairness-sweep", style=None if applies else {"display": "none"}),
        *gap_section(run),
    ]


GAP_COLUMNS = [{"name": "Attribute", "id": "attribute"}, {"name": "Group (vs reference)", "id": "group"},
               {"name": "Score gap", "id": "gap"}, {"name": "Rate gap", "id": "rate_gap"},
               {"name": "Largest drivers: contribution to the score gap [95% CI]", "id": "drivers"}]


def _signed(v: Any) -> str:
    """``+0.123``; a missing value (an interval from a single pair, stored as null) as "–"."""
    return f"{v:+.3f}" if isinstance(v, (int, float)) and v == v else "–"


def gap_rows(run: Run) -> list[dict[str, Any]]:
    """One row per audited group: its gaps to the reference and the three largest drivers, as stored."""
    from deepaudit.audit.report.fairness import gap_view

    probes = run.fairness.probes or {}
    if not isinstance(probes.get("gap"), dict):
        return []
    out = []
    for g in gap_view(probes["gap"], probes.get("proxy"))["groups"]:
        drivers = "; ".join(f"{d['label']} {_signed(d['contribution'])} [{_signed(d['lo'])}, {_signed(d['hi'])}]"
                            + (" (proxy)" if d["proxy"] else "") for d in g["drivers"])
        out.append({"attribute": g["attribute"], "group": f"{g['group']} (vs {g['reference']}, n={g['n']:,})",
                    "gap": _signed(g["gap"]), "rate_gap": _signed(g["rate_gap"]), "drivers": drivers})
    return out


def gap_section(run: Run) -> list:
    """"What drives the gap" (stored, every sensitive attribute): empty for runs without it."""
    rows = gap_rows(run)
    if not rows:
        return []
    method = (run.fairness.probes or {})["gap"].get("method", "")
    return [html.Section([
        html.H2("What drives the gap"),
        html.P("Each group's gap in mean P(favourable) to its reference group, split into per-feature "
               "contributions that add up to it; negative = the feature lowers the group's score relative to the "
               f"reference. (proxy) marks a feature the proxy check flags. {_flag_note(run)} Method: {method}.",
               className="muted"),
        checks.checks_box(run, "fairness", families=("fairness.proxy",)),
        dash_table.DataTable(id=ids.FAIRNESS_GAP_TABLE, columns=GAP_COLUMNS, data=rows,
                             **{**TABLE_STYLE, "style_cell": {**TABLE_STYLE.get("style_cell", {}),
                                                              "whiteSpace": "normal", "height": "auto"}}),
    ], id=evidence.FAIRNESS_GAP, className="fairness-gap")]


def _flag_note(run: Run) -> str:
    from deepaudit.audit.features import Codebook

    return Codebook.from_result(run.result).flagged_note()


class FairnessView(NamedTuple):
    """What the page's main callback returns, one field per output."""

    reference: Any
    rows: list[dict[str, Any]]
    columns: list[dict[str, str]]
    impact: FigureLike
    rates: FigureLike
    sweep: FigureLike
    source: str


def update(ctx: AppContext, attribute: str | None, state: dict[str, Any] | None, intersect: Any = None,
           reference: str | None = None, threshold: Any = None, *, cache: live.LiveCache | None = None
           ) -> FairnessView:
    """The callback body: load the run in ``state`` and draw the selected view.

    The drawn view is memoized per (run, attribute, intersection, reference, threshold on the slider's step):
    a run never changes, and drawing the figures costs as much as computing the tables."""
    if cache is None:
        return _update(ctx, attribute, state, intersect, reference, threshold, cache=None)
    key = ("fairness-view", state["run_id"], attribute, tuple(split_columns(intersect)), reference or None,
           parse_threshold(threshold))
    return cache.get(key, lambda: _update(ctx, attribute, state, intersect, reference, threshold, cache=cache))


def _update(ctx: AppContext, attribute: str | None, state: dict[str, Any] | None, intersect: Any = None,
            reference: str | None = None, threshold: Any = None, *, cache: live.LiveCache | None = None
            ) -> FairnessView:
    run = ctx.runs.get(state["run_id"])
    if not data.attribute_names(run):
        empty = figures.empty("Fairness", "no fairness statistics in this run")
        return FairnessView("No fairness statistics in this run.", [], data.group_columns(), empty, empty, empty, "")
    try:
        view = live.view_tables(run, attribute, split_columns(intersect), reference or None,
                                parse_threshold(threshold), predictions=lambda: _predictions(run, cache),
                                cache=cache)
    except (ValueError, OSError) as e:  # e.g. a column missing from the predictions, or no predictions file
        empty = figures.empty("Fairness", "this view cannot be computed")
        return FairnessView(html.P(f"This view cannot be computed: {e}", className="note"), [],
                            data.group_columns(), empty, empty, empty, "")
    if len(split_columns(intersect)) == 1:
        view.notes.append(f"Pick at least one more column to intersect with {split_columns(intersect)[0]!r}; "
                          f"showing {view.name!r} meanwhile.")
    return render(view, run)


def _texts(view: live.ViewTables, run: Run, groups: Records, ratio: Records) -> list:
    settings = live.run_settings(run)
    fav = run.model.favorable_label
    rate = "selection rate" if fav is not None else "accuracy"
    ref = next((g["group"] for g in groups if g.get("is_reference")), "–")
    if view.reference is None:
        top = ratio[0]["reference"] if ratio else None
        parts = [html.Strong(f"Reference group: {ref}"),
                 f" ({run.fairness.reference_rule or 'the largest group'}); differences are measured "
                 f"from it. "]
        eligible = (f" with at least {settings.min_share:.0%} of the data" if settings.exclude_small else "")
        parts.append(f"Impact ratios divide each group's {rate} by the highest among known groups{eligible}: {top}."
                     if top is not None else "Impact ratios do not apply to this attribute.")
    else:
        parts = [html.Strong(f"Reference group: {ref}"),
                 f" (chosen). Differences and ratios are measured from its {rate}; the four-fifths line applies "
                 f"to the ratio to {ref}."]
    out = [html.P(parts)]
    if view.threshold is not None and not live.is_default_threshold(view.threshold):
        t = view.threshold
        out.append(html.P([html.Strong(f"Decision threshold {t:.2f}: "),
                           f"predicted '{fav}' when P({fav}) ≥ {t:.2f} (the model's own rule is 0.5). "
                           "Open grey circles show the values at the model's rule."]))
    if fav is None:
        out.append(html.P("This model has no favourable outcome: a correct prediction is the outcome, so the "
                          "rates are accuracy per group.", className="muted"))
    out += [html.P(n, className="note") for n in view.notes]
    return out


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]  # str.capitalize would lower-case a group name inside


def render(view: live.ViewTables, run: Run) -> FairnessView:
    """Texts, table and figures of one view (pure: tables in, components and figures out)."""
    groups = records(view.groups)   # the view's tables as records, once: pandas costs more than the work here
    if groups:  # ordinal cohorts (low, mid, high) in their order, not alphabetically
        groups = [groups[i] for i in data.ordinal_order([str(g["group"]) for g in groups])]
    disparities = records(view.disparities)
    fav = run.model.favorable_label
    settings = live.run_settings(run)
    rate = "selection rate" if fav is not None else "accuracy"
    ref = view.reference
    ratio = data.ratio_rows(disparities, reference=ref, groups=groups)
    base = view.baseline
    base_groups = records(base.groups) if base else None
    base_ratio = data.ratio_rows(base.disparities, reference=ref, groups=base_groups) if base else None
    default_ref = next((g["group"] for g in groups if g.get("is_reference")), "reference")
    ratio_name = "impact ratio" if ref is None else f"ratio to {ref}"
    if fav is None:
        ratio_name = "accuracy ratio" if ref is None else ratio_name
    columns = data.group_columns(
        f"{_cap(ratio_name)} [95% CI]",
        f"{rate.capitalize()} − {default_ref} [95% CI]",
        rate_header=f"{rate.capitalize()} [95% CI]", confusion=fav is not None)
    rows = data.group_display_rows(groups, ratio, data.difference_rows(disparities))
    over = ("highest eligible group's" if settings.exclude_small else "highest known group's") if ref is None \
        else f"{ref}'s"
    # the interval method as the rows state it (runs written before score intervals hold bootstrap rows)
    one_vs_one = [r for r in disparities if r["statistic"] in ("impact_ratio", "ratio_vs_reference")]
    scored = bool(one_vs_one) and all(str(r["method"]).startswith("MOVER-R") for r in one_vs_one)
    impact = ffig.impact_ratio_figure(
        ratio, threshold=settings.four_fifths, baseline=base_ratio, xtitle=f"{view.name} group",
        reference_label="highest" if ref is None else "reference",
        title=f"{_cap(ratio_name)} by {view.name}", ratio_name=ratio_name,
        subtitle=f"{rate} ÷ {over} {rate} · 95% "
                 + ("score CI (MOVER-R)" if scored else f"bootstrap CI (B={settings.n_boot})"),
        # on accuracy the four-fifths line is borrowed from selection: say so where the line is labelled
        line_label=None if fav is not None else f"four-fifths rule ({settings.four_fifths:g}), a selection "
                                                 "heuristic shown for scale",
        look=None if fav is not None else "A dot far below 1 is a group the model gets wrong more often than "
                                          "the best one.")
    rates = ffig.selection_rate_figure(
        groups, favorable=fav or "correct", baseline=base_groups,
        title=f"{rate.capitalize()} by {view.name}", rate_name=rate, xtitle=f"{view.name} group",
        subtitle=(f"share predicted '{fav}'" if fav is not None else "share of correct predictions")
        + " · Wilson 95% CI")
    sweep = ffig.threshold_sweep_figure(
        view.sweep, current=view.threshold, favorable=fav or "favourable",
        title=f"Selection rate vs decision threshold, by {view.name}",
        subtitle="solid line: the threshold shown above · dotted: the model's rule (0.5)")
    n = sum(int(g["n"]) for g in groups)
    one = ("continuity-corrected score intervals (Newcombe, MOVER-R) for a group against its reference, and "
           if scored else "")
    boot_for = "spreads over all groups" if scored else "ratios and differences"
    source = (f"Stored in run {run.run_id}: intervals are Wilson 95% (rates), {one}stratified bootstrap "
              f"(B={settings.n_boot}, seed {settings.seed}) for {boot_for}."
              if view.source == "stored"
              else f"Computed live from the run's {n:,} predictions with the audit's own fairness engine and "
                   f"settings in {view.seconds * 1000:.0f} ms: Wilson 95% intervals (rates) and continuity-corrected "
                   f"score intervals (Newcombe, MOVER-R) against the reference, as stored. The bootstrapped spreads "
                   f"over all groups (B={settings.n_boot}) are not on this page; the run's report has them at the "
                   f"model's rule.")
    return FairnessView(_texts(view, run, groups, ratio), rows, columns, impact, rates, sweep, source)


def view_controls(ctx: AppContext, attribute: str | None, intersect: Any, reference: str | None,
                  state: dict[str, Any] | None, *, cache: live.LiveCache | None = None
                  ) -> tuple[list[str], str | None, bool]:
    """When the view changes: the reference options, the reference kept only if still a group, and whether
    the attribute dropdown is disabled (an intersection of two or more columns overrides it)."""
    run = ctx.runs.get(state["run_id"])
    cols = split_columns(intersect)
    columns = tuple(cols) if len(cols) >= 2 else (attribute,)
    try:
        groups = view_groups(run, columns, cache)
    except (ValueError, OSError):  # OSError: the run's predictions file is missing
        groups = []
    return groups, (reference if reference in groups else None), len(cols) >= 2


def register_callbacks(app, ctx: AppContext) -> None:
    cache = live.LiveCache(size=128)   # predictions, live tables, sweeps
    views = live.LiveCache(size=512)   # drawn views (~20-50 KiB each): a slider swept both ways stays warm

    @app.callback(
        Output(ids.FAIRNESS_REFERENCE, "children"), Output(ids.FAIRNESS_TABLE, "data"),
        Output(ids.FAIRNESS_TABLE, "columns"), Output(ids.FAIRNESS_IMPACT, "figure"),
        Output(ids.FAIRNESS_RATES, "figure"), Output(ids.FAIRNESS_SWEEP, "figure"),
        Output(ids.FAIRNESS_SOURCE, "children"),
        Input(ids.FAIRNESS_ATTRIBUTE, "value"), Input(ids.FAIRNESS_INTERSECT, "value"),
        Input(ids.FAIRNESS_REFERENCE_SELECT, "value"), Input(ids.FAIRNESS_THRESHOLD, "value"),
        State(ids.FAIRNESS_STATE, "data"),
    )
    def _update(attribute, intersect, reference, threshold, state):
        # Runs never change, so a drawn view is cached whole: dragging back over a threshold costs nothing.
        # hashed: a forged client value cannot make a large key (views of bogus input are small messages)
        key = ("view", hashlib.sha256(repr(((state or {}).get("run_id"), attribute, tuple(split_columns(intersect)),
                                            reference or None, parse_threshold(threshold))).encode()).hexdigest())
        return views.get(key, lambda: tuple(update(ctx, attribute, state, intersect, reference, threshold,
                                                   cache=cache)))

    @app.callback(
        Output(ids.FAIRNESS_REFERENCE_SELECT, "options"), Output(ids.FAIRNESS_REFERENCE_SELECT, "value"),
        Output(ids.FAIRNESS_ATTRIBUTE, "disabled"),
        Input(ids.FAIRNESS_ATTRIBUTE, "value"), Input(ids.FAIRNESS_INTERSECT, "value"),
        State(ids.FAIRNESS_REFERENCE_SELECT, "value"), State(ids.FAIRNESS_STATE, "data"),
        prevent_initial_call=True,
    )
    def _controls(attribute, intersect, reference, state):
        return view_controls(ctx, attribute, intersect, reference, state, cache=cache)

    @app.callback(Output(ids.FAIRNESS_NOTE, "children"), Output(ids.FAIRNESS_NOTE, "className"),
                  Input(ids.FAIRNESS_ATTRIBUTE, "value"), Input(ids.FAIRNESS_INTERSECT, "value"),
                  Input(ids.FAIRNESS_REFERENCE_SELECT, "value"), Input(ids.FAIRNESS_THRESHOLD, "value"),
                  prevent_initial_call=True)
    def _clear_note(*_):  # the link's notes describe the link; once the user picks, they no longer apply
        return [], ""

    urlsync.register(app, PAGE, {"attribute": (ids.FAIRNESS_ATTRIBUTE, "value"),
                                 "intersect": (ids.FAIRNESS_INTERSECT, "value"),
                                 "reference": (ids.FAIRNESS_REFERENCE_SELECT, "value"),
                                 "threshold": (ids.FAIRNESS_THRESHOLD, "value")})
