"""NLP explanation views: token attributions as coloured text, and the counterfactual probe chart.

Token attributions are rendered as HTML spans over the original text, not as a plot: a reader reads the
review and sees which words pushed the explained class up (orange) or down (blue), with the intensity
proportional to |attribution| relative to the largest in that text (Okabe-Ito blue #0072B2 and orange
#E69F00, distinguishable with every common colour-vision deficiency). Text the model never read (the
middle of a review past the tokenizer's length limit) is greyed out. Pure functions: no callbacks, no store.
"""
from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import html

from deepaudit.dashboard.figures.base import (
    FAIL_COLOUR,
    LAYOUT,
    OKABE_ITO,
    PASS_COLOUR,
    empty,
    new_figure,
    title_top,
    title_with,
)

NEGATIVE_RGB = (0, 114, 178)   # Okabe-Ito blue
POSITIVE_RGB = (230, 159, 0)   # Okabe-Ito orange
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z0-9]")
PAIR_COLUMNS = [("attribute", "Attribute"), ("kind", "Probe"), ("pair", "Pair (a − b)"),
                ("mean_diff", "Mean difference, pp [95% CI]"), ("flip_share", "Templates flipped"),
                ("word_flip_share", "Word pairs flipped"), ("n_templates", "Templates")]


def segments(text: str, tokens: pd.DataFrame) -> pd.DataFrame:
    """The text cut into token and gap segments, in order: columns text, attribution (NaN for gaps), read.

    ``tokens`` has ``start``, ``end``, ``attribution`` (as :func:`deepaudit.audit.explain.views.token_attributions`).
    A gap holding letters or digits was skipped by the model (``read`` False); other gaps are spacing.
    """
    rows, pos = [], 0
    for t in tokens.sort_values("start").itertuples():
        start, end = int(t.start), int(t.end)
        if start > pos:
            gap = text[pos:start]
            rows.append({"text": gap, "attribution": math.nan, "read": not _WORD.search(_BREAK.sub("", gap))})
        rows.append({"text": text[start:end], "attribution": float(t.attribution), "read": True})
        pos = max(pos, end)
    if pos < len(text):
        tail = text[pos:]
        rows.append({"text": tail, "attribution": math.nan, "read": not _WORD.search(_BREAK.sub("", tail))})
    return pd.DataFrame(rows, columns=["text", "attribution", "read"])


def scale_limit(attributions: Any) -> float:
    a = np.abs(np.asarray(attributions, dtype=np.float64))
    a = a[np.isfinite(a)]
    return float(a.max()) if a.size and a.max() > 0 else 1.0


def span_style(attribution: float, zmax: float) -> dict[str, str]:
    """Background (orange up, blue down, alpha ∝ |a| / zmax) and a text colour that stays readable on it."""
    t = min(1.0, abs(attribution) / zmax) if zmax > 0 else 0.0
    r, g, b = POSITIVE_RGB if attribution >= 0 else NEGATIVE_RGB
    alpha = round(0.9 * t, 3)
    dark_bg = attribution < 0 and alpha > 0.55
    return {"backgroundColor": f"rgba({r},{g},{b},{alpha})", "color": "#ffffff" if dark_bg else "#1f2328"}


def _plain(text: str) -> list:
    parts = _BREAK.split(text)
    out: list = []
    for i, p in enumerate(parts):
        if i:
            out.append(html.Br())
        if p:
            out.append(p)
    return out


def token_spans(segs: pd.DataFrame, *, zmax: float | None = None) -> list:
    """HTML children: one coloured span per token (hover shows its attribution), gaps as plain text."""
    zmax = zmax or scale_limit(segs["attribution"])
    out: list = []
    for s in segs.itertuples():
        if math.isnan(s.attribution):
            if s.read:
                out.extend(_plain(s.text))
            else:
                out.append(html.Span(_plain(s.text), className="xn-skipped",
                                     title="not read by the model (past its length limit)"))
        else:
            out.append(html.Span(s.text, className="xn-token", style=span_style(s.attribution, zmax),
                                 title=f"{s.text}: {s.attribution:+.3g}"))
    return out


def legend(explained: str, zmax: float, *, signed: bool = True) -> html.Div:
    """The colour key: blue lowers / orange raises the explained class's logit, with the scale's end values."""
    gradient = (f"linear-gradient(to right, rgb{NEGATIVE_RGB}, #ffffff, rgb{POSITIVE_RGB})" if signed
                else f"linear-gradient(to right, #ffffff, rgb{POSITIVE_RGB})")
    left = f"−{zmax:.3g}: lowers '{explained}'" if signed else "0"
    right = f"+{zmax:.3g}: raises '{explained}'" if signed else f"{zmax:.3g} (size only, no direction)"
    return html.Div([
        html.Span("attribution", className="xn-legend-title"),
        html.Span(left, className="xn-legend-end"),
        html.Span(className="xn-legend-bar", style={"background": gradient}),
        html.Span(right, className="xn-legend-end"),
    ], className="xn-legend", role="img",
        **{"aria-label": f"colour key: blue lowers, orange raises the {explained} logit; scale ±{zmax:.3g}"})


