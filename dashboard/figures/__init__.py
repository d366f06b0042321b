"""Plotly figures built from tidy tables. Pure functions: no Dash callbacks, no store access.

One module per page; :mod:`deepaudit.dashboard.figures.base` holds the palette and the shared layout.
"""
from deepaudit.dashboard.figures.base import (
    DIVERGING,
    FAIL_COLOUR,
    FOUR_FIFTHS,
    GRAPH_CONFIG,
    LAYOUT,
    OKABE_ITO,
    PASS_COLOUR,
    REFERENCE_COLOUR,
    empty,
)
from deepaudit.dashboard.figures.fairness import impact_ratio_figure, selection_rate_figure

__all__ = ["DIVERGING", "FAIL_COLOUR", "FOUR_FIFTHS", "GRAPH_CONFIG", "LAYOUT", "OKABE_ITO", "PASS_COLOUR",
           "REFERENCE_COLOUR", "empty", "impact_ratio_figure", "selection_rate_figure"]
