"""Static figures of the report, drawn with matplotlib (Agg) from the report model.

Every figure is returned as a ``data:image/svg+xml;base64,...`` URI, so the
HTML stays one self-contained file and WeasyPrint embeds the same figure in
the PDF (vector paths; images such as saliency maps as embedded rasters).
Text in the SVG stays text (``svg.fonttype = none``) so the PDF's figure
labels are searchable. Colours: the Okabe-Ito palette (distinguishable with
the common colour-vision deficiencies) and the purple-orange diverging map
for signed attributions.

matplotlib is imported inside :func:`render_figures` (docs/architecture.md:
plotting libraries are imported lazily).
"""
from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from deepaudit.audit.report.fmt import NOT_COMPUTABLE

OKABE_ITO = {"blue": "#0072B2", "orange": "#E69F00", "vermillion": "#D55E00", "sky": "#56B4E9",
             "green": "#009E73", "yellow": "#F0E442", "purple": "#CC79A7", "grey": "#999999", "black": "#000000"}
DIVERGING = "PuOr"


def _svg(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue().encode()).decode()


def _setup() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "deepaudit", "font.size": 9,
                         "font.family": "DejaVu Sans", "axes.spines.top": False, "axes.spines.right": False,
                         "axes.titlesize": 9, "image.interpolation": "nearest"})
    return plt


def importance_bar(imp: dict[str, Any]) -> str:
    plt = _setup()
    rows = imp["rows"][::-1]
    fig, ax = plt.subplots(figsize=(6.2, 0.22 * len(rows) + 0.8))
    colors = [OKABE_ITO["blue"] if r["direction"] == "higher raises" else
              OKABE_ITO["vermillion"] if r["direction"] == "higher lowers" else OKABE_ITO["grey"] for r in rows]
    ax.barh([r["label"][:40] for r in rows], [r["share"] for r in rows], color=colors)
    ax.set_xlabel(f"share of mean |attribution| ({imp['method']})")
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=OKABE_ITO["blue"], label="higher value raises the outcome"),
                       Patch(color=OKABE_ITO["vermillion"], label="higher value lowers the outcome"),
                       Patch(color=OKABE_ITO["grey"], label="mixed / not monotone")],
              loc="lower right", fontsize=7, frameon=False)
    return _svg(fig)


def _point(est: dict[str, Any] | None) -> tuple[float, list[list[float]] | None] | None:
    """``(value, xerr)`` of an estimate for ``errorbar``; None when there is no value, no bars without an interval."""
    if not est or est.get("value") is None:
        return None
    v, lo, hi = est["value"], est.get("lo"), est.get("hi")
    if lo is None or hi is None:
        return v, None
    # A bootstrap interval may exclude its estimate (see the report's EXCLUDES_ESTIMATE): no negative bar lengths.
    return v, [[max(v - lo, 0.0)], [max(hi - v, 0.0)]]


def group_forest(attr: dict[str, Any], *, binary: bool, threshold: float | None) -> str:
    """Rates per group with intervals (left) and impact ratios with the four-fifths line (right).

    A statistic the run could not compute is written as "not computable" on its row, never drawn as 0.
    """
    plt = _setup()
    metric = "selection_rate" if binary else "accuracy"
    groups = [g for g in attr["groups"] if metric in g][::-1]
    comps = {c["group"]: c for c in attr["comparisons"]}
    has_ir = binary and any(comps.get(g["group"], {}).get("impact_ratio") for g in groups)
    fig, axes = plt.subplots(1, 2 if has_ir else 1, figsize=(6.4 if has_ir else 4.0, 0.22 * len(groups) + 0.8),
                             sharey=True, squeeze=False)
    labels = [f"{g['group']} (n={g['n']})" for g in groups]
    y = np.arange(len(groups))
    ax = axes[0, 0]
    for i, g in enumerate(groups):
        col = OKABE_ITO["grey"] if g.get("small_group") else OKABE_ITO["blue"]
        _draw(ax, _point(g[metric]), i, col, "o")
    ax.set_yticks(y, labels)
    ax.set_ylim(-0.6, len(groups) - 0.4)
    ax.set_xlabel(("favourable outcome rate" if binary else "accuracy") + "\n(Wilson 95%)")
    ax.set_xlim(0, 1.02)
    if has_ir:
        ax2 = axes[0, 1]
        for i, g in enumerate(groups):
            c = comps.get(g["group"], {})
            col = OKABE_ITO["vermillion"] if c.get("four_fifths_flag") else OKABE_ITO["blue"]
            _draw(ax2, _point(c.get("impact_ratio")), i, col, "s")
        if threshold is not None:
            ax2.axvline(threshold, color=OKABE_ITO["black"], linestyle="--", linewidth=1)
            ax2.text(threshold, len(groups) - 0.4, f" {threshold:g}", fontsize=7, va="bottom")
        ax2.set_xlim(0, 1.05)
        ax2.set_xlabel("impact ratio vs highest eligible group\n(MOVER-R score 95%)")
    return _svg(fig)


