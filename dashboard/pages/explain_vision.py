"""Explanations page body for vision models: sample gallery, overlays per method, class-average maps.

The gallery lists the run's explained samples (``attr_<method>`` arrays: ``sample_index`` into the eval
data), filterable by true class, by cohort value (``column:value``, cohort columns of the predictions) and
by correctness; every filter and the selected sample live in the URL (``?cls=&cohort=&correct=&sample=``,
``sample`` being the stable ``sample_id``). The selected sample is drawn beside one attribution map per
method; the raw images come from the run directory (``arrays/display.npz``, :mod:`deepaudit.audit.display`: the model is
never loaded to show a stored run), and where a run has none the maps are drawn alone with a note.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html

from deepaudit.audit.display import read_display
from deepaudit.audit.store import Run
from deepaudit.dashboard import ids, urlsync
from deepaudit.dashboard.context import AppContext
from deepaudit.dashboard.figures import GRAPH_CONFIG, empty
from deepaudit.dashboard.figures import explain_vision as fig

SYNC = "explain-vision"
MAX_THUMBS = 60
CORRECT = {"all": "All", "correct": "Correct", "wrong": "Wrong"}
SCALES = {"sample": "This sample's max |attribution|", "run": "99th percentile over the run"}
NON_COHORT = {"sample_id", "y_true", "y_pred", "score"}
MAX_COHORT_VALUES = 20


@dataclass
class Explained:
    """The explained samples of a run: one row per sample (``table``) and the maps of each method."""

    table: pd.DataFrame                 # position, sample_id, sample_index, y_true, y_pred, correct, score, cohorts
    maps: dict[str, dict[str, np.ndarray]]
    cohorts: list[str]


def methods_of(run: Run) -> list[str]:
    """Methods with a stored ``attr_<method>`` array, in the run's order."""
    names = set(run.array_names())
    recorded = list(run.explanations.methods)
    extra = sorted(n[5:] for n in names if n.startswith("attr_") and n[5:] not in recorded)
    return [m for m in recorded if f"attr_{m}" in names] + extra


def explained(run: Run) -> Explained | None:
    methods = methods_of(run)
    if not methods:
        return None
    maps = {m: run.arrays(f"attr_{m}") for m in methods}
    main = maps[methods[0]]
    pred = run.predictions()
    idx = main["sample_index"].astype(int)
    rows = pred.iloc[idx].reset_index(drop=True)
    cohorts = [c for c in rows.columns if c not in NON_COHORT and not c.startswith("prob_")
               and rows[c].nunique(dropna=False) <= MAX_COHORT_VALUES]
    table = pd.DataFrame({"position": np.arange(len(idx)), "sample_id": main["sample_id"].astype(int),
                          "sample_index": idx, "y_true": rows["y_true"].astype(int),
                          "y_pred": rows["y_pred"].astype(int),
                          "score": rows["score"].astype(float), "explained_class": main["explained_class"].astype(int)})
    table["correct"] = table["y_true"] == table["y_pred"]
    for c in cohorts:
        table[c] = rows[c].astype("object").where(rows[c].notna(), "unknown").astype(str).to_numpy()
    return Explained(table, maps, cohorts)


def cohort_options(data: Explained) -> list[dict[str, str]]:
    return [{"label": f"{c} = {v}", "value": f"{c}:{v}"}
            for c in data.cohorts for v in sorted(data.table[c].unique())]


def filter_table(data: Explained, classes: list[str], cls: Any, cohort: Any, correct: Any) -> pd.DataFrame:
    t = data.table
    if cls in classes:
        t = t[t["y_true"] == classes.index(cls)]
    if isinstance(cohort, str) and ":" in cohort:
        col, value = cohort.split(":", 1)
        if col in data.cohorts:
            t = t[t[col] == value]
    if correct in ("correct", "wrong"):
        t = t[t["correct"] == (correct == "correct")]
    return t


