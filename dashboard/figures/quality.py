"""Explanation-quality figures from tidy tables: completeness convergence, deletion/insertion curves,
infidelity / max-sensitivity per sample, cascading-randomization similarity per layer. No Dash, no store.

Like :mod:`deepaudit.dashboard.figures.performance`, each figure is one spec validated once."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from deepaudit.dashboard.figures.base import FAIL_COLOUR, OKABE_ITO, PASS_COLOUR, REFERENCE_COLOUR, look_for
from deepaudit.dashboard.figures.base import LAYOUT as _LAYOUT
from deepaudit.dashboard.figures.performance import LEGEND_BELOW, SYMBOLS, blank, figure, hline

METHOD_COLOURS = [OKABE_ITO[k] for k in ("blue", "orange", "green", "purple", "vermillion", "sky_blue", "black")]
LEFT, RIGHT = [0.0, 0.46], [0.54, 1.0]  # x domains of two side-by-side panels


def _panel_title(text: str, domain: list[float]) -> dict[str, Any]:
    return {"text": text, "xref": "paper", "x": sum(domain) / 2, "yref": "paper", "y": 1.0, "xanchor": "center",
            "yanchor": "bottom", "showarrow": False, "font": {"size": 12}}


def completeness_figure(steps: pd.DataFrame, *, required: float, tol: float, title: str | None = None) -> go.Figure:
    """Share of samples whose IG attributions sum to F(x) - F(baseline) within ``tol``, per step count tried.

    ``steps`` is tidy: ``n_steps``, ``share_within_tol`` (the audit doubles the steps until ``required``).
    """
    title = title or f"Completeness: share within {tol:.0%} by IG steps"
    if steps.empty:
        return blank(title, "no step counts stored")
    s = steps.sort_values("n_steps").reset_index(drop=True)
    ok = s["share_within_tol"] >= required
    data = [{"type": "scatter", "x": s["n_steps"].tolist(), "y": s["share_within_tol"].tolist(),
             "mode": "lines+markers", "line": {"color": REFERENCE_COLOUR},
             "marker": {"size": 11, "color": [PASS_COLOUR if o else FAIL_COLOUR for o in ok]},
             "hovertemplate": "n_steps = %{x}<br>%{y:.1%} of samples within " + f"{tol:.0%}<extra></extra>"}]
    # Every try but the last is below the requirement, so the label sits above the line on the left.
    shape, label = hline(required, f"required ({required:.0%})", position="top left")
    low = min(float(s["share_within_tol"].min()), required)
    return look_for(figure(data, title, shapes=[shape], annotations=[label],
                           xaxis={"title": {"text": "Integrated Gradients steps (log scale)"}, "type": "log",
                                  "tickvals": s["n_steps"].tolist()},
                           yaxis={"title": {"text": "samples within tolerance (%)"}, "tickformat": ".0%",
                                  "range": [max(0.0, low - 0.1), 1.02]}),
                    "The last point must reach the required line: then attributions add up to the score change.")


def curves_figure(curves: pd.DataFrame, *, aucs: dict[tuple[str, str], float] | None = None,
                  title: str | None = None) -> go.Figure:
    """Deletion and insertion curves, attribution order against random order, side by side.

    ``curves`` is tidy: ``curve`` (deletion | insertion), ``order`` (attribution | random), ``fraction`` (0..1),
    ``probability`` (mean softmax probability of the explained class). ``aucs`` maps (curve, order) to its AUC
    for the legend. Traces are ordered (deletion, attribution), (deletion, random), (insertion, ...).
    """
    title = title or "Deletion and insertion curves"
    if curves.empty:
        return blank(title, "no curves stored")
    aucs = aucs or {}
    style = {"attribution": {"color": OKABE_ITO["blue"], "dash": "solid", "width": 2.5},
             "random": {"color": REFERENCE_COLOUR, "dash": "dash", "width": 2}}
    data = []
    for axis, curve in (("", "deletion"), ("2", "insertion")):
        verb = "removed" if curve == "deletion" else "restored"
        for order in ("attribution", "random"):
            c = curves[(curves["curve"] == curve) & (curves["order"] == order)].sort_values("fraction")
            if c.empty:
                continue
            auc = aucs.get((curve, order))
            label = f"{order} order" + (f" (AUC {auc:.3f})" if auc is not None and np.isfinite(auc) else "")
            data.append({"type": "scatter", "x": c["fraction"].tolist(), "y": c["probability"].tolist(),
                         "mode": "lines", "name": f"{curve}: {label}", "line": style[order], "legendgroup": curve,
                         "xaxis": f"x{axis}", "yaxis": f"y{axis}",
                         "hovertemplate": f"{curve}, {order} order<br>%{{x:.0%}} of features {verb}<br>"
                                          "mean probability %{y:.3f}<extra></extra>"})
    return look_for(figure(
        data, title, showlegend=True, height=410, margin={**_LAYOUT["margin"], "b": 130},
        legend={**LEGEND_BELOW, "yref": "container", "y": 0.0, "yanchor": "bottom"},  # below the axis titles
        annotations=[_panel_title("Deletion: most-attributed features removed first", LEFT),
                     _panel_title("Insertion: most-attributed features restored first", RIGHT)],
        xaxis={"domain": LEFT, "title": {"text": "features removed (% of input)"}, "tickformat": ".0%",
               "range": [0, 1]},
        xaxis2={"domain": RIGHT, "anchor": "y2", "title": {"text": "features restored (% of input)"},
                "tickformat": ".0%", "range": [0, 1]},
        yaxis={"title": {"text": "mean P(explained class)"}, "range": [0, 1.02]},
        yaxis2={"anchor": "x2", "matches": "y", "showticklabels": False},
    ), "A faithful explanation: the blue line falls faster than random on the left, rises faster on the right.")


def robustness_figure(per_sample: pd.DataFrame, *, means: dict[str, float | None] | None = None,
                      infidelity_max: float | None = None, sensitivity_max: float | None = None,
                      chance: float | None = None, title: str | None = None) -> go.Figure:
    """Relative infidelity and max-sensitivity, one point per sample and the mean, against the policy maxima.

    ``per_sample`` is tidy: ``sample``, ``relative_infidelity``, ``max_sensitivity``. ``means`` holds the stored
    means (the checked values: ``summary["relative_infidelity"]["mean"]``, ``summary["max_sensitivity"]["mean"]``)
    by column name. Per panel: samples within the maximum, samples above it (named "sample above the policy
    max"), then the stored mean (named "mean ..."); a panel whose mean is not stored draws no mean marker and says
    so in its title.
    """
    title = title or "Infidelity and max-sensitivity per sample"
    if per_sample.empty:
        return blank(title, "no per-sample robustness values stored")
    jitter = np.random.default_rng(0).uniform(-0.18, 0.18, len(per_sample))  # fixed: same run, same picture
    data, shapes, notes, axes = [], [], [], {}
    shown: set[str] = set()
    panels = (("", "relative_infidelity", infidelity_max, LEFT,
               "Relative infidelity (0 = explains every output change)"),
              ("2", "max_sensitivity", sensitivity_max, RIGHT, "Max-sensitivity (relative change of the explanation)"))
    for axis, key, limit, domain, panel in panels:
        v = pd.to_numeric(per_sample[key], errors="coerce")
        fail = (v > limit).to_numpy() if limit is not None else np.zeros(len(v), bool)
        for over, colour, name in ((False, PASS_COLOUR, "sample"), (True, FAIL_COLOUR, "sample above the policy max")):
            pick = fail == over
            data.append({"type": "scatter", "x": jitter[pick].tolist(), "y": v[pick].tolist(), "mode": "markers",
                         "name": name, "legendgroup": name, "showlegend": bool(pick.any()) and name not in shown,
                         "marker": {"size": 9, "opacity": 0.85, "color": colour},
                         "customdata": per_sample["sample"][pick].tolist(), "xaxis": f"x{axis}", "yaxis": f"y{axis}",
                         "hovertemplate": "explained sample %{customdata}<br>%{y:.3f}<extra></extra>"})
            shown |= {name} if pick.any() else set()
        mean = (means or {}).get(key)
        if isinstance(mean, (int, float)) and not isinstance(mean, bool) and np.isfinite(mean):
            data.append({"type": "scatter", "x": [0], "y": [float(mean)], "mode": "markers",
                         "name": "mean (the checked value)", "legendgroup": "mean", "showlegend": axis == "",
                         "marker": {"size": 18, "symbol": "diamond-wide", "color": OKABE_ITO["black"]},
                         "xaxis": f"x{axis}", "yaxis": f"y{axis}", "hovertemplate": "mean %{y:.3f}<extra></extra>"})
        else:
            panel += " · mean not stored"
        if limit is not None:
            shape, label = hline(limit, f"policy max {limit:g}", axis=axis)
            shapes += [shape]
            notes += [label]
        if chance is not None and axis == "":
            shape, label = hline(chance, f"unrelated explanation ≈ {chance:.2f}", colour=REFERENCE_COLOUR, dash="dot",
                                 position="bottom left")
            shapes += [shape]
            notes += [label]
        notes.append(_panel_title(panel, domain))
        top = max(float(v.max()), limit or 0.0, chance if axis == "" and chance else 0.0) * 1.15
        axes[f"xaxis{axis}"] = {"domain": domain, "visible": False, "range": [-0.5, 0.5],
                                **({"anchor": "y2"} if axis else {})}
        axes[f"yaxis{axis}"] = {"range": [0, top], **({"anchor": "x2"} if axis else
                                                      {"title": {"text": "ratio (unitless)"}})}
    return look_for(figure(data, title, showlegend=True, height=380, margin={**_LAYOUT["margin"], "b": 60},
                           legend={**LEGEND_BELOW, "y": -0.05}, shapes=shapes, annotations=notes, **axes),
                    "Lower is better: the black mean is what is checked against the policy line.")


def randomization_figure(layers: pd.DataFrame, *, threshold: float | None = None,
                         title: str | None = None) -> go.Figure:
    """Similarity of each method's explanation to the original as layers are re-initialised, output first.

    ``layers`` is tidy: ``method``, ``step``, ``layer``, ``value`` (mean Spearman correlation), ``measure``,
    optionally ``median``. One trace per method, in order of first appearance.
    """
    title = title or "Cascading randomization: similarity to the original explanation"
    if layers.empty:
        return blank(title, "no randomization sanity check in this run")
    order = layers.sort_values("step").drop_duplicates("step")
    labels = {int(s): ("original model" if s == 0 else f"+ {lay}") for s, lay in zip(order["step"], order["layer"])}
    data = []
    for i, (method, m) in enumerate(layers.groupby("method", sort=False)):
        m = m.sort_values("step")
        med = m["median"] if "median" in m else m["value"]
        data.append({
            "type": "scatter", "x": [labels[int(s)] for s in m["step"]], "y": m["value"].tolist(),
            "mode": "lines+markers", "name": f"{method} ({m['measure'].iloc[0]})",
            "line": {"color": METHOD_COLOURS[i % len(METHOD_COLOURS)], "width": 2},
            "marker": {"size": 8, "symbol": SYMBOLS[i % len(SYMBOLS)]},
            "customdata": [[a, b] for a, b in zip(med.tolist(), m["layer"].tolist())],
            "hovertemplate": f"{method}<br>layers randomised up to %{{customdata[1]}}<br>mean Spearman %{{y:.3f}}"
                             "<br>median %{customdata[0]:.3f}<extra></extra>",
        })
    shapes = [{"type": "line", "xref": "x domain", "x0": 0, "x1": 1, "yref": "y", "y0": 0, "y1": 0,
               "line": {"color": REFERENCE_COLOUR, "width": 1}}]
    notes = []
    if threshold is not None:
        shape, label = hline(threshold, f"pass at or below {threshold:g} once all layers are random")
        shapes += [shape]
        notes += [label]
    return look_for(figure(data, title, showlegend=True, height=420, margin={**_LAYOUT["margin"], "b": 110},
                           legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1,
                                   "font": {"size": 12}}, shapes=shapes, annotations=notes,
                           xaxis={"title": {"text": "layers re-initialised (cumulative, from the output down)"},
                                  "type": "category", "tickangle": -30, "automargin": True},
                           yaxis={"title": {"text": "mean Spearman ρ with original"}, "range": [-1.02, 1.05]}),
                    "Lines should fall toward 0 as layers are randomised; a flat line ignores the model.")