def _draw(ax: Any, point: tuple[float, Any] | None, row: int, color: str, marker: str) -> None:
    if point is None:
        ax.text(0.02, row, NOT_COMPUTABLE, fontsize=7, va="center", color=OKABE_ITO["grey"])
        return
    value, xerr = point
    ax.errorbar(value, row, xerr=xerr, fmt=marker, color=color, capsize=3, markersize=4)


def curves_plot(curves: list[dict[str, Any]]) -> str:
    plt = _setup()
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 2.3), sharey=True)
    for ax, kind in zip(axes, ("deletion", "insertion")):
        for order, col, ls in (("attribution", OKABE_ITO["blue"], "-"), ("random", OKABE_ITO["orange"], "--")):
            pts = sorted((r["fraction"], r["probability"]) for r in curves if r["curve"] == kind and r["order"] == order
                         and r["probability"] is not None)
            if pts:
                ax.plot(*zip(*pts), ls, color=col, label=f"{order} order")
        ax.set_title(f"{kind} curve")
        ax.set_xlabel(f"fraction of features {'removed' if kind == 'deletion' else 'inserted'}")
    axes[0].set_ylabel("class probability")
    axes[1].legend(fontsize=7, frameon=False)
    return _svg(fig)


def randomization_plot(rand: list[dict[str, Any]]) -> str:
    plt = _setup()
    fig, ax = plt.subplots(figsize=(6.0, 2.3))
    # one colour per method (a run may publish more than four; each gets a line)
    cols = [OKABE_ITO[c] for c in ("blue", "orange", "green", "purple", "sky", "vermillion", "yellow", "grey")]
    for i, r in enumerate(rand):
        col = cols[i % len(cols)]
        key = "spearman_abs" if r["measure"] == "spearman_abs" else "spearman_signed"
        # A similarity the run could not compute (constant attributions) is a gap in the line, not a 0.
        ax.plot([x["step"] for x in r["layers"]], [np.nan if x[key] is None else x[key] for x in r["layers"]], "o-",
                color=col, label=r["method"])
    first = rand[0]["layers"]
    ax.set_xticks([x["step"] for x in first], [x["layer"] if x["step"] else "original" for x in first],
                  rotation=30, ha="right", fontsize=7)
    ax.axhline(0.5, color=OKABE_ITO["black"], linestyle="--", linewidth=1)
    ax.set_ylabel("Spearman similarity")
    ax.set_xlabel("layers re-initialised (top down, cumulative)")
    ax.legend(fontsize=7, frameon=False)
    return _svg(fig)


def reliability_plot(curves: dict[str, list[dict[str, Any]]], *, max_panels: int = 4) -> str:
    """Observed favourable rate vs mean score per bin, one panel per attribute, one line per group."""
    plt = _setup()
    names = list(curves)[:max_panels]
    fig, axes = plt.subplots(1, len(names), figsize=(1.75 * len(names) + 0.6, 2.6), sharey=True, squeeze=False)
    cols = [OKABE_ITO[c] for c in ("blue", "orange", "green", "purple", "sky", "vermillion", "yellow", "black")]
    for ax, name in zip(axes[0], names):
        groups = list(dict.fromkeys(r["group"] for r in curves[name]))
        for g, col in zip(groups, cols):
            pts = sorted((r["mean_score"], r["observed_rate"]) for r in curves[name]
                         if r["group"] == g and r.get("n_b") and r.get("mean_score") is not None)
            if pts:
                ax.plot(*zip(*pts), "o-", color=col, markersize=2.5, linewidth=1, label=g)
        ax.plot([0, 1], [0, 1], ":", color=OKABE_ITO["grey"], linewidth=1)
        ax.set_title(name.replace("_x_", " × ").replace("_", " "))
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xticks([0, 0.5, 1], ["0", "0.5", "1"])  # short labels: neighbouring panels' ends do not collide
        ax.set_xlabel("mean score in bin")
        # below the panel, never over the curves (which can reach any corner)
        ax.legend(fontsize=6, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=1,
                  handlelength=1.5)
    axes[0][0].set_ylabel("observed favourable rate")
    fig.subplots_adjust(wspace=0.25)
    return _svg(fig)


