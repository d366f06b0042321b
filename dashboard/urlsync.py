"""Keep a page's selection in the address bar, so a copied URL restores it.

Layouts read their initial control values from the query string (Dash pages pass query parameters as
keyword arguments to the layout). :func:`register` adds one clientside callback per page that writes the
current control values back with ``history.replaceState``: the URL changes, nothing reloads, no server
round trip.
"""
from __future__ import annotations

import json

from dash import Input, Output, dcc


def sink(page: str) -> dcc.Store:
    """The dummy output the page's URL-sync callback writes to; put it in the page layout."""
    return dcc.Store(id=f"{page}-url-sync")


def register(app, page: str, params: dict[str, tuple[str, str]]) -> None:
    """``params`` maps a query parameter to (component id, property) on page ``page``."""
    names = list(params)
    js = """
    function() {
        const names = %s;
        const url = new URL(window.location.href);
        for (let i = 0; i < names.length; i++) {
            const v = arguments[i];
            if (v === null || v === undefined || v === "" || (Array.isArray(v) && v.length === 0)) {
                url.searchParams.delete(names[i]);
            }
            else { url.searchParams.set(names[i], Array.isArray(v) ? v.join(",") : String(v)); }
        }
        if (url.href !== window.location.href) { window.history.replaceState(window.history.state, "", url.href); }
        return window.dash_clientside.no_update;
    }""" % json.dumps(names)
    app.clientside_callback(js, Output(f"{page}-url-sync", "data"),
                            *[Input(cid, prop) for cid, prop in params.values()])
