"""Explanations page body for text models: stored token heatmaps, a live explanation, counterfactual probes.

- Stored: the run's explained reviews (``attr_<method>`` arrays; the review texts and the tokens the model read
  come from the run directory, :mod:`deepaudit.audit.display`, never from loading the model) as coloured token spans,
  one
  method at a time (``?review=<sample_id>&method=``).
- Live: a review the user types, predicted and explained the way the run explained its samples
  (:mod:`deepaudit.dashboard.live_text`), at most ``MAX_CHARS`` characters.
- Counterfactual probes: ``run.fairness.probes["counterfactual"]`` pairs (name swaps and identity
  terms) as a table and a dot-and-interval chart, filterable by attribute (``?probe=``).
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, State, dash_table, dcc, html

from deepaudit.audit.display import read_display
from deepaudit.audit.explain import get_explainer
from deepaudit.audit.report.examples import MAX_REVIEW_TOKENS, MIN_REVIEW_TOKENS
from deepaudit.audit.store import Run
from deepaudit.dashboard import evidence, ids, urlsync
from deepaudit.dashboard.context import AppContext
from deepaudit.dashboard.figures import GRAPH_CONFIG
from deepaudit.dashboard.figures import explain_nlp as fig
from deepaudit.dashboard.figures.explain_vision import method_label
from deepaudit.dashboard.live_text import MAX_CHARS, live_method, live_spec, run_target, validate_text
from deepaudit.dashboard.pages import checks
from deepaudit.dashboard.pages.explain_vision import methods_of

SYNC = "explain-nlp"
NO_TOKENS = ("This run stored its review texts without the tokens the model read (the model has no tokenizer), "
             "so token heatmaps cannot be drawn.")
NOT_STORED = ("This review's text was not stored with the run (the run keeps a bounded number of texts for "
              "display), so its heatmap cannot be drawn.")
TABLE_STYLE = {
    "style_table": {"overflowX": "auto"},
    "style_cell": {"fontFamily": "inherit", "fontSize": 13, "padding": "4px 8px", "textAlign": "left"},
    "style_header": {"fontWeight": "600", "backgroundColor": "#f3f4f6"},
}
LIVE_HINT = "Type a review and press Explain: the model's prediction and each word's attribution appear here."


def _signed(method: str) -> bool:
    try:
        return bool(get_explainer(method).signed)
    except ValueError:
        return True


def reviews(run: Run) -> pd.DataFrame:
    """One row per explained review: sample_id, sample_index, labels, score, token count, text snippet."""
    methods = methods_of(run)
    if not methods:
        return pd.DataFrame(columns=["sample_id", "sample_index", "y_true", "y_pred", "score", "n_tokens", "snippet"])
    arr = run.arrays(f"attr_{methods[0]}")
    idx = arr["sample_index"].astype(int)
    pred = run.predictions().iloc[idx].reset_index(drop=True)
    display = read_display(run)
    texts = [display.text(k) or "" for k in idx]
    return pd.DataFrame({
        "sample_id": arr["sample_id"].astype(int), "sample_index": idx, "y_true": pred["y_true"].astype(int),
        "y_pred": pred["y_pred"].astype(int), "score": pred["score"].astype(float),
        "n_tokens": [display.n_tokens(k) for k in idx],
        "snippet": [(t[:70].replace("<br />", " ") + ("…" if len(t) > 70 else "")) for t in texts]})


def default_review(table: pd.DataFrame) -> str | None:
    if table.empty:
        return None
    fits = table[(table["n_tokens"] >= MIN_REVIEW_TOKENS) & (table["n_tokens"] <= MAX_REVIEW_TOKENS)]
    return str((fits if not fits.empty else table)["sample_id"].iloc[0])


def _review_label(r: Any, classes: list[str]) -> str:
    wrong = " · misclassified" if r.y_true != r.y_pred else ""
    return f"#{r.sample_id} · true {classes[r.y_true]} · predicted {classes[r.y_pred]}{wrong} · {r.snippet}"


def _heatmap(text: str, tokens: pd.DataFrame, explained: str, method: str) -> list:
    segs = fig.segments(text, tokens)
    zmax = fig.scale_limit(tokens["attribution"]) if len(tokens) else 1.0
    return [fig.legend(explained, zmax, signed=_signed(method)),
            html.Div(fig.token_spans(segs, zmax=zmax), className="xn-text")]


def update_stored(ctx: AppContext, review: Any, method: Any, state: dict[str, Any]) -> tuple[list, list]:
    """Callback body: the facts line and the coloured text of one stored review under one method."""
    run = ctx.runs.get(state["run_id"])
    methods = methods_of(run)
    if method not in methods:
        return [html.P(f"Method {str(method)[:60]!r} has no stored attributions in this run "
                       f"(stored: {', '.join(methods) or 'none'}).")], []
    display = read_display(run)
    if display.tokens is None:
        return [html.P(display.note or NO_TOKENS, className="muted")], []
    arr = run.arrays(f"attr_{method}")
    pos = np.nonzero(arr["sample_id"].astype(str) == str(review))[0]
    if not len(pos):
        return [html.P(f"Review {str(review)[:60]!r} is not among this run's explained reviews.")], []
    i = int(pos[0])
    k = int(arr["sample_index"][i])
    p = run.predictions().iloc[k]
    classes = list(run.model.class_names)
    text = display.text(k)
    tokens = display.token_attributions(k, arr["attributions"][i])
    if text is None or tokens is None:
        return [html.P(NOT_STORED, className="muted")], []
    explained = classes[int(arr["explained_class"][i])]
    fav = run.model.favorable_label
    score = f"P({fav}) = {p[f'prob_{fav}']:.3f}" if fav and f"prob_{fav}" in p else f"score {p['score']:.3f}"
    facts = [html.Span("correct" if p["y_true"] == p["y_pred"] else "misclassified",
                       className="badge pass" if p["y_true"] == p["y_pred"] else "badge fail"),
             f" true {classes[int(p['y_true'])]} · predicted {classes[int(p['y_pred'])]} ({score}) · "
             f"{method_label(method)} toward '{explained}' · {len(tokens)} tokens read · "
             f"attributions sum to {tokens['attribution'].sum():+.3f}"]
    return [html.P(facts, className="xn-facts")], _heatmap(text, tokens, explained, method)


def _batched(n: int) -> str:
    return f" (in one pass with {n - 1} other live request{'s' if n > 2 else ''})" if n > 1 else ""


def update_live(ctx: AppContext, n_clicks: Any, text: Any, state: dict[str, Any]) -> list:
    """Callback body: validate the typed review, predict and explain it, render the result."""
    if not n_clicks:
        return [html.P(LIVE_HINT, className="muted")]
    error = validate_text(text)
    if error:
        return [html.P(error, className="xn-error", role="alert")]
    run = ctx.runs.get(state["run_id"])
    target, note = run_target(ctx, run)
    if target is None:
        return [html.P(note, className="xn-error", role="alert")]
    method, options = live_method(run)
    spec = live_spec(run)

    def explain_batch(texts: list[str]) -> list[Any]:
        return ctx.live.explain_texts(spec, texts, method, options)

    try:
        # requests for the same model, method and options arriving together share one pass
        key = ("text", spec, method, json.dumps(options, sort_keys=True, default=str))
        res, _ = ctx.live.batcher.submit(key, text, explain_batch)
    except (ValueError, TypeError, RuntimeError) as exc:
        return [html.P(f"The model could not explain this text: {exc}", className="xn-error", role="alert")]
    probs = " · ".join(f"P({c}) = {p:.3f}" for c, p in res.probabilities.items())
    steps = f", {options['n_steps']} steps" if "n_steps" in options else ""
    out = [html.P([html.Strong(f"Predicted: {res.predicted}"), f" ({res.probabilities[res.predicted]:.1%}) · {probs}"],
                  className="xn-prediction"),
           html.P(f"{method_label(method)}{steps} (the run's settings) toward '{res.explained}'; "
                  f"computed in {res.seconds * 1000:.0f} ms{_batched(res.batch_size)}.", className="muted")]
    c = res.completeness
    if c:
        ok = c["relative_error"] <= 0.05
        out.append(html.P(
            f"Completeness: attributions sum to {c['attribution_sum']:+.3f}; the logit moved "
            f"{c['logit'] - c['path_start_logit']:+.3f} from the baseline (relative error "
            f"{c['relative_error']:.1%}, {'within' if ok else 'outside'} the 5% tolerance).",
            className="muted" if ok else "xn-error"))
    if note:
        out.append(html.P(note, className="muted"))
    if res.tokens.empty:
        out.append(html.P("The tokenizer gives no character offsets, so attributions cannot be placed on the text."))
        return out
    return out + _heatmap(text, res.tokens, res.explained, method)


def probe_of(run: Run) -> dict[str, Any] | None:
    probe = run.fairness.probes.get("counterfactual")
    return probe if isinstance(probe, dict) and probe.get("pairs") else None


def update_probes(ctx: AppContext, attribute: Any, state: dict[str, Any]) -> tuple[list[dict[str, Any]], go.Figure]:
    """Callback body: the pair rows and the chart of one attribute (all attributes for None: a long chart)."""
    run = ctx.runs.get(state["run_id"])
    pairs = fig.pairs_table(probe_of(run) or {})
    if attribute not in (None, "") and attribute in set(pairs["attribute"]):
        pairs = pairs[pairs["attribute"] == attribute].reset_index(drop=True)
    favorable = run.model.favorable_label or "favorable"
    return fig.pairs_display_rows(pairs), fig.counterfactual_figure(pairs, favorable=favorable)


def _probe_section(run: Run, attribute: Any, warnings: list[str]) -> html.Section:
    probe = probe_of(run)
    head = html.H2("Counterfactual probes")
    if probe is None:
        return html.Section([head, html.P("This run has no counterfactual probe results (the probe needs a text "
                                          "model with a favorable label).", className="muted")],
                            id=evidence.COUNTERFACTUAL)
    all_pairs = fig.pairs_table(probe)
    attrs = list(dict.fromkeys(all_pairs["attribute"]))
    if attribute not in (None, "") and attribute not in attrs:
        warnings.append(f"Ignored probe attribute {str(attribute)[:60]!r} from the address: not in this run.")
        attribute = None
    if not attribute:  # open on the first attribute with a failing check, not on a passing one
        failing = [c.subject for c in evidence.page_checks(run.checks, "explanations")
                   if c.family.startswith("counterfactual_") and not c.passed and c.subject in attrs]
        attribute = failing[0] if failing else (attrs[0] if attrs else None)
    s = probe.get("settings", {})
    method = (probe.get("pairs") or [{}])[0].get("method", "")
    return html.Section([
        head,
        html.P(f"Each template sentence is filled with every name or identity term of a group; the model's "
               f"P({s.get('favorable_label', 'favorable')}) is compared between groups on the same templates "
               f"({s.get('n_instances', '?')} sentences). Mean difference a − b in percentage points with its 95% "
               f"interval ({method}); "
               "* marks an interval that excludes 0. 'Templates flipped' is the share of templates whose "
               "predicted class differs between the two groups.", className="muted"),
        html.P(fig.significance_summary(all_pairs), className="reference"),
        checks.checks_box(run, "explanations", families=("counterfactual_",)),
        html.Div([html.Label("Attribute", htmlFor=ids.EXPLAIN_NLP_PROBE_ATTRIBUTE),
                  dcc.Dropdown(id=ids.EXPLAIN_NLP_PROBE_ATTRIBUTE, value=attribute, placeholder="all attributes",
                               options=[{"label": a, "value": a} for a in attrs])], className="control"),
        dash_table.DataTable(id=ids.EXPLAIN_NLP_PROBE_TABLE,
                             columns=[{"name": t, "id": c} for c, t in fig.PAIR_COLUMNS],
                             page_size=12, sort_action="native", **TABLE_STYLE),
        dcc.Graph(id=ids.EXPLAIN_NLP_PROBE_CHART, config=GRAPH_CONFIG, className="chart xn-probe-chart"),
        html.Ul([html.Li(n) for n in probe.get("notes", [])], className="xn-notes muted"),
    ], id=evidence.COUNTERFACTUAL)


def body(ctx: AppContext, run: Run, query: dict[str, Any]) -> list:
    warnings: list[str] = []
    methods = methods_of(run)
    table = reviews(run)
    classes = list(run.model.class_names)
    review = query.get("review")
    if review not in (None, "") and review not in set(table["sample_id"].astype(str)):
        warnings.append(f"Ignored review {str(review)[:60]!r} from the address: not an explained review of this run.")
        review = None
    method = query.get("method")
    if method not in (None, "") and method not in methods:
        warnings.append(f"Ignored method {str(method)[:60]!r} from the address: not stored in this run.")
        method = None
    preferred = [m for m in ("integrated_gradients",) if m in methods]
    method = method or (preferred or methods or [None])[0]
    stored = [html.H2("Stored explanations")]
    if not methods:
        stored.append(html.P("This run stored no token attributions."))
    else:
        stored += [
            html.Div([
                html.Div([html.Label("Review", htmlFor=ids.EXPLAIN_NLP_REVIEW),
                          dcc.Dropdown(id=ids.EXPLAIN_NLP_REVIEW, value=review or default_review(table),
                                       clearable=False, maxHeight=480, optionHeight=48,
                                       options=[{"label": _review_label(r, classes),
                                                                  "value": str(r.sample_id)}
                                                                 for r in table.itertuples()])],
                         className="xn-review-pick"),
                html.Div([html.Label("Method", htmlFor=ids.EXPLAIN_NLP_METHOD),
                          dcc.RadioItems(id=ids.EXPLAIN_NLP_METHOD, value=method, inline=True,
                                         options=[{"label": method_label(m), "value": m} for m in methods],
                                         className="xn-radio")]),
            ], className="xn-controls"),
            html.Div(id=ids.EXPLAIN_NLP_HEATMAP, className="xn-heatmap"),
        ]
    live = html.Section([
        html.H2("Explain your own review"),
        html.P(f"Up to {MAX_CHARS:,} characters. The review is explained the way the run explained its "
               "samples (same method and settings); nothing you type is stored.", className="muted"),
        dcc.Textarea(id=ids.EXPLAIN_NLP_TEXT, className="xn-textarea", value="",
                     placeholder="e.g. The acting was wonderful but the plot made no sense at all."),
        html.Div([html.Button("Explain", id=ids.EXPLAIN_NLP_BUTTON, n_clicks=0, className="button xn-button"),
                  html.Span(id=ids.EXPLAIN_NLP_COUNT, className="muted")], className="xn-actions"),
        dcc.Loading(html.Div(id=ids.EXPLAIN_NLP_LIVE, className="xn-live"), type="dot"),
    ], className="card xn-live-card")
    probes = _probe_section(run, query.get("probe"), warnings)
    top = [html.P(w, className="reference") for w in warnings]
    note = read_display(run).note if methods else ""
    if note:
        top.append(html.P(note, className="muted"))
    return [dcc.Store(id=ids.EXPLAIN_NLP_STATE, data={"run_id": run.run_id}), urlsync.sink(SYNC), *top,
            html.Section(stored), live, probes]


def register_callbacks(app, ctx: AppContext) -> None:
    @app.callback(Output(ids.EXPLAIN_NLP_HEATMAP, "children"),
                  Input(ids.EXPLAIN_NLP_REVIEW, "value"), Input(ids.EXPLAIN_NLP_METHOD, "value"),
                  State(ids.EXPLAIN_NLP_STATE, "data"))
    def _stored(review, method, state):
        facts, heat = update_stored(ctx, review, method, state)
        return facts + heat

    @app.callback(Output(ids.EXPLAIN_NLP_LIVE, "children"), Input(ids.EXPLAIN_NLP_BUTTON, "n_clicks"),
                  State(ids.EXPLAIN_NLP_TEXT, "value"), State(ids.EXPLAIN_NLP_STATE, "data"))
    def _live(n_clicks, text, state):
        return update_live(ctx, n_clicks, text, state)

    @app.callback(Output(ids.EXPLAIN_NLP_PROBE_TABLE, "data"), Output(ids.EXPLAIN_NLP_PROBE_CHART, "figure"),
                  Input(ids.EXPLAIN_NLP_PROBE_ATTRIBUTE, "value"), State(ids.EXPLAIN_NLP_STATE, "data"))
    def _probes(attribute, state):
        return update_probes(ctx, attribute, state)

    app.clientside_callback(
        "function(v) { const n = (v || '').length; return n.toLocaleString('en-US') + ' / %s characters'"
        " + (n > %d ? ' (too long)' : ''); }" % (f"{MAX_CHARS:,}", MAX_CHARS),
        Output(ids.EXPLAIN_NLP_COUNT, "children"), Input(ids.EXPLAIN_NLP_TEXT, "value"))

    urlsync.register(app, SYNC, {"review": (ids.EXPLAIN_NLP_REVIEW, "value"),
                                 "method": (ids.EXPLAIN_NLP_METHOD, "value"),
                                 "probe": (ids.EXPLAIN_NLP_PROBE_ATTRIBUTE, "value")})
