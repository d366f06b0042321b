"""/glossary: what the dashboard's terms mean, in plain words (the same entries as the report's glossary).

Every entry has an anchor (``/glossary#glossary-impact-ratio``); table headers and check names that use a term
carry its definition as a tooltip and the header links here.
"""
from __future__ import annotations

from typing import Any

from dash import html

from deepaudit.audit.glossary import GLOSSARY, anchor
from deepaudit.dashboard import ids

PAGE = "glossary"


def build(*_: Any, **__: Any) -> html.Div:
    return html.Div([
        html.H1("Glossary"),
        html.P("What the dashboard's and the report's terms mean. docs/statistics.md in the repository has the "
               "exact definitions and the references.", className="muted"),
        html.Dl([x for term, text in GLOSSARY.items()
                 for x in (html.Dt(term, id=anchor(term)), html.Dd(text))], id=ids.GLOSSARY, className="glossary"),
    ])
