"""Finance explanation figures from tidy tables: global importance, one applicant's attributions, what-if.

Pure functions (DataFrame -> plotly Figure): no Dash, no store. Bars are horizontal so that long readable
feature names stay legible; colours are Okabe-Ito (blue: toward the favourable outcome or "higher raises",
vermillion: toward the unfavourable one or "higher lowers", grey: neither).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from deepaudit.dashboard.figures.base import (
    FAIL_COLOUR,
    LAYOUT,
    LOOK_FOR_STYLE,
    OKABE_ITO,
    PASS_COLOUR,
    REFERENCE_COLOUR,
    FigureLike,
    empty,
    figure,
    look_for,
    title_top,
)

BAR_PX = 26             # height per bar, so that a label never overlaps the next one
DIRECTIONS = [("higher raises", "higher value raises the score", PASS_COLOUR),
              ("higher lowers", "higher value lowers the score", FAIL_COLOUR),
              ("constant", "constant over the explained applicants", REFERENCE_COLOUR)]


def _layout(fig: go.Figure, title: str, n_bars: int, *, legend: bool = True) -> go.Figure:
    fig.update_layout(**{**LAYOUT, "title": {"text": title, "x": 0.01, "xanchor": "left"},
                         "height": max(260, 150 + BAR_PX * n_bars), "showlegend": legend,
                         "margin": {"l": 20, "r": 30, "t": 86, "b": 56}, "bargap": 0.25,
                         "legend": {"orientation": "h", "x": 0, "y": 1.0, "xanchor": "left", "yanchor": "bottom"}})
    fig.update_yaxes(automargin=True, ticks="", title=None)
    return fig


def importance_figure(table: pd.DataFrame, *, title: str, unit: str, top: int = 15) -> go.Figure:
    """Mean |attribution| per feature (top ``top``), coloured by direction, with a 95% interval.

    ``table`` has ``label``, ``mean_abs``, ``direction`` and optionally ``lo``/``hi`` (interval of the mean),
    ``share`` and ``value_corr``; rows are shown in the order given (most important first, at the top).
    """
    if table.empty:
        return empty(title, "no feature importance table for this method")
    t = table.head(top).reset_index(drop=True)
    order = t["label"].tolist()[::-1]
    fig = go.Figure()
    for key, name, colour in DIRECTIONS:
        part = t[t["direction"] == key]
        if part.empty:
            continue
        err = None
        if {"lo", "hi"} <= set(part.columns):
            err = {"type": "data", "symmetric": False, "array": (part["hi"] - part["mean_abs"]).clip(lower=0),
                   "arrayminus": (part["mean_abs"] - part["lo"]).clip(lower=0), "color": "#444",
                   "thickness": 1.2, "width": 4}
        custom = part[[c for c in ("share", "value_corr", "lo", "hi") if c in part.columns]]
        fig.add_trace(go.Bar(
            x=part["mean_abs"], y=part["label"], orientation="h", name=name, marker_color=colour, error_x=err,
            customdata=custom.to_numpy(),
            hovertemplate="%{y}<br>mean |attribution| %{x:.3f} " + unit
                          + ("<br>share of total %{customdata[0]:.1%}" if "share" in custom else "")
                          + ("<br>Spearman(value, attribution) %{customdata[1]:.2f}" if "value_corr" in custom else "")
                          + "<extra>" + name + "</extra>"))
    _layout(fig, title, len(t))
    fig.update_yaxes(categoryorder="array", categoryarray=order)
    fig.update_xaxes(title=f"mean |attribution| ({unit})", rangemode="tozero")
    return look_for(fig, "The longest bars move the score most: check that each is an input the decision may rely on.")


def applicant_figure(table: pd.DataFrame, *, title: str, unit: str, favorable: str, unfavorable: str,
                     signed: bool = True, top: int = 10) -> go.Figure:
    """One applicant's attributions: the ``top`` largest by size, then the rest summed in one grey bar.

    ``table`` has ``label`` (shown on the axis, e.g. "loan / price = 0.93") and ``attribution``. Unsigned
    methods (saliency) are drawn as magnitudes in one colour.
    """
    if table.empty:
        return empty(title, "no attributions stored for this applicant")
    t = table.assign(size=table["attribution"].abs()).sort_values("size", ascending=False, kind="mergesort")
    head, rest = t.head(top), t.iloc[top:]
    labels, values = head["label"].tolist(), head["attribution"].tolist()
    colours = ([PASS_COLOUR if v >= 0 else FAIL_COLOUR for v in values] if signed
               else [OKABE_ITO["sky_blue"]] * len(values))
    if len(rest):
        labels.append(f"all other {len(rest)} features (sum)")
        values.append(float(rest["attribution"].sum()))
        colours.append(REFERENCE_COLOUR)
    fig = go.Figure(go.Bar(x=values, y=labels, orientation="h", marker_color=colours, showlegend=False,
                           hovertemplate="%{y}<br>attribution %{x:.3f} " + unit + "<extra></extra>"))
    if signed:  # legend-only entries explain the colours
        for name, colour in ((f"toward {favorable}", PASS_COLOUR), (f"toward {unfavorable}", FAIL_COLOUR)):
            fig.add_trace(go.Bar(x=[None], y=[None], orientation="h", name=name, marker_color=colour,
                                 hoverinfo="skip"))
    _layout(fig, title, len(labels), legend=signed)
    fig.update_yaxes(categoryorder="array", categoryarray=labels[::-1])
    axis = f"attribution toward {favorable} ({unit})" if signed else f"|attribution| ({unit})"
    fig.update_xaxes(title=axis, zeroline=True, zerolinecolor="#444", zerolinewidth=1)
    sentence = (f"Bars toward {unfavorable} lowered this score; the longest come first among the reasons."
                if signed else "The longest bars influenced this applicant's score most.")
    return look_for(fig, sentence)


def whatif_figure(table: pd.DataFrame, *, title: str, unit: str, favorable: str, top: int = 10) -> FigureLike:
    """Attributions before and after an edit, side by side, for the ``top`` features that matter most.

    ``table`` has ``label``, ``original``, ``edited``; features are ranked by the larger of the two sizes
    (ties in table order). Served as a plain dict (:func:`~deepaudit.dashboard.figures.base.plain_figure`).
    """
    if table.empty:
        return empty(title, "nothing to compare")
    labels = table["label"].tolist()
    original, edited = table["original"].to_numpy(dtype=float), table["edited"].to_numpy(dtype=float)
    size = np.fmax(np.abs(original), np.abs(edited))          # the larger size; NaN only where both are
    keep = np.argsort(-np.where(np.isnan(size), -np.inf, size), kind="stable")[:top]   # largest first, NaN last
    order = [labels[i] for i in keep][::-1]
    # One construction (figure()): the what-if answers live requests, and plotly's incremental update_* calls
    # re-validate the whole layout each time (50 ms -> a few ms per figure).
    traces = [{"type": "bar", "x": values[keep].tolist(), "y": [labels[i] for i in keep], "orientation": "h",
               "name": name, "marker": {"color": colour},
               "hovertemplate": "%{y}<br>" + name + ": %{x:.3f} " + unit + "<extra></extra>"}
              for values, name, colour in ((original, "original applicant", REFERENCE_COLOUR),
                                           (edited, "edited applicant", OKABE_ITO["blue"]))]
    # the look-for line written into the title directly: look_for() would re-validate the layout
    text = (f"{title}<br><span style='{LOOK_FOR_STYLE}'>Where the blue bar differs from the grey one, the edit "
            "changed that input's influence.</span>")
    height = max(280, 170 + BAR_PX * int(2 * len(keep) * 0.75))
    return figure(traces, {"text": text, "x": 0.01, "xanchor": "left", "yanchor": "top", "y": title_top(text, height)},
                  plain=True, height=height, showlegend=True,
                  margin={"l": 20, "r": 30, "t": 106, "b": 56}, bargap=0.3, bargroupgap=0.05, barmode="group",
                  legend={"orientation": "h", "x": 0, "y": 1.0, "xanchor": "left", "yanchor": "bottom"},
                  yaxis={"automargin": True, "ticks": "", "title": None, "categoryorder": "array",
                         "categoryarray": order},
                  xaxis={"title": {"text": f"attribution toward {favorable} ({unit})"}, "zeroline": True,
                         "zerolinecolor": "#444", "zerolinewidth": 1})
