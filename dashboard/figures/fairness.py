"""Fairness figures from tidy tables (one row per group). No Dash, no store access here."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.figures.base import FAIL_COLOUR, FOUR_FIFTHS, OKABE_ITO, PASS_COLOUR, REFERENCE_COLOUR
from dashboard.figures.base import LAYOUT as _LAYOUT
from dashboard.figures.base import empty as _empty


def impact_ratio_figure(table: pd.DataFrame, *, threshold: float = FOUR_FIFTHS, title: str | None = None) -> go.Figure:
    """Impact ratio per group with its interval and the four-fifths line.

    ``table`` is tidy: columns ``group``, ``value``, ``lo``, ``hi``, ``reference`` (the denominator group),
    optionally ``small_group``. One trace, so ``fig.data[0].y`` are the ratios in row order.
    """
    title = title or "Impact ratio (rate / highest group's rate)"
    if table.empty:
        return _empty(title, "no impact ratios for this attribute")
    t = table.reset_index(drop=True)
    is_ref = t["group"] == t["reference"]
    colours = [REFERENCE_COLOUR if r else (FAIL_COLOUR if v < threshold else PASS_COLOUR)
               for v, r in zip(t["value"], is_ref)]
    labels = [f"{g} (reference)" if r else str(g) for g, r in zip(t["group"], is_ref)]
    fig = go.Figure(go.Scatter(
        x=labels, y=t["value"], mode="markers",
        marker={"size": 13, "color": colours, "symbol": ["diamond" if r else "circle" for r in is_ref]},
        error_y={"type": "data", "symmetric": False, "array": (t["hi"] - t["value"]).clip(lower=0),
                     "arrayminus": (t["value"] - t["lo"]).clip(lower=0), "color": "#444", "thickness": 1.5, "width": 6},
        customdata=t[["lo", "hi"]].to_numpy(),
        hovertemplate="%{x}<br>impact ratio %{y:.3f}<br>95% interval [%{customdata[0]:.3f}, %{customdata[1]:.3f}]"
                      "<extra></extra>",
    ))
    fig.add_hline(y=threshold, line={"color": FAIL_COLOUR, "dash": "dash", "width": 1.5},
                  annotation_text=f"four-fifths rule ({threshold:g})", annotation_position="bottom right")
    top = max(1.05, float(t["hi"].max()) + 0.05)
    fig.update_layout(title=title, **_LAYOUT)
    fig.update_yaxes(title="impact ratio (unitless)", range=[0, top], zeroline=True)
    fig.update_xaxes(title="group")
    return fig


def selection_rate_figure(groups: pd.DataFrame, *, favorable: str = "favorable", title: str | None = None) -> go.Figure:
    """Selection rate per group with Wilson 95% intervals.

    ``groups`` is tidy: ``group``, ``selection_rate``, ``selection_rate_lo``, ``selection_rate_hi``,
    optionally ``is_reference`` and ``n``.
    """
    title = title or f"Selection rate: share predicted '{favorable}' (Wilson 95% CI)"
    if groups.empty:
        return _empty(title, "no groups")
    g = groups.reset_index(drop=True)
    ref = g["is_reference"] if "is_reference" in g else pd.Series(False, index=g.index)
    n = g["n"] if "n" in g else pd.Series("?", index=g.index)
    fig = go.Figure(go.Scatter(
        x=[f"{x} (reference)" if r else str(x) for x, r in zip(g["group"], ref)],
        y=g["selection_rate"], mode="markers",
        marker={"size": 13, "color": [REFERENCE_COLOUR if r else OKABE_ITO["blue"] for r in ref],
                    "symbol": ["diamond" if r else "circle" for r in ref]},
        error_y={"type": "data", "symmetric": False,
                     "array": (g["selection_rate_hi"] - g["selection_rate"]).clip(lower=0),
                     "arrayminus": (g["selection_rate"] - g["selection_rate_lo"]).clip(lower=0),
                     "color": "#444", "thickness": 1.5, "width": 6},
        customdata=list(zip(g["selection_rate_lo"], g["selection_rate_hi"], n)),
        hovertemplate="%{x} (n=%{customdata[2]})<br>selection rate %{y:.1%}<br>"
                      "95% Wilson [%{customdata[0]:.1%}, %{customdata[1]:.1%}]<extra></extra>",
    ))
    fig.update_layout(title=title, **_LAYOUT)
    fig.update_yaxes(title="selection rate (%)", tickformat=".0%", range=[0, 1.05])
    fig.update_xaxes(title="group")
    return fig
