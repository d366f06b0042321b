"""Shared figure style: the Okabe-Ito palette, one layout, an empty-figure placeholder. No Dash, no store."""
from __future__ import annotations

import os

import plotly.graph_objects as go

# Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO = {
    "orange": "#E69F00", "sky_blue": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
    "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "grey": "#999999", "black": "#000000",
}
PASS_COLOUR = OKABE_ITO["blue"]
FAIL_COLOUR = OKABE_ITO["vermillion"]
REFERENCE_COLOUR = OKABE_ITO["grey"]
FOUR_FIFTHS = 0.8

# Axis and page style of plotly's "plotly_white", written out: naming a template costs ~9 ms of validation
# per figure, and a page draws several. ``template: {}`` means no template at all.
AXIS = {"gridcolor": "#EBF0F8", "linecolor": "#EBF0F8", "zerolinecolor": "#EBF0F8", "zerolinewidth": 2,
        "automargin": True, "ticks": "", "title": {"standoff": 15}}
LAYOUT = {"template": {}, "font": {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 13},
          "margin": {"l": 70, "r": 20, "t": 60, "b": 50}, "height": 340, "title_font_size": 14,
          "showlegend": False, "paper_bgcolor": "white", "plot_bgcolor": "white", "hovermode": "closest",
          "hoverlabel": {"align": "left"}, "xaxis": AXIS, "yaxis": AXIS,
          "colorway": [OKABE_ITO[k] for k in ("blue", "orange", "green", "vermillion", "purple", "sky_blue", "black")]}


#: What a builder returns when it may return a plain dict (:func:`plain_figure`).
FigureLike = go.Figure | dict

#: Set to "1" (the test suite does) to have plotly validate every figure as it is built.
VALIDATE_ENV = "DEEPAUDIT_VALIDATE_FIGURES"


def validating() -> bool:
    """Whether figures are validated by plotly while they are built.

    Validation checks every property name and value against plotly's schema, and it costs three quarters of
    building a figure (~13 ms of a 4-trace dot plot). The builders here write fixed property names, so the
    test suite validates every figure it builds (``DEEPAUDIT_VALIDATE_FIGURES=1``, tests/conftest.py), and a
    test checks that validated and unvalidated figures serialise to the same JSON. The server builds
    figures without it.
    """
    return os.environ.get(VALIDATE_ENV) == "1"


def new_figure(data: list, layout: dict) -> go.Figure:
    """``go.Figure(data, layout)``, validated only under :func:`validating`. ``data`` holds trace dicts
    (``{"type": "scatter", ...}``) or traces made with :func:`trace`."""
    return go.Figure(data=data, layout=layout, _validate=validating())


def plain_figure(data: list, layout: dict) -> FigureLike:
    """A figure that nothing edits after it is built: :func:`new_figure` (a validated ``go.Figure``) under
    :func:`validating`, else the plain ``{"data": ..., "layout": ...}`` dict that Dash serialises as it is.

    Skipping plotly's object tree saves building it (~5 ms a figure) and turning it back into a dict when the
    response is written (~5 ms): most of a threshold-slider answer. Only builders whose figures go straight
    into a callback's output use it; tests/dashboard/test_figure_validation.py checks that both serialise alike.
    """
    if validating():
        return new_figure(data, layout)
    # containers copied (arrays shared): builders spread module constants (LAYOUT, AXIS) into their layouts, and
    # a figure that is cached and served again must never be a way to change them. A property set to None is
    # left out, as plotly's validation leaves it out (unset); None inside a data list stays (a gap).
    return {"data": _containers(data), "layout": _containers(layout)}


def _containers(x):
    if isinstance(x, dict):
        return {k: _containers(v) for k, v in x.items() if v is not None}
    if isinstance(x, list):
        return [_containers(v) for v in x]
    return x


def trace(kind: str, **props) -> dict:
    """One trace as a dict (``kind``: "scatter", "bar", "heatmap", ...): validated with its figure, if at all."""
    return {"type": kind, **props}


def figure(data: list, title: str | dict, *, plain: bool = False, **layout) -> FigureLike:
    """One figure from trace dicts (or traces) and layout keys over :data:`LAYOUT`, validated once.

    plotly's incremental ``update_*`` / ``add_*`` calls re-validate the whole layout each time. ``plain``: a
    figure nothing edits after it is built, served as a plain dict (:func:`plain_figure`).
    """
    lay = {**LAYOUT, "title": title if isinstance(title, dict) else {"text": title}, **layout}
    for ax in [k for k in layout if k.startswith(("xaxis", "yaxis"))]:
        lay[ax] = {**AXIS, **layout[ax]}
    if not plain:
        return new_figure(data, lay)
    # plotly's shorthand, which a plain dict would carry to plotly.js unexpanded
    size = lay.pop("title_font_size", None)
    if size is not None:
        lay["title"] = {**lay["title"], "font": {"size": size, **lay["title"].get("font", {})}}
    return plain_figure(data, lay)


#: Style of the line under a chart's title that says what a reader should look for (tests find it by it).
LOOK_FOR_STYLE = "font-size:12px;color:#24292f"


def title_top(text: str, height: float) -> float:
    """The title's ``y`` (container fraction, with ``yanchor="top"``) that keeps a multi-line title inside the
    figure: plotly places a title block about one line higher per line past the second."""
    lines = text.count("<br>") + 1
    return 1 - (12 + 12 * max(0, lines - 2)) / max(float(height), 100.0)


def title_with(title: str, sentence: str) -> str:
    """Title text with the look-for line under it, for builders that write their layout in one piece (each
    ``update_layout`` re-validates the whole figure); they add 20 px to the top margin themselves."""
    return f"{title}<br><span style='{LOOK_FOR_STYLE}'>{sentence}</span>"


def look_for(fig: go.Figure, sentence: str) -> go.Figure:
    """Put ``sentence`` (one sentence: what to look for in this chart) under the chart's title, above any
    technical subtitle, and make room for it; returns ``fig``."""
    title = fig.layout.title.text or ""
    head, sep, rest = title.partition("<br>")
    text = f"{head}<br><span style='{LOOK_FOR_STYLE}'>{sentence}</span>" + (f"<br>{rest}" if sep else "")
    margin = fig.layout.margin.t if fig.layout.margin.t is not None else LAYOUT["margin"]["t"]
    height = fig.layout.height if fig.layout.height is not None else LAYOUT["height"]
    fig.update_layout(title={"text": text, "x": 0.01, "xanchor": "left", "yanchor": "top",
                             "y": title_top(text, height + 20)}, margin={"t": margin + 20}, height=height + 20)
    return fig


def empty(title: str, message: str) -> go.Figure:
    """A titled figure with no data and ``message`` in the middle."""
    return figure([], title, xaxis={"visible": False}, yaxis={"visible": False},
                  annotations=[{"text": message, "showarrow": False, "x": 0.5, "y": 0.5, "xref": "paper",
                                "yref": "paper"}])


# Sequential / diverging colour scales for attribution maps (colour-blind safe: blue <-> orange via white).
DIVERGING = [[0.0, "#0072B2"], [0.5, "#FFFFFF"], [1.0, "#D55E00"]]
GRAPH_CONFIG = {"displaylogo": False, "displayModeBar": "hover"}
