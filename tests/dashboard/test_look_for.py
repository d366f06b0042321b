"""Every chart of the dashboard says under its title, in one sentence, what a reader should look for."""
import inspect
import re

import numpy as np
import pandas as pd
import pytest

from deepaudit.dashboard.figures import base
from deepaudit.dashboard.figures import explain_finance as ffig
from deepaudit.dashboard.figures import explain_nlp as nfig
from deepaudit.dashboard.figures import explain_vision as vfig
from deepaudit.dashboard.figures import fairness as fair
from deepaudit.dashboard.figures import performance as pfig
from deepaudit.dashboard.figures import quality as qfig

GROUPS = ["a", "b", "c"]
RNG = np.random.default_rng(0)


def _rates():
    return pd.DataFrame([{"group": g, "metric": m, "value": v, "lo": v - .05, "hi": min(v + .05, 1.0), "n": 50}
                         for g, v in zip(GROUPS, (.9, .8, 1.0)) for m in ("accuracy", "tpr")])


BUILDERS = {
    ffig.importance_figure: lambda: dict(table=pd.DataFrame({"feature": ["x", "y"], "label": ["x", "y"],
                                                             "mean_abs": [.5, .2], "direction": ["higher raises",
                                                                                                  "higher lowers"]}),
                                         title="Global importance", unit="logit"),
    ffig.applicant_figure: lambda: dict(table=pd.DataFrame({"feature": ["x", "y"], "label": ["x = 1", "y = 2"],
                                                            "attribution": [.5, -.3]}),
                                        title="Applicant", unit="logit", favorable="approved",
                                        unfavorable="denied", signed=True),
    ffig.whatif_figure: lambda: dict(table=pd.DataFrame({"label": ["x", "y"], "original": [.5, -.3],
                                                         "edited": [.1, -.3]}),
                                     title="What if", unit="logit", favorable="approved"),
    nfig.counterfactual_figure: lambda: dict(pairs=pd.DataFrame({
        "attribute": ["gender"] * 2, "pair": ["he/she", "his/her"], "mean_diff": [.01, -.02], "lo": [-.01, -.03],
        "hi": [.02, -.01], "excludes_zero": [False, True], "flip_share": [0.0, .1]})),
    vfig.overlay_figure: lambda: dict(image=RNG.random((8, 8)), maps={"integrated_gradients": RNG.random((8, 8))},
                                      limits={"integrated_gradients": 1.0}, title="Sample 3"),
    vfig.class_maps_figure: lambda: dict(maps={"saliency": RNG.random((2, 8, 8))}, class_names=["0", "1"]),
    fair.impact_ratio_figure: lambda: dict(table=pd.DataFrame({"group": GROUPS, "value": [1.0, .7, .9],
                                                               "lo": [1.0, .6, .8], "hi": [1.0, .8, 1.0],
                                                               "reference": "a"})),
    fair.selection_rate_figure: lambda: dict(groups=pd.DataFrame({
        "group": GROUPS, "selection_rate": [.9, .6, .8], "selection_rate_lo": [.8, .5, .7],
        "selection_rate_hi": [.95, .7, .9], "n": 50})),
    fair.threshold_sweep_figure: lambda: dict(sweep=pd.DataFrame({"group": ["a"] * 3 + ["b"] * 3,
                                                                  "threshold": [.1, .5, .9] * 2,
                                                                  "selection_rate": [.9, .6, .2, .8, .4, .1]}),
                                              current=.5),
    pfig.group_rates_figure: lambda: dict(table=_rates()),
    pfig.confusion_figure: lambda: dict(table=pd.DataFrame({"true": ["0", "0", "1", "1"],
                                                            "predicted": ["0", "1", "0", "1"],
                                                            "count": [40, 10, 5, 45],
                                                            "row_share": [.8, .2, .1, .9]}), classes=["0", "1"]),
    pfig.reliability_figure: lambda: dict(table=pd.DataFrame({
        "group": ["a", "a"], "bin": [0, 1], "n_b": [20, 30], "mean_score": [.2, .8], "observed_rate": [.25, .7],
        "observed_lo": [.1, .55], "observed_hi": [.45, .85]})),
    pfig.ece_figure: lambda: dict(table=pd.DataFrame({"group": GROUPS, "ece": [.05, .12, .03], "lo": [.02, .08, .01],
                                                      "hi": [.08, .16, .05], "n": 50}), threshold=.1),
    qfig.completeness_figure: lambda: dict(steps=pd.DataFrame({"n_steps": [32, 64], "share_within_tol": [.9, .97]}),
                                           required=.95, tol=.05),
    qfig.curves_figure: lambda: dict(curves=pd.DataFrame([
        {"curve": c, "order": o, "fraction": f, "probability": p}
        for c in ("deletion", "insertion") for o in ("attribution", "random") for f, p in ((0, .9), (1, .1))])),
    qfig.robustness_figure: lambda: dict(per_sample=pd.DataFrame({"sample": [1, 2], "relative_infidelity": [.3, .5],
                                                                  "max_sensitivity": [.1, .2]}),
                                         infidelity_max=.72, sensitivity_max=.5),
    qfig.randomization_figure: lambda: dict(layers=pd.DataFrame({
        "method": ["saliency"] * 2, "step": [0, 1], "layer": ["", "fc"], "value": [1.0, .1],
        "measure": ["spearman"] * 2})),
}


def _figure_builders():
    for module in (ffig, nfig, vfig, fair, pfig, qfig):
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if name.endswith("_figure") and not name.startswith("_") and fn.__module__ == module.__name__:
                yield fn


def test_every_chart_builder_is_covered():
    """A new chart must come with its look-for sentence (and a case here)."""
    assert set(_figure_builders()) == set(BUILDERS)


@pytest.mark.parametrize("builder", list(BUILDERS), ids=lambda f: f.__name__)
def test_chart_says_what_to_look_for(builder):
    fig = builder(**BUILDERS[builder]())
    text = fig.layout.title.text
    match = re.search(f"<span style='{re.escape(base.LOOK_FOR_STYLE)}'>(.*?)</span>", text)
    assert match, f"{builder.__name__}: no look-for line in title {text!r}"
    sentence = match.group(1)
    # one sentence (no full stop inside it), ending with a full stop, short enough for a half-width chart
    assert sentence.endswith(".") and sentence.count(". ") == 0 and 30 <= len(sentence) <= 110, sentence
    # the title comes first, then the sentence; the figure has room for it above the plot
    assert text.index(sentence) > 0 and (fig.layout.margin.t or 0) >= 80


def test_empty_charts_do_not_claim_a_finding():
    """A placeholder (no data) says why it is empty and has no look-for line."""
    fig = pfig.group_rates_figure(pd.DataFrame(columns=["group", "metric", "value", "lo", "hi", "n"]))
    assert base.LOOK_FOR_STYLE not in (fig.layout.title.text or "")


def test_accuracy_axis_never_shows_a_tick_past_100_percent():
    fig = pfig.group_rates_figure(_rates())
    top = fig.layout.yaxis.range[1]
    assert 1.0 < top < 1.02  # room for a dot at 100%, no 102% tick
    assert all(t.cliponaxis is False for t in fig.data)
