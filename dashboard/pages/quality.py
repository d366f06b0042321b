"""/model/<model>/quality: how far the run's explanations can be trusted.

Pass/fail table of every explanation-quality check, the verdict of each check family for every published method
(with the families that do not apply to a method, and why), then one section per check family: completeness
(Integrated Gradients' step doubling, then DeepLIFT / SHAP / GradientSHAP), deletion/insertion curves (attribution
order against random order), infidelity and max-sensitivity, the cascading model-randomization sanity check, and
shortcut probes. Charts show the primary method; tables beside them list every method. A section the run does not
hold says so instead of drawing an empty chart.

Selections live in the URL: ``?checks=failed`` (show only failed checks) and ``?similarity=abs|signed``
(the randomization measure; default: the one each method's check uses). The layout is drawn for the URL's
selection; callbacks redraw only on a change.
"""
from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html

from deepaudit.audit.quality import coverage
from deepaudit.audit.store import Run
from deepaudit.dashboard import figures, ids, urlsync
from deepaudit.dashboard.context import AppContext
from deepaudit.dashboard.figures import quality as qfig
from deepaudit.dashboard.figures.performance import blank
from deepaudit.dashboard.pages import quality_tables as qt
from deepaudit.dashboard.pages import shell
from deepaudit.dashboard.pages.tables import FAIL, table

PAGE = "quality"
NOT_IN_RUN = "Not in this run: {what}."
NO_RUN = "This run is no longer in the store; reload the page."
FAIL_ROWS = [{"if": {"filter_query": '{result} = "FAIL"'}, "backgroundColor": "#fbece3"},
             {"if": {"filter_query": '{result} = "FAIL"', "column_id": "result"}, "color": FAIL, "fontWeight": "600"}]


def build(ctx: AppContext, model: str | None = None, run: str | None = None, checks: str | None = None,
          similarity: str | None = None, **_: Any) -> html.Div:
    return shell.model_page(ctx, model, run, PAGE, lambda r: body(r, checks, similarity), key=(checks, similarity))


#: Section ids the Checks page's evidence links point at (dashboard/evidence.py).
SECTION_IDS = {"Completeness": "section-quality-completeness", "Deletion and insertion": "section-quality-curves",
               "Infidelity and max-sensitivity": "section-quality-robustness",
               "Model-randomization sanity check": "section-quality-randomization",
               "Shortcut probes": "section-quality-shortcut"}


def _section(title: str, *children: Any, id: str | None = None) -> html.Section:
    id = id or SECTION_IDS.get(title)
    return html.Section([html.H2(title), *children], className="quality-section", **({"id": id} if id else {}))


def _absent(what: str) -> html.P:
    return html.P(NOT_IN_RUN.format(what=what), className="note")


def _facts(items: list[tuple[str, str]]) -> html.Dl:
    return html.Dl([x for k, v in items for x in (html.Dt(k), html.Dd(v))], className="quality-facts")


def _graph(id: str, fig: go.Figure) -> dcc.Graph:
    return dcc.Graph(id=id, figure=fig, config=figures.GRAPH_CONFIG, className="chart")


def body(run: Run, checks: str | None, similarity: str | None) -> list:
    result = run.result
    filt = "failed" if checks == "failed" else "all"
    sim = similarity if similarity in qt.SIMILARITY else "checked"
    return [
        dcc.Store(id=ids.QUALITY_STATE, data={"model": result["model"]["name"], "run_id": run.run_id}),
        urlsync.sink(PAGE),
        _checks_section(result, filt),
        _coverage_section(result),
        _completeness_section(result),
        _curves_section(result),
        _robustness_section(result),
        _randomization_section(result, sim),
        _shortcut_section(result),
    ]


def _checks_section(result: dict[str, Any], filt: str) -> html.Section:
    all_checks = qt.quality_checks(result)
    n_failed = sum(not c.get("passed") for c in all_checks)
    summary = qt.summary(result) if all_checks else NOT_IN_RUN.format(what="explanation-quality checks")
    return _section(
        "Explanation-quality checks",
        html.Div([
            html.P(summary, className="fail-text" if n_failed else ""),
            html.Div([
                html.Label("Show", htmlFor=ids.QUALITY_CHECK_FILTER, className="sr-only"),
                dcc.RadioItems(id=ids.QUALITY_CHECK_FILTER, value=filt, inline=True, className="radio",
                               options=[{"label": " all checks", "value": "all"},
                                        {"label": " failed only", "value": "failed"}]),
            ]),
        ], className="quality-summary"),
        table(ids.QUALITY_CHECKS, qt.CHECK_COLUMNS, update_checks_for(result, filt),
              style_data_conditional=FAIL_ROWS,
              style_cell_conditional=[{"if": {"column_id": "description"}, "minWidth": 320},
                                      {"if": {"column_id": "id"}, "fontFamily": "monospace", "fontSize": 12}]),
    )


