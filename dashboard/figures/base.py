"""Shared figure style: the Okabe-Ito palette, one layout, an empty-figure placeholder. No Dash, no store."""
from __future__ import annotations

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

LAYOUT = {"template": "plotly_white", "font": {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 13},
          "margin": {"l": 70, "r": 20, "t": 60, "b": 50}, "height": 340, "title_font_size": 14,
          "showlegend": False}


def empty(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, **LAYOUT)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return fig


# Sequential / diverging colour scales for attribution maps (colour-blind safe: blue <-> orange via white).
DIVERGING = [[0.0, "#0072B2"], [0.5, "#FFFFFF"], [1.0, "#D55E00"]]
GRAPH_CONFIG = {"displaylogo": False, "displayModeBar": "hover"}
