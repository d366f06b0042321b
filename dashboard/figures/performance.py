"""Performance figures from tidy tables: rates by group, confusion matrix, reliability curves, ECE by group.

No Dash, no store access here: every function takes a DataFrame and returns a plotly Figure. Each figure is
assembled as one spec and validated once (``go.Figure(spec)``): plotly's incremental ``update_*`` / ``add_*``
calls re-validate the whole layout each time and cost several times more, which a stored view cannot afford.
"""
from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from deepaudit.dashboard.figures.base import FAIL_COLOUR, OKABE_ITO, PASS_COLOUR, REFERENCE_COLOUR, figure, look_for
from deepaudit.dashboard.figures.base import LAYOUT as _LAYOUT
from deepaudit.dashboard.figures.base import empty as blank

# Colours in order of distinctness on white (yellow last: it is faint on a white background).
SERIES = [OKABE_ITO[k] for k in ("blue", "orange", "green", "vermillion", "purple", "sky_blue", "black", "grey",
                                 "yellow")]
SYMBOLS = ["circle", "square", "diamond", "triangle-up"]
METRIC_LABELS = {"accuracy": "accuracy", "tpr": "true-positive rate (TPR)", "fpr": "false-positive rate (FPR)",
                 "ppv": "precision (PPV)", "selection_rate": "selection rate"}
# Sequential scale for shares 0..1 (white to Okabe-Ito blue): readable in grey, colour-blind safe.
SEQUENTIAL = [[0.0, "#FFFFFF"], [0.5, "#9CC3E0"], [1.0, "#0072B2"]]
LEGEND_BELOW = {"orientation": "h", "yanchor": "top", "y": -0.22, "xanchor": "left", "x": 0, "font": {"size": 12}}