def _images(run: Run) -> tuple[Any, str]:
    display = read_display(run)
    return (display, "") if display.images is not None else (None, display.note)


def _thumb(raw: Any, data: Explained, row: Any, classes: list[str]) -> dict[str, Any]:
    arr = raw.image(row.sample_index) if raw is not None else None
    if arr is None:
        arr = data.maps[next(iter(data.maps))]["attributions"][row.position]
    caption = f"{classes[row.y_true]}→{classes[row.y_pred]}"
    label = html.Span([html.Img(src=fig.png_data_uri(arr), alt=f"sample {row.sample_id}", className="xv-thumb-img"),
                       html.Span(caption, className="xv-thumb-caption")],
                      className="xv-thumb " + ("xv-right" if row.correct else "xv-wrong"),
                      title=f"sample {row.sample_id}: true {classes[row.y_true]}, predicted {classes[row.y_pred]}")
    return {"label": label, "value": str(row.sample_id)}


def update_gallery(ctx: AppContext, cls: Any, cohort: Any, correct: Any, sample: Any,
                   state: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None, list]:
    """Callback body: the thumbnails matching the filters, the selected sample id, the count line."""
    run = ctx.runs.get(state["run_id"])
    data = explained(run)
    if data is None:
        return [], None, ["This run stored no attributions."]
    classes = list(run.model.class_names)
    t = filter_table(data, classes, cls, cohort, correct)
    raw, note = _images(run)
    shown = t.head(MAX_THUMBS)
    if sample is not None and str(sample) in set(t["sample_id"].astype(str)) - set(shown["sample_id"].astype(str)):
        shown = pd.concat([t[t["sample_id"].astype(str) == str(sample)], shown.head(MAX_THUMBS - 1)])
    options = [_thumb(raw, data, r, classes) for r in shown.itertuples()]
    values = [o["value"] for o in options]
    value = str(sample) if sample is not None and str(sample) in values else (values[0] if values else None)
    n_wrong = int((~t["correct"]).sum())
    text = f"{len(t)} of {len(data.table)} explained samples match ({n_wrong} misclassified)"
    if len(t) > MAX_THUMBS:
        text += f"; showing the first {MAX_THUMBS}: narrow the filters to see the rest"
    parts: list = [text + "."]
    if raw is None:
        parts.append(html.Span(" Thumbnails show the first method's attribution map: " + note, className="muted"))
    return options, value, parts


def update_detail(ctx: AppContext, sample: Any, scale: Any, state: dict[str, Any]) -> tuple[list, go.Figure]:
    """Callback body: the selected sample's labels and the image beside one overlay per method."""
    run = ctx.runs.get(state["run_id"])
    data = explained(run)
    title = "Attributions of the selected sample"
    if data is None:
        return [html.P("This run stored no attributions.")], empty(title, "no attributions stored")
    try:
        sid = int(str(sample))
    except (TypeError, ValueError):
        sid = None
    match = data.table[data.table["sample_id"] == sid] if sid is not None else data.table.iloc[:0]
    if match.empty:
        msg = ("No explained sample matches the filters." if sample in (None, "")
               else f"Sample {sample!r} is not among this run's explained samples.")
        return [html.P(msg)], empty(title, "select a sample in the gallery")
    row = match.iloc[0]
    classes = list(run.model.class_names)
    raw, note = _images(run)
    stored = None if raw is None else raw.image(int(row["sample_index"]))
    image = None if stored is None else np.asarray(stored, dtype=float)
    maps, limits = {}, {}
    for m, arr in data.maps.items():
        pos = np.nonzero(arr["sample_id"].astype(int) == sid)[0]
        maps[m] = arr["attributions"][pos[0]] if len(pos) else None
        source = arr["attributions"] if scale == "run" else maps[m]
        limits[m] = fig.symmetric_limit(source if source is not None else 0.0, quantile=0.99 if scale == "run" else 1)
    verdict = html.Span("correct" if row["correct"] else "misclassified",
                        className="badge pass" if row["correct"] else "badge fail")
    facts = (f" sample {sid} · true {classes[int(row['y_true'])]} · predicted {classes[int(row['y_pred'])]} "
             f"(score {row['score']:.3f}) · explained class {classes[int(row['explained_class'])]}")
    detail = [html.P([verdict, facts], className="xv-facts")]
    if data.cohorts:
        detail.append(html.P(" · ".join(f"{c}: {row[c]}" for c in data.cohorts), className="muted xv-cohorts"))
    if note:
        detail.append(html.P(note, className="muted"))
    title = (f"Sample {sid}: true {classes[int(row['y_true'])]}, predicted {classes[int(row['y_pred'])]}"
             f" · colour scale: {SCALES.get(scale, SCALES['sample']).lower()}")
    return detail, fig.overlay_figure(image, maps, limits, title=title)


