"""DataTable styling shared by the pages (one look for every table)."""
from __future__ import annotations

from typing import Any

from dash import dash_table

FONT = 'system-ui, -apple-system, "Segoe UI", sans-serif'  # DataTable's own default is monospace
FAIL = "#D55E00"
PASS = "#0072B2"
STYLE = {
    "style_table": {"overflowX": "auto"},
    "style_cell": {"fontFamily": FONT, "fontSize": 13, "padding": "4px 8px", "textAlign": "left",
                   "whiteSpace": "normal", "height": "auto", "maxWidth": 420},
    "style_header": {"fontWeight": "600", "backgroundColor": "#f3f4f6"},
}


def table(id: str, columns: list[tuple[str, str]], data: list[dict[str, Any]] | None = None,
          **kw: Any) -> dash_table.DataTable:
    """A read-only table; ``columns`` are (field, header) pairs."""
    opts = {**STYLE, **kw}
    return dash_table.DataTable(id=id, columns=[{"name": h, "id": c} for c, h in columns], data=data or [], **opts)