def _coverage_section(result: dict[str, Any]) -> html.Section:
    rows = qt.coverage_rows(result)
    title = "Checks by method"
    if not rows:
        return _section(title, _absent("explanation methods"))
    skipped = qt.not_applicable_rows(result)
    unchecked = qt.unchecked_methods(result)
    notes = []
    if skipped:
        notes += [html.H3("Checks that do not apply"),
                  table(ids.QUALITY_NOT_APPLICABLE, qt.NOT_APPLICABLE_COLUMNS, skipped,
                        style_cell_conditional=[{"if": {"column_id": "reason"}, "minWidth": 360}])]
    if unchecked:
        notes.append(html.P(f"This run was written before every published method got every check: no check judged "
                            f"{', '.join(unchecked)}. Re-run the audit to check them.", className="note"))
    return _section(
        title,
        html.P("Every published method gets each check family that applies to it: completeness where the method "
               "has a completeness identity, deletion/insertion, infidelity and max-sensitivity (not for token "
               "inputs), and model-parameter randomization. A family that does not apply to a method says why.",
               className="muted"),
        table(ids.QUALITY_COVERAGE, qt.COVERAGE_COLUMNS, rows,
              style_data_conditional=[{"if": {"filter_query": f'{{{f}}} contains "FAIL"', "column_id": f},
                                       "color": FAIL, "fontWeight": "600"} for f, _ in qt.COVERAGE_COLUMNS[1:]]),
        *notes,
    )


def _completeness_section(result: dict[str, Any]) -> html.Section:
    comp = qt.completeness(result)
    others = qt.completeness_method_rows(result)
    skipped = [r for r in qt.not_applicable_rows(result) if r["check"] == coverage.FAMILY_LABELS["completeness"]]
    title = "Completeness"
    notes = [html.Ul([html.Li(f"{r['method']}: {r['reason']}.") for r in skipped], className="note")] if skipped else []
    if comp is None and not others:
        return _section(title, _absent("the completeness check (this run has no method with a completeness "
                                       "identity)"), *notes)
    parts: list[Any] = [html.P(
        "Attributions of a complete method sum to the change in the explained logit between a reference and the "
        "input: Σ attributions = F(x) − F(reference), in logits. Integrated Gradients and DeepLIFT use the "
        "baseline; SHAP and GradientSHAP the mean over their background sample, in expectation, so their sum "
        "may miss it by the Monte-Carlo error of their draws.", className="muted")]
    if comp is not None:
        parts.append(_ig_completeness(result, comp))
    if others:
        parts += [html.H3("Other methods"),
                  table(ids.QUALITY_COMPLETENESS_METHODS, qt.COMPLETENESS_METHOD_COLUMNS, others,
                        style_data_conditional=FAIL_ROWS,
                        style_cell_conditional=[{"if": {"column_id": "identity"}, "minWidth": 260},
                                                {"if": {"column_id": "rule"}, "minWidth": 220}])]
    return _section(title, *parts, *notes)


#: Rows of the per-sample completeness table sent to the browser: a run explaining 5,000 samples would otherwise
#: ship ~0.9 MB with every view of the page, for a table read ten rows at a time from the worst.
MAX_SAMPLE_ROWS = 500


def _ig_completeness(result: dict[str, Any], comp: tuple) -> html.Div:
    s, steps, rows = comp
    c = qt.check(result, "completeness_ig")  # a family with one check per run
    facts = _facts([
        ("Steps used", f"{s.get('n_steps', '–')}"), ("Tolerance", f"{qt.pct(s.get('tol'))} of |F(x) − F(baseline)|"),
        ("Within tolerance", (f"{qt.pct(s.get('share_within_tol'))} of {s.get('n_samples', '–')} samples "
                              f"(required {qt.pct(s.get('share_required'))})")),
        ("Relative error", (f"median {qt.pct(s.get('median_relative_error'))}, "
                            f"95th percentile {qt.pct(s.get('p95_relative_error'))}")),
        ("Result", f"{qt.verdict(c)}" + ("" if s.get("converged", True) else " (did not converge)")),
    ])
    return html.Div([
        html.H3("Integrated Gradients completeness"),
        html.P("Σ attributions = F(x) − F(baseline). The audit doubles the IG steps until enough samples are within "
               "tolerance. Samples are numbered in the order they were explained.", className="muted"),
        html.Div([
            html.Div([facts, _graph(ids.QUALITY_COMPLETENESS, qfig.completeness_figure(
                steps, required=float(s.get("share_required", 0.95)), tol=float(s.get("tol", 0.05))))]),
            html.Div([html.H3("Per sample, largest error first"),
                      *([html.P(f"The {MAX_SAMPLE_ROWS:,} largest errors of {len(rows):,} samples (sorting orders "
                                f"these); every sample is in the run's JSON report.", className="muted small")]
                        if len(rows) > MAX_SAMPLE_ROWS else []),
                      table(ids.QUALITY_COMPLETENESS_TABLE, qt.ERROR_COLUMNS, rows[:MAX_SAMPLE_ROWS], page_size=10,
                            sort_action="native",
                            style_data_conditional=[{"if": {"filter_query": '{within} = "no"'},
                                                     "backgroundColor": "#fbece3"}])]),
        ], className="charts"),
    ])