def class_maps(run: Run) -> go.Figure:
    names = set(run.array_names())
    methods = [m for m in methods_of(run) if f"view_{m}" in names] or sorted(
        n[5:] for n in names if n.startswith("view_"))
    maps = {m: run.arrays(f"view_{m}").get("class_maps") for m in methods}
    stored = run.explanations.methods
    counts = {m: [r["n"] for r in stored[m].tables.get("class_map_counts", [])] if m in stored else []
              for m in methods}
    return fig.class_maps_figure(maps, list(run.model.class_names), counts=counts,
                                 title="Class-average attribution maps (explained samples, by explained class)")


def _pick(value: Any, allowed: list[str], what: str, warnings: list[str]) -> str | None:
    if value in (None, ""):
        return None
    if value in allowed:
        return value
    warnings.append(f"Ignored {what} {str(value)[:60]!r} from the address: not one of this run's values.")
    return None


def body(ctx: AppContext, run: Run, query: dict[str, Any]) -> list:
    data = explained(run)
    if data is None:
        return [html.P("This run stored no attribution arrays, so there is nothing to show here. "
                       "Re-run the audit with at least one explanation method (deepaudit run --methods ...).")]
    classes = list(run.model.class_names)
    cohorts = cohort_options(data)
    warnings: list[str] = []
    cls = _pick(query.get("cls"), classes, "class", warnings)
    cohort = _pick(query.get("cohort"), [o["value"] for o in cohorts], "cohort", warnings)
    correct = _pick(query.get("correct"), list(CORRECT), "correctness filter", warnings) or "all"
    scale = _pick(query.get("scale"), list(SCALES), "colour scale", warnings) or "sample"
    sample = query.get("sample")
    filters = html.Div([
        html.Div([html.Label("True class", htmlFor=ids.EXPLAIN_VISION_CLASS),
                  dcc.Dropdown(id=ids.EXPLAIN_VISION_CLASS, value=cls, placeholder="all classes",
                               options=[{"label": c, "value": c} for c in classes])], className="xv-filter"),
        html.Div([html.Label("Cohort", htmlFor=ids.EXPLAIN_VISION_COHORT),
                  dcc.Dropdown(id=ids.EXPLAIN_VISION_COHORT, value=cohort, placeholder="all cohorts",
                               options=cohorts)], className="xv-filter xv-filter-wide"),
        html.Div([html.Label("Prediction", htmlFor=ids.EXPLAIN_VISION_CORRECT),
                  dcc.RadioItems(id=ids.EXPLAIN_VISION_CORRECT, value=correct, inline=True,
                                 options=[{"label": v, "value": k} for k, v in CORRECT.items()],
                                 className="xv-radio")], className="xv-filter"),
    ], className="xv-filters")
    methods = ", ".join(fig.method_label(m) for m in data.maps)
    explained_what = run.explanations.explained_class or "one class per sample"
    return [
        dcc.Store(id=ids.EXPLAIN_VISION_STATE, data={"run_id": run.run_id}),
        urlsync.sink(SYNC),
        *[html.P(w, className="reference") for w in warnings],
        html.P(f"{len(data.table)} samples explained with {methods}, toward {explained_what}. Gallery: dashed "
               "vermillion frame = misclassified, caption = true→predicted. Maps: vermillion raises the explained "
               "class's logit, blue lowers it, white is none; the black outline is the input.", className="muted"),
        filters,
        html.Div([
            html.Section([html.H2("Explained samples"), html.P(id=ids.EXPLAIN_VISION_COUNT, className="muted"),
                          dcc.RadioItems(id=ids.EXPLAIN_VISION_GALLERY, value=sample, options=[],
                                         className="xv-gallery", inputClassName="xv-thumb-input",
                                         labelClassName="xv-thumb-label")],
                         className="xv-gallery-panel card"),
            html.Section([
                html.Div([html.H2("Selected sample"),
                          html.Div([html.Label("Colour scale:", htmlFor=ids.EXPLAIN_VISION_SCALE),
                                    dcc.RadioItems(id=ids.EXPLAIN_VISION_SCALE, value=scale, inline=True,
                                                   options=[{"label": v, "value": k} for k, v in SCALES.items()],
                                                   className="xv-radio")], className="xv-scale")],
                         className="xv-detail-head"),
                html.Div(id=ids.EXPLAIN_VISION_DETAIL, className="xv-detail"),
                dcc.Graph(id=ids.EXPLAIN_VISION_OVERLAYS, config=GRAPH_CONFIG, className="chart"),
            ], className="xv-detail-panel card"),
        ], className="xv-layout"),
        html.Section([html.H2("Class-average maps"),
                      html.P("Mean attribution over the explained samples of each class (the class each map "
                             "explains; n in the column title). Each method's row shares one colour scale, "
                             "clipped at the 99.5th percentile of its |attribution|. A strong spot away from "
                             "the strokes, such as a corner, is the signature of a shortcut.", className="muted"),
                      dcc.Graph(id=ids.EXPLAIN_VISION_CLASS_MAPS, figure=class_maps(run), config=GRAPH_CONFIG,
                                className="chart")]),
    ]


