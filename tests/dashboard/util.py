"""Helpers for the unit tests: the text in a component tree, a component by id."""
from dash import html
from dash.development.base_component import Component


def text(c) -> str:
    """All text in a component tree (strings and numbers), space-joined with runs of whitespace collapsed."""
    return " ".join(_raw(c).split())


def _raw(c) -> str:
    if c is None:
        return ""
    if isinstance(c, (str, int, float)):
        return str(c)
    if isinstance(c, (list, tuple)):
        return " ".join(_raw(x) for x in c)
    if isinstance(c, Component):
        return _raw(getattr(c, "children", None))
    return ""


def find(tree, cid):
    """The component with id ``cid`` in ``tree`` (a component or a list of them); StopIteration when absent."""
    root = tree if isinstance(tree, Component) else html.Div(tree)
    return next(c for c in root._traverse() if getattr(c, "id", None) == cid)