def _curves_section(result: dict[str, Any]) -> html.Section:
    di = qt.deletion_insertion(result)
    title = "Deletion and insertion"
    if di is None:
        return _section(title, _absent("deletion/insertion curves"))
    s, curves, aucs, rows = di
    return _section(
        title,
        html.P(f"{s.get('method', '')}: features are removed (deletion) or restored (insertion) in order of "
               f"attribution and the explained class's probability is tracked over {s.get('n_points', '–')} steps, "
               f"mean of {s.get('n_samples', '–')} samples. A faithful ranking makes the probability fall faster "
               "(lower deletion AUC) and rise faster (higher insertion AUC) than a random order (seed "
               f"{s.get('seed', '–')}).", className="muted"),
        _graph(ids.QUALITY_CURVES, qfig.curves_figure(curves, aucs=aucs,
                                                     title=f"Deletion and insertion curves ({s.get('method', '')})")),
        table(ids.QUALITY_CURVES_TABLE, qt.CURVE_COLUMNS, rows, style_data_conditional=FAIL_ROWS),
        html.P(f"{qt.auc_interval_note(s)} Ratio = attribution-order AUC / random-order AUC.",
               className="muted small"),
        *_by_method("Every method, on the same samples", ids.QUALITY_CURVES_METHODS, qt.CURVE_METHOD_COLUMNS,
                    qt.curve_method_rows(result)),
    )


def _by_method(title: str, id: str, columns: list[tuple[str, str]], rows: list[dict[str, Any]]) -> list:
    """A per-method table under a chart of the primary method; nothing when only one method has the check."""
    if len(rows) < 2:
        return []
    fail = [{"if": {"filter_query": f'{{{c}}} contains "FAIL"', "column_id": c}, "color": FAIL, "fontWeight": "600"}
            for c, _ in columns if c.endswith("result")]
    return [html.H3(title), table(id, columns, rows, style_data_conditional=fail)]


def _robustness_section(result: dict[str, Any]) -> html.Section:
    rob = qt.robustness(result)
    title = "Infidelity and max-sensitivity"
    skipped = [r for r in qt.not_applicable_rows(result) if r["check"] == coverage.FAMILY_LABELS["robustness"]]
    notes = [html.Ul([html.Li(f"{r['method']} ({r['status']}): {r['reason']}.") for r in skipped],
                     className="note")] if skipped else []
    if rob is None:
        return _section(title, _absent("infidelity and max-sensitivity (the audit computes them for image and "
                                       "tabular models; token inputs cannot be perturbed continuously)"), *notes)
    s, per, inf_check, sens_check = rob
    if not s.get("applicable", True):
        return _section(title, _absent(s.get("reason", "the robustness checks do not apply to this model")), *notes)
    inf, sens = s.get("relative_infidelity", {}), s.get("max_sensitivity", {})
    facts = _facts([
        ("Method", (f"{s.get('method', '')} on {s.get('n_samples', '–')} samples, {s.get('n_perturb', '–')} "
                    f"perturbations each, radius {s.get('radius', '–')} × data spread")),
        ("Relative infidelity", (f"mean {qt.num(inf.get('mean'))} (median {qt.num(inf.get('median'))}, "
                                 f"p95 {qt.num(inf.get('p95'))}); {qt.rule(inf_check)} → {qt.verdict(inf_check)}; "
                                 f"an unrelated explanation scores ≈ "
                                 f"{qt.num(s.get('chance_relative_infidelity'), 2)}")),
        ("Max-sensitivity", (f"mean {qt.num(sens.get('mean'))} (median {qt.num(sens.get('median'))}, "
                             f"p95 {qt.num(sens.get('p95'))}); {qt.rule(sens_check)} → {qt.verdict(sens_check)}")),
    ])
    fig = qfig.robustness_figure(per, means={"relative_infidelity": inf.get("mean"),
                                             "max_sensitivity": sens.get("mean")},
                                 infidelity_max=inf_check["threshold"] if inf_check else None,
                                 sensitivity_max=sens_check["threshold"] if sens_check else None,
                                 chance=s.get("chance_relative_infidelity"),
                                 title=f"Infidelity and max-sensitivity per sample ({s.get('method', '')})")
    return _section(title, facts, _graph(ids.QUALITY_ROBUSTNESS, fig),
                    *_by_method("Every method", ids.QUALITY_ROBUSTNESS_METHODS, qt.ROBUSTNESS_METHOD_COLUMNS,
                                qt.robustness_method_rows(result)), *notes)