def register_callbacks(app, ctx: AppContext) -> None:
    @app.callback(Output(ids.EXPLAIN_VISION_GALLERY, "options"), Output(ids.EXPLAIN_VISION_GALLERY, "value"),
                  Output(ids.EXPLAIN_VISION_COUNT, "children"),
                  Input(ids.EXPLAIN_VISION_CLASS, "value"), Input(ids.EXPLAIN_VISION_COHORT, "value"),
                  Input(ids.EXPLAIN_VISION_CORRECT, "value"), State(ids.EXPLAIN_VISION_GALLERY, "value"),
                  State(ids.EXPLAIN_VISION_STATE, "data"))
    def _gallery(cls, cohort, correct, sample, state):
        return update_gallery(ctx, cls, cohort, correct, sample, state)

    @app.callback(Output(ids.EXPLAIN_VISION_DETAIL, "children"), Output(ids.EXPLAIN_VISION_OVERLAYS, "figure"),
                  Input(ids.EXPLAIN_VISION_GALLERY, "value"), Input(ids.EXPLAIN_VISION_SCALE, "value"),
                  State(ids.EXPLAIN_VISION_STATE, "data"))
    def _detail(sample, scale, state):
        return update_detail(ctx, sample, scale, state)

    urlsync.register(app, SYNC, {"cls": (ids.EXPLAIN_VISION_CLASS, "value"),
                                 "cohort": (ids.EXPLAIN_VISION_COHORT, "value"),
                                 "correct": (ids.EXPLAIN_VISION_CORRECT, "value"),
                                 "scale": (ids.EXPLAIN_VISION_SCALE, "value"),
                                 "sample": (ids.EXPLAIN_VISION_GALLERY, "value")})