def class_maps(maps: np.ndarray, classes: list[str], method: str) -> str:
    plt = _setup()
    k = len(maps)
    fig, axes = plt.subplots(1, k, figsize=(0.66 * k, 0.95))
    for ax, m, c in zip(np.atleast_1d(axes), maps, classes):
        v = float(np.abs(m).max()) or 1.0
        ax.imshow(m, cmap=DIVERGING, vmin=-v, vmax=v)
        ax.set_title(c, fontsize=8)
        ax.axis("off")
    fig.suptitle(f"class-average {method} map", fontsize=8, y=1.12)
    return _svg(fig)


def overlays(images: list[dict[str, Any]]) -> str:
    """Per sample: the input, then each method's map (signed maps on the diverging scale)."""
    plt = _setup()
    methods = images[0]["methods"]
    ncol = 1 + len(methods)
    fig, axes = plt.subplots(len(images), ncol, figsize=(1.25 * ncol, 1.3 * len(images)), squeeze=False)
    for row, ex in zip(axes, images):
        img = ex["image"].squeeze()
        row[0].imshow(img, cmap="gray_r")
        row[0].set_title(f"id {ex['sample_id']}: true {ex['true']}, pred {ex['predicted']}", fontsize=6)
        for ax, m in zip(row[1:], methods):
            a = ex["maps"][m].squeeze()
            v = float(np.abs(a).max()) or 1.0
            ax.imshow(img, cmap="gray_r", alpha=0.35)
            ax.imshow(a, cmap=DIVERGING, vmin=-v, vmax=v, alpha=0.85)
            ax.set_title(f"{m} (class {ex['explained_class']})", fontsize=6)
        for ax in row:
            ax.axis("off")
    fig.tight_layout()
    return _svg(fig)


def top_tokens_plot(tt: dict[str, Any]) -> str:
    plt = _setup()
    rows = tt["negative"][::-1] + tt["positive"][::-1]
    rows = sorted(tt["negative"] + tt["positive"], key=lambda r: r["mean"])
    fig, ax = plt.subplots(figsize=(5.2, 0.18 * len(rows) + 0.8))
    ax.barh([r["token"] for r in rows], [r["mean"] for r in rows],
            color=[OKABE_ITO["blue"] if r["mean"] > 0 else OKABE_ITO["orange"] for r in rows])
    ax.axvline(0, color=OKABE_ITO["black"], linewidth=0.8)
    ax.set_xlabel(f"mean attribution per occurrence ({tt['method']})")
    return _svg(fig)


def render_figures(data: dict[str, Any], assets: dict[str, Any]) -> dict[str, Any]:
    """All figures for one report, keyed by name (per-attribute ones under ``forest``)."""
    figs: dict[str, Any] = {"forest": {}}
    fair = data["fairness"]
    thr = fair.get("policy", {}).get("impact_ratio_min")
    for a in fair["attributes"]:
        figs["forest"][a["name"]] = group_forest(a, binary=fair["binary"], threshold=thr)
    ex, q = data["explainability"], data["quality"]
    # Each optional figure: (name, its input, the function drawing it); drawn where the input exists.
    optional = [("reliability", assets.get("reliability"), reliability_plot),
                ("importance", ex.get("importance"), importance_bar),
                ("top_tokens", ex.get("top_tokens"), top_tokens_plot),
                ("overlays", assets.get("images"), overlays),
                ("curves", q.get("curves"), curves_plot),
                ("randomization", q.get("randomization"), randomization_plot)]
    figs.update({name: draw(value) for name, value, draw in optional if value})
    maps = assets.get("class_maps") or {}
    if maps:
        m = "integrated_gradients" if "integrated_gradients" in maps else sorted(maps)[0]
        figs["class_maps"] = class_maps(maps[m], data["model"]["class_names"], m)
    return figs
