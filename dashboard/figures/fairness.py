"""Fairness figures from tidy tables (one row per group). No Dash, no store access here.

Every figure keeps its main series in ``fig.data[0]`` (tests read it). When the page shows a moved decision
threshold, an optional ``baseline`` table draws the same groups at the model's own decision rule as open
grey markers, so a reader sees how far each rate or ratio moved.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from deepaudit.dashboard.figures.base import (
    AXIS,
    FAIL_COLOUR,
    FOUR_FIFTHS,
    OKABE_ITO,
    PASS_COLOUR,
    REFERENCE_COLOUR,
    FigureLike,
    empty,
    plain_figure,
    title_top,
    title_with,
    trace,
)
from deepaudit.dashboard.figures.base import LAYOUT as _LAYOUT
from deepaudit.dashboard.records import Records, column, records

Table = pd.DataFrame | Records

BASELINE_COLOUR = "#6e7781"
# Group lines of the sweep: Okabe-Ito without grey (the reference colour), yellow (too light on white) and black
# (the current-threshold line is near-black; a group drawn in it would read as the threshold).
LINE_COLOURS = [OKABE_ITO[k] for k in ("blue", "orange", "green", "vermillion", "purple", "sky_blue")]
LINE_DASHES = ["solid", "dash", "dot", "dashdot"]
_LEGEND_BELOW = {"orientation": "h", "x": 0, "xanchor": "left", "yref": "container", "y": 0.01, "yanchor": "bottom",
                 "font": {"size": 12}}
_AXIS = AXIS
# The page style without plotly's shorthand key (``title_font_size``): a plain-dict figure reaches plotly.js
# unexpanded, and :func:`_title` sets the title's font itself.
_STYLE = {k: v for k, v in _LAYOUT.items() if k != "title_font_size"}


def _title(title: str, subtitle: str | None, look: str | None = None) -> dict:
    text = title_with(title, look) if look else title
    text += f"<br><span style='font-size:11px;color:#57606a'>{subtitle}</span>" if subtitle else ""
    # anchored at the top of the figure: the lines below it leave room for a label drawn just above the plot
    return {"text": text, "x": 0.01, "xanchor": "left", "yref": "container", "yanchor": "top",
            "font": {"size": _LAYOUT.get("title_font_size", 14)}}


def _axis(title: str, **kw) -> dict:
    return {**_AXIS, "title": {**_AXIS["title"], "text": title}, **kw}


def _figure(traces: list, title: str, subtitle: str | None, *, xaxis: dict, yaxis: dict,
            legend_below: bool = False, look: str | None = None, **layout) -> FigureLike:
    """One figure built in one piece (no update_* chains): a validated go.Figure in tests, a plain dict when
    serving (:func:`~deepaudit.dashboard.figures.base.plain_figure`);
    ``look`` is the one sentence under the title saying what to look for (20 px more at the top)."""
    extra_top = 20 if look else 0
    lay = {**_STYLE, "margin": {**_LAYOUT["margin"], "t": 70 + extra_top}, "title": _title(title, subtitle, look),
           "xaxis": xaxis, "yaxis": yaxis}
    if legend_below:
        lay.update(showlegend=True, legend=_LEGEND_BELOW, height=layout.pop("height", _LAYOUT["height"]) + 30,
                   margin={**lay["margin"], "b": _LAYOUT["margin"]["b"] + 30})
    if extra_top:
        if "margin" in layout:
            layout["margin"] = {**layout["margin"], "t": layout["margin"].get("t", 70) + extra_top}
        lay["height"] = layout.pop("height", lay.get("height", _LAYOUT["height"])) + extra_top
    lay.update(layout)
    lay["title"]["y"] = title_top(lay["title"]["text"], lay.get("height", _LAYOUT["height"]))
    return plain_figure(traces, lay)


_empty = empty


def _hline(y: float, colour: str, text: str) -> tuple[dict, dict]:
    shape = {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": y, "y1": y,
             "line": {"color": colour, "dash": "dash", "width": 1.5}}
    # labelled above the plot area, like a legend entry, so the label never covers a data point
    note = {"xref": "paper", "x": 1, "xanchor": "right", "yref": "paper", "y": 1, "yanchor": "bottom",
            "text": f"- - {text}", "showarrow": False, "font": {"size": 12, "color": colour}}
    return shape, note


def _vline(x: float, line: dict) -> dict:
    return {"type": "line", "yref": "paper", "y0": 0, "y1": 1, "xref": "x", "x0": x, "x1": x, "line": line}


def _top(*columns: list, floor: float = 1.05) -> float:
    vals = np.concatenate([np.asarray(c, dtype=float) for c in columns])
    vals = vals[np.isfinite(vals)]
    return max(floor, float(vals.max()) + 0.05) if vals.size else floor


def _floats(values: list) -> np.ndarray:
    return np.asarray([np.nan if v is None else v for v in values], dtype=float)


MAX_VERTICAL_GROUPS = 6      # more groups, or long labels, and the dot plots turn horizontal (labels readable)
MAX_VERTICAL_LABEL = 20
ROW_PX = 30


def horizontal_layout(labels: list[str]) -> bool:
    """Whether a dot plot of these group labels reads better with groups on the y axis."""
    return len(labels) > MAX_VERTICAL_GROUPS or max((len(x) for x in labels), default=0) > MAX_VERTICAL_LABEL


def _dot_plot(labels: list[str], value: np.ndarray, lo: np.ndarray, hi: np.ndarray, *, colours: list[str],
              is_ref: list[bool], name: str, hover: str, customdata, baseline: list | None,
              baseline_labels: list[str], baseline_name: str, fmt: str, title: str, subtitle: str | None,
              group_title: str, value_axis: dict, line: tuple[float, str, str] | None = None,
              look: str | None = None) -> FigureLike:
    """Points with asymmetric interval bars, one per group; vertical or horizontal by :func:`horizontal_layout`.

    The main trace is ``data[0]``; along the value axis it holds the values, along the group axis the labels.
    """
    flip = horizontal_layout(labels)
    g_key, v_key, err = ("y", "x", "error_x") if flip else ("x", "y", "error_y")
    hover = hover.replace("%{x}", "%{GROUP}").replace("%{y", "%{" + v_key).replace("%{GROUP}", "%{" + g_key + "}")
    traces = [trace("scatter", **{
        g_key: labels, v_key: value, "mode": "markers", "name": name, "showlegend": False,
        "marker": {"size": 13, "color": colours, "symbol": ["diamond" if r else "circle" for r in is_ref]},
        err: {"type": "data", "symmetric": False, "array": np.clip(hi - value, 0, None),
              "arrayminus": np.clip(value - lo, 0, None), "color": "#444", "thickness": 1.5, "width": 6},
        "customdata": customdata, "hovertemplate": hover})]
    with_baseline = baseline is not None and len(baseline) > 0
    if with_baseline:
        traces.append(trace("scatter", **{
            g_key: baseline_labels, v_key: _floats(baseline), "mode": "markers", "name": baseline_name,
            "marker": {"size": 11, "symbol": "circle-open", "color": BASELINE_COLOUR, "line": {"width": 2}},
            "hovertemplate": "%{" + g_key + "}<br>" + baseline_name + ": %{" + v_key + ":" + fmt + "}<extra></extra>"}))
    shapes, notes = [], []
    if line is not None:
        at, colour, text = line
        if flip:
            shapes.append(_vline(at, {"color": colour, "dash": "dash", "width": 1.5}))
            notes.append({"xref": "x", "x": at, "xanchor": "right", "yref": "paper", "y": 1, "yanchor": "bottom",
                          "text": f"{text} ", "showarrow": False, "font": {"size": 12, "color": colour}})
        else:
            shape, note = _hline(at, colour, text)
            shapes.append(shape)
            notes.append(note)
    group_axis = _axis(group_title, type="category", **({"autorange": "reversed"} if flip else {}))
    extra = {"height": max(_LAYOUT["height"], 150 + ROW_PX * len(labels))} if flip else {}
    axes = {"xaxis": value_axis, "yaxis": group_axis} if flip else {"xaxis": group_axis, "yaxis": value_axis}
    return _figure(traces, title, subtitle, legend_below=with_baseline, shapes=shapes, annotations=notes, **axes,
                   look=look, **extra)


def _labels(groups: list, is_ref: list[bool], reference_label: str = "reference") -> list[str]:
    return [f"{g} ({reference_label})" if r else str(g) for g, r in zip(groups, is_ref)]


def _baseline(baseline: Table | None, labels: dict[str, str], column: str) -> tuple[list | None, list]:
    rows = [r for r in records(baseline) if r["group"] in labels]
    if not rows:
        return None, []
    return [r[column] for r in rows], [labels[r["group"]] for r in rows]


def impact_ratio_figure(table: Table, *, threshold: float = FOUR_FIFTHS, title: str | None = None,
                        subtitle: str | None = None, baseline: Table | None = None,
                        baseline_name: str = "at the model's decision rule", xtitle: str = "group",
                        ratio_name: str = "impact ratio", reference_label: str = "reference",
                        line_label: str | None = None, look: str | None = None) -> FigureLike:
    """Impact ratio per group with its interval and the four-fifths line.

    ``table`` is tidy (a DataFrame or its records): ``group``, ``value``, ``lo``, ``hi``, ``reference`` (the
    denominator group), optionally ``small_group``; the denominator group is labelled
    ``"<group> (<reference_label>)"``. The main trace is ``fig.data[0]`` (ratios in row order on the value axis:
    ``y`` for a few short labels, ``x`` when :func:`horizontal_layout`); ``baseline`` (``group``, ``value``)
    adds open markers in ``fig.data[1]``.
    """
    title = title or "Impact ratio (rate / highest group's rate)"
    t = records(table)
    if not t:
        return _empty(title, "no impact ratios for this attribute")
    groups = column(t, "group")
    value, lo, hi = (_floats(column(t, k)) for k in ("value", "lo", "hi"))
    is_ref = [r["group"] == r["reference"] for r in t]
    colours = [REFERENCE_COLOUR if r else (FAIL_COLOUR if v < threshold else PASS_COLOUR)
               for v, r in zip(value, is_ref)]
    labels = _labels(groups, is_ref, reference_label)
    b_values, b_labels = _baseline(baseline, dict(zip(groups, labels)), "value")
    top = _top(hi, value, *([b_values] if b_values is not None else []))
    return _dot_plot(
        labels, value, lo, hi, colours=colours, is_ref=is_ref, name=ratio_name,
        hover="%{x}<br>" + ratio_name + " %{y:.3f}<br>95% interval [%{customdata[0]:.3f}, %{customdata[1]:.3f}]"
              "<extra></extra>",
        customdata=np.column_stack([lo, hi]), baseline=b_values, baseline_labels=b_labels,
        baseline_name=baseline_name, fmt=".3f", title=title, subtitle=subtitle, group_title=xtitle,
        value_axis=_axis(f"{ratio_name} (unitless)", range=[0, top], zeroline=True),
        line=(threshold, FAIL_COLOUR, line_label or f"four-fifths rule ({threshold:g})"),
        look=look or "Dots below the dashed line fail it; a whisker across the line means the data cannot tell.")


def selection_rate_figure(groups: Table, *, favorable: str = "favorable", title: str | None = None,
                          subtitle: str | None = None, baseline: Table | None = None,
                          baseline_name: str = "at the model's decision rule", xtitle: str = "group",
                          rate_name: str = "selection rate", look: str | None = None) -> FigureLike:
    """Selection rate per group with Wilson 95% intervals.

    ``groups`` is tidy (a DataFrame or its records): ``group``, ``selection_rate``, ``selection_rate_lo``,
    ``selection_rate_hi``, optionally ``is_reference`` and ``n``. ``baseline`` (``group``, ``selection_rate``)
    adds open markers.
    """
    title = title or f"Selection rate: share predicted '{favorable}' (Wilson 95% CI)"
    g = records(groups)
    if not g:
        return _empty(title, "no groups")
    names = column(g, "group")
    is_ref = [bool(x) for x in column(g, "is_reference", False)]
    n = column(g, "n", "?")
    rate, lo, hi = (_floats(column(g, k)) for k in ("selection_rate", "selection_rate_lo", "selection_rate_hi"))
    labels = _labels(names, is_ref)
    b_values, b_labels = _baseline(baseline, dict(zip(names, labels)), "selection_rate")
    return _dot_plot(
        labels, rate, lo, hi,
        colours=[REFERENCE_COLOUR if r else OKABE_ITO["blue"] for r in is_ref], is_ref=is_ref, name=rate_name,
        hover="%{x} (n=%{customdata[2]})<br>" + rate_name + " %{y:.1%}<br>95% Wilson [%{customdata[0]:.1%}, "
              "%{customdata[1]:.1%}]<extra></extra>",
        customdata=list(zip(lo.tolist(), hi.tolist(), n)), baseline=b_values,
        baseline_labels=b_labels, baseline_name=baseline_name, fmt=".1%", title=title, subtitle=subtitle,
        group_title=xtitle, value_axis=_axis(f"{rate_name} (%)", tickformat=".0%", range=[0, 1.05]),
        look=look or "Compare each dot with the reference (grey); the whiskers show how sure each rate is.")


def threshold_sweep_figure(sweep: pd.DataFrame, *, current: float | None, default: float = 0.5,
                           title: str = "Selection rate vs decision threshold", subtitle: str | None = None,
                           favorable: str = "favorable") -> FigureLike:
    """One line per group: its selection rate at each threshold; the current threshold marked.

    ``sweep`` is tidy: ``group``, ``threshold``, ``selection_rate`` (and ``n``). One trace per group in
    ``sweep`` order of first appearance.
    """
    if sweep.empty:
        return _empty(title, "the decision threshold does not apply to this model")
    names = sweep["group"].tolist()
    x, y = sweep["threshold"].to_numpy(dtype=float), sweep["selection_rate"].to_numpy(dtype=float)
    order = {g: i for i, g in enumerate(dict.fromkeys(names))}     # groups in order of first appearance
    codes = np.fromiter((order[g] for g in names), dtype=np.int64, count=len(names))
    traces = []
    for group, i in order.items():
        rows = codes == i
        traces.append(trace(
            "scatter", x=x[rows], y=y[rows], mode="lines", name=str(group),
            line={"color": LINE_COLOURS[i % len(LINE_COLOURS)], "width": 2,
                  "dash": LINE_DASHES[(i // len(LINE_COLOURS)) % len(LINE_DASHES)]},
            hovertemplate=f"{group}<br>threshold %{{x:.2f}}<br>selection rate %{{y:.1%}}<extra></extra>"))
    shapes = [_vline(default, {"color": REFERENCE_COLOUR, "dash": "dot", "width": 1.5})]
    notes = []
    if current is not None and math.isfinite(current):
        shapes.append(_vline(current, {"color": "#1f2328", "width": 2}))
        notes.append({"xref": "x", "x": current, "xanchor": "left", "yref": "paper", "y": 1, "yanchor": "bottom",
                      "text": f" threshold {current:.2f}", "showarrow": False, "font": {"size": 12}})
    n_groups = len(order)
    return _figure(traces, title, subtitle, shapes=shapes, annotations=notes, showlegend=True,
                   look="Where lines lie far apart, that threshold treats groups differently; solid = chosen.",
                   height=max(_LAYOUT["height"], 160 + 21 * n_groups),
                   legend={"font": {"size": 12}, "title": {"text": "group"}},
                   margin={**_LAYOUT["margin"], "t": 80, "r": 10},
                   xaxis=_axis(f"decision threshold on P({favorable})", range=[0, 1], dtick=0.1),
                   yaxis=_axis(f"share predicted '{favorable}' (%)", tickformat=".0%", range=[0, 1.02]))