def _randomization_section(result: dict[str, Any], sim: str) -> html.Section:
    layers, _ = qt.randomization(result, sim)
    title = "Model-randomization sanity check"
    # The control stays in the layout even when the section is absent: the URL-sync callback reads it.
    control = html.Div([
        html.Label("Similarity measure", htmlFor=ids.QUALITY_SIMILARITY),
        dcc.RadioItems(id=ids.QUALITY_SIMILARITY, value=sim, inline=True, className="radio",
                       options=[{"label": f" {v}", "value": k} for k, v in qt.SIMILARITY.items()]),
    ], className="control", style={"display": "none"} if layers.empty else None)
    if layers.empty:
        return _section(title, _absent("the randomization sanity check"), control)
    return _section(
        title,
        html.P("Layers are re-initialised one at a time from the output down and each method's explanation is "
               "recomputed. An explanation that still matches the original once every layer is random depends on "
               "the input alone, not on what the model learned (Adebayo et al. 2018).", className="muted"),
        control,
        _graph(ids.QUALITY_RANDOMIZATION, update_randomization_for(result, sim)),
    )


def _shortcut_section(result: dict[str, Any]) -> html.Section:
    rows = qt.shortcut_rows(result)
    title = "Shortcut probes"
    if not rows:
        return _section(title, _absent("shortcut probes (the model registers no artifact regions to probe)"))
    return _section(
        title,
        html.P("Each probe stamps a known artifact (e.g. a corner mark) onto inputs and measures how much of the "
               "attribution lands inside it relative to its area. A ratio far above 1 means the explanation, and "
               "likely the model, relies on the artifact.", className="muted"),
        table(ids.QUALITY_SHORTCUTS, qt.SHORTCUT_COLUMNS, rows, style_data_conditional=FAIL_ROWS),
    )


def update_checks_for(result: dict[str, Any], filt: str | None) -> list[dict[str, Any]]:
    return qt.check_rows(result, failed_only=filt == "failed")


def update_randomization_for(result: dict[str, Any], similarity: str | None) -> go.Figure:
    sim = similarity if similarity in qt.SIMILARITY else "checked"
    layers, threshold = qt.randomization(result, sim)
    return qfig.randomization_figure(layers, threshold=threshold,
                                     title=f"Similarity to the original explanation ({qt.SIMILARITY[sim]})")


def _load(ctx: AppContext, state: dict[str, Any] | None) -> Run | None:
    return ctx.run_by_id((state or {}).get("run_id"))


def update_checks(ctx: AppContext, filt: str | None, state: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Callback body: the check table for the filter ``all`` or ``failed``."""
    run = _load(ctx, state)
    return update_checks_for(run.result, filt) if run is not None else []


def update_randomization(ctx: AppContext, similarity: str | None, state: dict[str, Any] | None) -> go.Figure:
    """Callback body: the randomization chart for the measure ``checked``, ``abs`` or ``signed``."""
    run = _load(ctx, state)
    if run is None:
        return blank("Model-randomization sanity check", NO_RUN)
    return update_randomization_for(run.result, similarity)


def register_callbacks(app, ctx: AppContext) -> None:
    @app.callback(Output(ids.QUALITY_CHECKS, "data"), Input(ids.QUALITY_CHECK_FILTER, "value"),
                  State(ids.QUALITY_STATE, "data"), prevent_initial_call=True)
    def _checks(filt, state):
        return update_checks(ctx, filt, state)

    @app.callback(Output(ids.QUALITY_RANDOMIZATION, "figure"), Input(ids.QUALITY_SIMILARITY, "value"),
                  State(ids.QUALITY_STATE, "data"), prevent_initial_call=True)
    def _randomization(similarity, state):
        return update_randomization(ctx, similarity, state)

    urlsync.register(app, PAGE, {"checks": (ids.QUALITY_CHECK_FILTER, "value"),
                                 "similarity": (ids.QUALITY_SIMILARITY, "value")})