def hline(y: float, text: str, *, colour: str = FAIL_COLOUR, dash: str = "dash", position: str = "top right",
          axis: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
    """A horizontal reference line across the plot of axis pair ``axis`` ('' or '2') and its label."""
    vert, horiz = position.split()
    shape = {"type": "line", "xref": f"x{axis} domain", "x0": 0, "x1": 1, "yref": f"y{axis}", "y0": y, "y1": y,
             "line": {"color": colour, "dash": dash, "width": 1.5}}
    label = {"text": text, "xref": f"x{axis} domain", "x": 1 if horiz == "right" else 0, "yref": f"y{axis}", "y": y,
             "xanchor": horiz, "yanchor": "bottom" if vert == "top" else "top", "showarrow": False,
             "font": {"size": 11, "color": colour}}
    return shape, label


def error_bars(t: pd.DataFrame, value: str = "value", lo: str = "lo", hi: str = "hi", **style: Any) -> dict[str, Any]:
    """Asymmetric error bars from interval columns (NaN ends draw no bar)."""
    v, low, high = (pd.to_numeric(t[c], errors="coerce") for c in (value, lo, hi))
    return {"type": "data", "symmetric": False, "array": (high - v).clip(lower=0).fillna(0).tolist(),
            "arrayminus": (v - low).clip(lower=0).fillna(0).tolist(), "thickness": 1.5, "width": 5, **style}


def group_rates_figure(table: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Rates per group with their 95% intervals, one trace per metric, grouped side by side.

    ``table`` is tidy: ``group``, ``metric`` (a key of :data:`METRIC_LABELS`), ``value``, ``lo``, ``hi``,
    ``n``. ``fig.data[i]`` is metric ``i`` in order of first appearance; ``y`` follows the group order.
    """
    title = title or "Rates by group (Wilson 95% CI)"
    t = table.dropna(subset=["value"]) if not table.empty else table
    if t.empty:
        return blank(title, "no group rates in this run")
    data = []
    for i, metric in enumerate(dict.fromkeys(t["metric"])):
        m = t[t["metric"] == metric].reset_index(drop=True)
        colour, label = SERIES[i % len(SERIES)], METRIC_LABELS.get(metric, metric)
        data.append({
            "type": "scatter", "x": m["group"].astype(str).tolist(), "y": m["value"].tolist(), "mode": "markers",
            "name": label, "marker": {"size": 11, "color": colour, "symbol": SYMBOLS[i % len(SYMBOLS)]},
            "error_y": error_bars(m, color=colour), "customdata": m[["lo", "hi", "n"]].to_numpy().tolist(),
            "hovertemplate": f"%{{x}} (n=%{{customdata[2]}})<br>{label} %{{y:.1%}}"
                             "<br>95% CI [%{customdata[0]:.1%}, %{customdata[1]:.1%}]<extra></extra>",
        })
    low = float(pd.to_numeric(t["lo"], errors="coerce").fillna(t["value"]).min())
    # Rates that all sit high (accuracy of a good model) get a zoomed axis, or their differences vanish.
    bottom = -0.02 if low < 0.5 else max(0.0, float(int((low - 0.02) * 20)) / 20)
    # Legend above the plot: long group names are rotated below it and would collide with a legend there.
    # The axis ends just above 100% (room for a dot at 100%, never a tick past it); dots are not clipped.
    for trace in data:
        trace["cliponaxis"] = False
    fig = figure(data, title, showlegend=True, height=400, margin={**_LAYOUT["margin"], "t": 90},
                 legend={"orientation": "h", "yanchor": "bottom", "y": 1.01, "xanchor": "left", "x": 0,
                         "font": {"size": 12}},
                 scattermode="group", scattergap=0.55,
                 yaxis={"title": {"text": "rate (%)"}, "tickformat": ".0%",
                        "range": [bottom, 1.01 if bottom > 0 else 1.02]},
                 xaxis={"title": {"text": "group"}, "automargin": True})
    return look_for(fig, "Dots at different heights for one rate: the model errs more for some groups.")


def confusion_figure(table: pd.DataFrame, *, classes: list[str], title: str | None = None) -> go.Figure:
    """Confusion matrix: colour is the row share (recall for the diagonal), text is count and row %.

    ``table`` is tidy, one row per (true, predicted) cell: ``true``, ``predicted`` (class names),
    ``count``, ``row_share``. Rows are true classes (first class on top), columns predicted classes;
    ``fig.data[0].customdata`` holds the counts.
    """
    title = title or "Confusion matrix"
    if table.empty or int(table["count"].sum()) == 0:
        return blank(title, "no predictions for this selection")
    names = [str(c) for c in classes]
    counts = table.pivot(index="true", columns="predicted", values="count").reindex(index=names, columns=names)
    shares = table.pivot(index="true", columns="predicted", values="row_share").reindex(index=names, columns=names)
    counts, shares = counts.fillna(0).astype(int).to_numpy(), shares.fillna(0.0).to_numpy()
    small = len(names) > 4
    zero = "" if small else "0"  # many classes: blank zeros keep the off-diagonal errors readable
    text = [[f"{c:,}<br>{s:.0%}" if c else zero for c, s in zip(cr, sr)] for cr, sr in zip(counts, shares)]
    data = [{
        "type": "heatmap", "z": shares.tolist(), "x": names, "y": names, "text": text, "texttemplate": "%{text}",
        "textfont": {"size": 10 if small else 14}, "customdata": counts.tolist(), "colorscale": SEQUENTIAL,
        "zmin": 0, "zmax": 1, "xgap": 1, "ygap": 1,
        "colorbar": {"title": {"text": "row %", "side": "right"}, "tickformat": ".0%", "thickness": 12},
        "hovertemplate": "true %{y} → predicted %{x}<br>%{customdata:,} samples<br>%{z:.1%} of true %{y}"
                         "<extra></extra>",
    }]
    return look_for(figure(data, title, height=560 if small else 360, margin={"l": 90, "r": 20, "t": 60, "b": 60},
                  xaxis={"title": {"text": "predicted class"}, "type": "category", "side": "bottom", "tickangle": 0},
                  yaxis={"title": {"text": "true class"}, "type": "category", "autorange": "reversed"}),
                    "Dark cells off the diagonal are the model's common mistakes (row % of each true class).")


def reliability_figure(table: pd.DataFrame, *, favorable: str = "favorable", title: str | None = None) -> go.Figure:
    """Reliability curves, one per group: observed share of ``favorable`` against the mean predicted score.

    ``table`` is tidy, one row per (group, score bin): ``group``, ``bin``, ``n_b``, ``mean_score``,
    ``observed_rate``, ``observed_lo``, ``observed_hi`` (Wilson 95%). Empty bins are skipped. Trace 0 is
    the diagonal, then one trace per group in order of first appearance.
    """
    title = title or "Reliability by group (Wilson 95% CI per bin)"
    t = table.dropna(subset=["mean_score", "observed_rate"]) if not table.empty else table
    if t.empty:
        return blank(title, "no calibration bins for this selection")
    data = [{"type": "scatter", "x": [0, 1], "y": [0, 1], "mode": "lines", "name": "perfect calibration",
             "hoverinfo": "skip", "line": {"color": REFERENCE_COLOUR, "dash": "dash", "width": 1.5}}]
    for i, (group, g) in enumerate(t.groupby("group", sort=False)):
        g = g.sort_values("bin").reset_index(drop=True)
        colour = SERIES[i % len(SERIES)]
        data.append({
            "type": "scatter", "x": g["mean_score"].tolist(), "y": g["observed_rate"].tolist(),
            "mode": "lines+markers", "name": str(group), "line": {"color": colour, "width": 1.5},
            "marker": {"size": 7, "color": colour},
            "error_y": error_bars(g, "observed_rate", "observed_lo", "observed_hi", color=colour, thickness=1),
            "customdata": g[["n_b", "observed_lo", "observed_hi"]].to_numpy().tolist(),
            "hovertemplate": f"{group}<br>mean score %{{x:.2f}}<br>observed %{{y:.1%}} "
                             "[%{customdata[1]:.1%}, %{customdata[2]:.1%}]<br>n = %{customdata[0]}<extra></extra>",
        })
    return look_for(figure(data, title, showlegend=True, height=400, margin={**_LAYOUT["margin"], "b": 120},
                  legend=LEGEND_BELOW,
                  xaxis={"title": {"text": f"mean predicted P({favorable}) in bin"}, "range": [-0.02, 1.02],
                         "tickformat": ".1f"},
                  yaxis={"title": {"text": f"observed share '{favorable}' (%)"}, "range": [-0.02, 1.05],
                         "tickformat": ".0%"}),
                    "On the dashed diagonal a score means what it says; a group's curve far from it does not.")


def ece_figure(table: pd.DataFrame, *, threshold: float | None = None, title: str | None = None) -> go.Figure:
    """Expected calibration error per group with its bootstrap 95% interval and the policy's maximum.

    ``table`` is tidy: ``group``, ``ece``, ``lo``, ``hi``, ``n``, optionally ``small_group``. Groups above
    ``threshold`` are drawn in the fail colour; small groups (not checked by the policy) in grey.
    """
    title = title or "Expected calibration error by group (bootstrap 95% CI)"
    if table.empty:
        return blank(title, "no calibration errors for this attribute")
    t = table.reset_index(drop=True)
    small = t["small_group"].fillna(False).astype(bool) if "small_group" in t else pd.Series(False, index=t.index)
    colours = [REFERENCE_COLOUR if s else (FAIL_COLOUR if threshold is not None and v > threshold else PASS_COLOUR)
               for v, s in zip(t["ece"], small)]
    data = [{
        "type": "scatter", "x": [f"{g} (small)" if s else str(g) for g, s in zip(t["group"], small)],
        "y": t["ece"].tolist(), "mode": "markers", "marker": {"size": 12, "color": colours},
        "error_y": error_bars(t, "ece", color="#444"), "customdata": t[["lo", "hi", "n"]].to_numpy().tolist(),
        "hovertemplate": "%{x} (n=%{customdata[2]})<br>ECE %{y:.3f}<br>95% CI [%{customdata[0]:.3f}, "
                         "%{customdata[1]:.3f}]<extra></extra>",
    }]
    top = float(pd.to_numeric(t["hi"], errors="coerce").max())
    top = max(top if top == top else 0.0, threshold or 0.0, float(t["ece"].max())) * 1.15 + 0.01
    shapes, notes = [], []
    if threshold is not None:
        shape, label = hline(threshold, f"policy maximum ({threshold:g})")
        shapes, notes = [shape], [label]
    return look_for(figure(data, title, shapes=shapes, annotations=notes, height=400,
                           yaxis={"title": {"text": "ECE (probability, 0–1)"}, "range": [0, top]},
                           xaxis={"title": {"text": "group"}, "automargin": True}),
                    "Dots above the policy line: that group's scores are off by more than the policy allows.")