def pairs_table(probe: dict[str, Any]) -> pd.DataFrame:
    """The probe's pairs, tidy: one row per (attribute, group a, group b) with a probe kind and significance."""
    cols = ["attribute", "group_a", "group_b", "mean_diff", "lo", "hi", "flip_share", "word_flip_share",
            "n_templates"]
    d = pd.DataFrame(probe.get("pairs") or [])
    if d.empty or not set(cols) <= set(d.columns):
        return pd.DataFrame(columns=cols + ["kind", "pair", "excludes_zero"])
    d = d[cols].copy()
    d["kind"] = np.where(d["attribute"].str.startswith("identity"), "identity term", "name swap")
    d["pair"] = d["group_a"].astype(str) + " − " + d["group_b"].astype(str)
    d["excludes_zero"] = (d["lo"] > 0) | (d["hi"] < 0)
    return d.reset_index(drop=True)


def pairs_display_rows(pairs: pd.DataFrame) -> list[dict[str, Any]]:
    def ci(r):  # percentage points: differences of probabilities are small
        return (f"{100 * r['mean_diff']:+.1f} [{100 * r['lo']:+.1f}, {100 * r['hi']:+.1f}]"
                + (" *" if r["excludes_zero"] else ""))

    return [{"attribute": r["attribute"], "kind": r["kind"], "pair": r["pair"], "mean_diff": ci(r),
             "flip_share": f"{r['flip_share']:.1%}", "word_flip_share": f"{r['word_flip_share']:.1%}",
             "n_templates": int(r["n_templates"])} for _, r in pairs.iterrows()]


def significance_summary(pairs: pd.DataFrame) -> str:
    """One sentence: how many pairs per attribute have an interval that excludes 0."""
    if pairs.empty:
        return ""
    g = pairs.groupby("attribute", sort=False)["excludes_zero"].agg(["sum", "size"])
    hits = [f"{a} ({int(r['sum'])} of {int(r['size'])})" for a, r in g.iterrows() if r["sum"]]
    total = f"{int(g['sum'].sum())} of {int(g['size'].sum())} pairs have a 95% interval that excludes 0"
    return total + (": " + ", ".join(hits) + "." if hits else ".")


def counterfactual_figure(pairs: pd.DataFrame, *, favorable: str = "favorable") -> go.Figure:
    """Mean paired difference in P(favorable) per group pair, with its 95% interval and the zero line.

    Differences are drawn in percentage points (100 x probability difference). Pairs whose interval
    excludes 0 are vermillion, the others blue; rows top to bottom in table order.
    """
    title = f"Counterfactual swaps: difference in P({favorable}), group a − b, with 95% bootstrap CI"
    if pairs.empty:
        return empty(title, "no counterfactual pairs in this run")
    p = pairs.iloc[::-1].reset_index(drop=True)
    p[["mean_diff", "lo", "hi"]] = p[["mean_diff", "lo", "hi"]] * 100
    single = p["attribute"].nunique() == 1
    labels = (p["pair"] if single else p["attribute"] + ": " + p["pair"]).tolist()
    if single:
        title = f"{p['attribute'].iloc[0]}: " + title[0].lower() + title[1:]
    # Enough decimals that the ticks of a tiny range are not all "+0.0" (a model the swaps barely move).
    span = float(np.nanmax(np.abs(p[["mean_diff", "lo", "hi"]].to_numpy(dtype=float)), initial=0.0))
    decimals = 1 if not np.isfinite(span) or span == 0 or span >= 0.5 else min(6, int(np.ceil(-np.log10(span))) + 1)
    fmt = f"+.{max(decimals, 2)}f"
    traces = []
    for excl, name, colour in ((False, "interval includes 0", PASS_COLOUR), (True, "interval excludes 0", FAIL_COLOUR)):
        part = p[p["excludes_zero"] == excl]
        if part.empty:
            continue
        traces.append(go.Scatter(
            x=part["mean_diff"], y=[labels[i] for i in part.index], mode="markers", name=name,
            marker={"size": 10, "color": colour},
            error_x={"type": "data", "symmetric": False, "array": (part["hi"] - part["mean_diff"]).clip(lower=0),
                     "arrayminus": (part["mean_diff"] - part["lo"]).clip(lower=0), "color": colour,
                     "thickness": 1.5, "width": 4},
            customdata=np.stack([part["lo"], part["hi"], part["flip_share"]], axis=1),
            hovertemplate=f"%{{y}}<br>difference %{{x:{fmt}}} pp [%{{customdata[0]:{fmt}}}, %{{customdata[1]:{fmt}}}]"
                          "<br>templates flipped %{customdata[2]:.1%}<extra></extra>"))
    # One layout dict (no update_* calls): plotly validates each update, which dominated the callback.
    text = title_with(title, "Points whose whiskers miss the zero line: swapping the identity term alone changed "
                             "the score.")
    layout = {**LAYOUT, "height": 140 + 24 * len(p), "showlegend": True,
              "margin": {"l": 260, "r": 20, "t": 80, "b": 60},
              "title": {"text": text, "y": title_top(text, 140 + 24 * len(p)), "yanchor": "top"},
              "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0, "xanchor": "left"},
              "xaxis": {"title": {"text": f"difference in P({favorable}), a − b (percentage points)"},
                        "zeroline": False, "tickformat": f"+.{decimals}f"},
              "yaxis": {"type": "category", "categoryorder": "array", "categoryarray": labels, "automargin": True},
              "shapes": [{"type": "line", "x0": 0, "x1": 0, "xref": "x", "y0": 0, "y1": 1, "yref": "paper",
                          "line": {"color": OKABE_ITO["grey"], "width": 1, "dash": "dash"}}]}
    return new_figure(traces, layout)
