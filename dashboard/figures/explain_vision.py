"""Vision explanation figures: a sample with one attribution overlay per method, class-average map grids,
and PNG thumbnails for the sample gallery. Pure functions of arrays; no Dash, no store access.

Every attribution map uses the diverging blue-white-vermillion scale of :mod:`deepaudit.dashboard.figures.base`,
symmetric around 0 (white = no attribution), with its own colour bar titled "attribution": methods have
different units (IG sums to a logit difference, saliency is a gradient magnitude), so they never share a
scale, while all maps of one method in one figure do.
"""
from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from deepaudit.dashboard.figures.base import DIVERGING, LAYOUT, empty, new_figure, title_top, title_with

UNIT = "attribution"
MAX_CLASS_COLUMNS = 20
CLASS_GAP = 2  # blank columns between two class maps in a row
# Class maps of one method share a scale clipped at this quantile of |attribution|: a shortcut's few
# pixels would otherwise wash every other map out to white (they still saturate, so they still stand out).
CLASS_MAP_QUANTILE = 0.995
_GREYS = [[0.0, "#FFFFFF"], [1.0, "#000000"]]  # ink dark on white, as the digits are drawn


def method_label(method: str) -> str:
    """Display name of an explanation method (:func:`deepaudit.audit.explain.method_label`)."""
    from deepaudit.audit.explain import method_label as label

    return label(method)


def to_2d(a: np.ndarray) -> np.ndarray:
    """An (H, W) map from (H, W), (1, H, W) or (C, H, W) (channels summed, as the class maps are)."""
    a = np.asarray(a, dtype=np.float64)
    return a.sum(0) if a.ndim == 3 else a


def to_gray(image: np.ndarray) -> np.ndarray:
    """An (H, W) intensity image from (H, W), channels-first (C, H, W) or channels-last (H, W, C) input."""
    a = np.asarray(image, dtype=np.float64)
    if a.ndim == 3:
        channels_last = a.shape[-1] in (1, 3, 4) and a.shape[0] not in (1, 3, 4)
        a = a.mean(-1) if channels_last else a.mean(0)
    return a


def to_rgb(image: np.ndarray | None) -> np.ndarray | None:
    """An (H, W, 3) uint8 colour image from a 3-channel (C, H, W) or (H, W, C) one, stretched to its own range;
    None for a single-channel image (drawn in grey, ink dark on white)."""
    if image is None:
        return None
    a = np.asarray(image, dtype=np.float64)
    if a.ndim != 3 or 3 not in (a.shape[0], a.shape[-1]):
        return None
    a = a.transpose(1, 2, 0) if a.shape[0] == 3 and a.shape[-1] != 3 else a
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    scaled = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return np.round(np.clip(np.nan_to_num(scaled), 0, 1) * 255).astype(np.uint8)


def symmetric_limit(a: np.ndarray, *, quantile: float = 1.0) -> float:
    """The half-width of a colour scale centred on 0: max |a| (or its ``quantile``), never 0 or NaN."""
    v = np.abs(np.asarray(a, dtype=np.float64))
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 1.0
    z = float(np.quantile(v, quantile)) if quantile < 1 else float(v.max())
    return z if z > 0 else 1.0


def png_data_uri(image: np.ndarray) -> str:
    """A grayscale PNG (``data:`` URI) of an (H, W) or (C, H, W) image with values in [0, 1].

    Written with zlib rather than an imaging library: thumbnails are tiny and this keeps the gallery
    callback to well under a millisecond per image. Ink is drawn dark on white.
    """
    a = to_gray(image)
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    scaled = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    pixels = (255 - np.round(np.nan_to_num(scaled) * 255)).astype(np.uint8)
    h, w = pixels.shape
    raw = b"".join(b"\x00" + pixels[r].tobytes() for r in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _ticks(zmax: float) -> dict:
    """Three colour-bar ticks, -zmax, 0, +zmax: more would overlap on a narrow horizontal bar."""
    return {"tickvals": [-zmax, 0, zmax], "ticktext": [f"{-zmax:.2g}", "0", f"{zmax:.2g}"]}


def _attribution_trace(m: np.ndarray, zmax: float, *, colorbar: dict | None, **axes: str) -> go.Heatmap:
    if colorbar is not None:
        colorbar = {**colorbar, **_ticks(zmax)}
    return go.Heatmap(z=m, zmin=-zmax, zmax=zmax, zmid=0, colorscale=DIVERGING, showscale=colorbar is not None,
                      colorbar=colorbar, hovertemplate="column %{x}, row %{y}<br>attribution %{z:.3g}<extra></extra>",
                      **axes)


def _outline(image: np.ndarray, **axes: str) -> go.Contour:
    """The digit's outline (half-intensity contour) drawn over an attribution map."""
    lo, hi = float(np.nanmin(image)), float(np.nanmax(image))
    level = lo + 0.5 * (hi - lo) if hi > lo else hi
    return go.Contour(z=image, showscale=False, hoverinfo="skip", ncontours=1, autocontour=False,
                      contours={"start": level, "end": level, "size": 1, "coloring": "lines"},
                      colorscale=[[0, "#000000"], [1, "#000000"]], line={"width": 1.2}, **axes)


def _panel_axes(i: int, x: tuple[float, float], y: tuple[float, float]) -> dict[str, dict]:
    """Layout entries of hidden, square-pixel axes number ``i`` (1-based) over the paper box x * y."""
    sx, sy = ("", "") if i == 1 else (str(i), str(i))
    return {f"xaxis{sx}": {"domain": list(x), "anchor": f"y{sy}", "visible": False, "constrain": "domain"},
            f"yaxis{sy}": {"domain": list(y), "anchor": f"x{sx}", "visible": False, "autorange": "reversed",
                           "scaleanchor": f"x{sx}", "constrain": "domain"}}


def _label(text: str, x: float, y: float, **kw) -> dict:
    return {"text": text, "x": x, "y": y, "xref": "paper", "yref": "paper", "showarrow": False,
            "font": {"size": 13}, **kw}


def overlay_figure(image: np.ndarray | None, maps: Mapping[str, np.ndarray | None],
                   limits: Mapping[str, float], *, title: str = "") -> go.Figure:
    """The image, then one attribution map per method with the image's outline on top.

    Parameters
    ----------
    image : array (H, W) or (C, H, W), or None
        The raw input; None when the model's data cannot be loaded (maps are drawn without outline).
    maps : mapping method -> array or None
        Attributions of this sample, shaped like the image; None for a method that did not explain it.
    limits : mapping method -> float
        Half-width of each method's symmetric colour scale.

    The layout is written in one piece (no ``make_subplots``): plotly's per-update validation would
    otherwise cost more than the rest of the callback.
    """
    methods = list(maps)
    if not methods:
        return empty(title or "Attributions", "no attribution method stored for this run")
    img = None if image is None else to_gray(image)
    panels = ([] if img is None else [("input image", None)]) + [(method_label(m), m) for m in methods]
    n, gap = len(panels), 0.05
    w = (1 - gap * (n - 1)) / n
    sentence = "Heat should sit on what decides the class, not the background; each method has its own colour scale."
    layout: dict = {**LAYOUT, "margin": {"l": 10, "r": 10, "t": 96, "b": 90}, "height": 406,
                    "title": {"text": title_with(title, sentence), "x": 0.01, "xanchor": "left", "yanchor": "top",
                              "y": title_top(title_with(title, sentence), 406)}, "annotations": []}
    traces = []
    for i, (name, m) in enumerate(panels, start=1):
        x0 = (i - 1) * (w + gap)
        dom = (x0, x0 + w)
        layout.update(_panel_axes(i, dom, (0.0, 1.0)))
        layout["annotations"].append(_label(name, (dom[0] + dom[1]) / 2, 1.0, yanchor="bottom"))
        axes = {"xaxis": f"x{'' if i == 1 else i}", "yaxis": f"y{'' if i == 1 else i}"}
        if m is None:
            rgb = to_rgb(image)
            if rgb is not None:  # a colour image is shown in colour; the maps' outline is its intensity
                traces.append(go.Image(z=rgb, **axes, hovertemplate="column %{x}, row %{y}<br>RGB %{z}"
                                                                     "<extra></extra>"))
            else:
                traces.append(go.Heatmap(z=img, colorscale=_GREYS, showscale=False, **axes,
                                         hovertemplate="column %{x}, row %{y}<br>intensity %{z:.2f}<extra></extra>"))
        elif maps[m] is None:
            traces.append(go.Heatmap(z=[[np.nan]], showscale=False, hoverinfo="skip", **axes))
            layout["annotations"].append(_label("not explained<br>by this method", (dom[0] + dom[1]) / 2, 0.5))
        else:
            a = to_2d(maps[m])
            cb = {"title": {"text": UNIT, "side": "top"}, "orientation": "h", "x": (dom[0] + dom[1]) / 2,
                  "xanchor": "center", "len": w * 0.95, "y": -0.08, "yanchor": "top", "thickness": 10}
            traces.append(_attribution_trace(a, limits[m], colorbar=cb, **axes))
            if img is not None and img.shape == a.shape:
                traces.append(_outline(img, **axes))
    return new_figure(traces, layout)


def class_maps_figure(maps: Mapping[str, np.ndarray], class_names: Sequence[str], *,
                      counts: Mapping[str, Sequence[int]] | None = None,
                      title: str = "Class-average attribution maps") -> go.Figure:
    """A grid: one row per method, one column per class, each row on its own symmetric colour scale
    (clipped at the ``CLASS_MAP_QUANTILE`` of the row's |attribution|).

    ``maps[method]`` is (n_classes, H, W); an all-NaN map (a class with no explained sample) stays blank.
    ``counts[method]`` (explained samples per class) goes into the column titles. Beyond
    ``MAX_CLASS_COLUMNS`` classes only the first ones are drawn (the title says so). Each row is one
    heatmap of the class maps side by side, ``CLASS_GAP`` blank (NaN) columns apart: one trace per method
    instead of one per class keeps the figure cheap to build and to draw.
    """
    methods = [m for m in maps if maps[m] is not None and np.asarray(maps[m]).ndim == 3]
    if not methods:
        return empty(title, "no class-average maps stored for this run")
    k = min(len(class_names), MAX_CLASS_COLUMNS)
    if k < len(class_names):
        title += f" (first {k} of {len(class_names)} classes)"
    first = counts.get(methods[0]) if counts else None
    n_rows, vgap = len(methods), 0.06
    h = (1 - vgap * (n_rows - 1)) / n_rows
    sentence = "Each class should light up its own evidence, not a spot all classes share (such as a corner mark)."
    layout: dict = {**LAYOUT, "margin": {"l": 90, "r": 110, "t": 100, "b": 10}, "height": 110 + 120 * n_rows,
                    "title": {"text": title_with(title, sentence), "x": 0.01, "xanchor": "left", "yanchor": "top",
                              "y": title_top(title_with(title, sentence), 110 + 120 * n_rows)}, "annotations": []}
    traces = []
    for r, m in enumerate(methods, start=1):
        a = np.asarray(maps[m], dtype=np.float64)[:k]
        zmax = symmetric_limit(a, quantile=CLASS_MAP_QUANTILE)
        height, width = a.shape[1:]
        row = np.full((height, k * (width + CLASS_GAP) - CLASS_GAP), np.nan)
        for j in range(k):
            row[:, j * (width + CLASS_GAP): j * (width + CLASS_GAP) + width] = a[j]
        y1 = 1 - (r - 1) * (h + vgap)
        dom = (y1 - h, y1)
        layout.update(_panel_axes(r, (0.0, 1.0), dom))
        axes = {"xaxis": f"x{'' if r == 1 else r}", "yaxis": f"y{'' if r == 1 else r}"}
        cb = {"title": {"text": UNIT, "side": "right"}, "y": (dom[0] + dom[1]) / 2, "yanchor": "middle",
              "len": h * 1.05, "thickness": 10, "x": 1.02}
        traces.append(_attribution_trace(row, zmax, colorbar=cb, **axes))
        layout["annotations"].append(_label(method_label(m).replace(" ", "<br>", 1), -0.005, (dom[0] + dom[1]) / 2,
                                            xanchor="right", align="right", font={"size": 12}))
    for j, c in enumerate(class_names[:k]):
        n = f" (n={int(first[j])})" if first is not None and j < len(first) else ""
        layout["annotations"].append({"text": f"{c}{n}", "x": j * (width + CLASS_GAP) + width / 2, "xref": "x",
                                      "y": 1.0, "yref": "paper", "yanchor": "bottom", "showarrow": False,
                                      "font": {"size": 12}})
    return new_figure(traces, layout)
