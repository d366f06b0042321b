"""The server builds figures without plotly's validation (dashboard/figures/base.py, ~4x cheaper), and the
fairness page's as plain dicts; the tests build them validated. Both must reach the browser as the same JSON,
and validation must be on in the tests."""
from __future__ import annotations

import base64
import json

import numpy as np
import plotly.graph_objects as go
import pytest
from plotly.io.json import to_json_plotly

from deepaudit.dashboard.figures import base
from deepaudit.dashboard.pages import fairness as fairness_page


def _json(fig) -> dict:
    """The figure as the browser reads it. Dash serialises outputs with ``to_json_plotly``, which writes some
    numeric arrays as plotly.js typed arrays (``{"dtype", "bdata", "shape"}``, decoded here to lists). The
    template is left out: the layouts name the empty template ``{}``, which validation fills with plotly's
    per-trace defaults (``{"data": {"scatter": [{"type": "scatter"}]}}``)."""
    out = _decoded(json.loads(to_json_plotly(fig)))
    template = out["layout"].pop("template", {})
    assert not template.get("layout") and all(t == [{"type": k}] for k, t in template.get("data", {}).items())
    return _drop_empty(out)


def _decoded(x):
    if isinstance(x, dict) and {"dtype", "bdata"} <= set(x):
        values = np.frombuffer(base64.b64decode(x["bdata"]), dtype=x["dtype"])
        return values.reshape([int(n) for n in str(x["shape"]).split(",")] if "shape" in x else -1).tolist()
    if isinstance(x, dict):
        return {k: _decoded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_decoded(v) for v in x]
    return x


def _drop_empty(x):
    """Validation drops empty layout lists (``annotations: []``, ``shapes: []``): nothing is drawn either way."""
    if isinstance(x, dict):
        return {k: _drop_empty(v) for k, v in x.items() if v != [] and v != {}}
    if isinstance(x, list):
        return [_drop_empty(v) for v in x]
    return x


def test_the_suite_validates_figures_and_validation_catches_a_bad_property(monkeypatch):
    assert base.validating()                      # tests/conftest.py sets DEEPAUDIT_VALIDATE_FIGURES=1
    with pytest.raises(ValueError, match="markr"):
        base.new_figure([base.trace("scatter", x=[1], y=[2], markr={"size": 3})], {})
    monkeypatch.setenv(base.VALIDATE_ENV, "0")
    assert not base.validating()
    base.new_figure([base.trace("scatter", x=[1], y=[2], markr={"size": 3})], {})   # not checked when serving


@pytest.mark.parametrize("threshold", [0.5, 0.37])
def test_unvalidated_fairness_figures_serialise_like_validated_ones(ctx, monkeypatch, threshold):
    run = ctx.resolve("mortgage")
    state = {"model": "mortgage", "run_id": run.run_id}

    def draw():
        view = fairness_page.update(ctx, "race", state, None, None, threshold)
        return [view.impact, view.rates, view.sweep]

    checked = draw()
    monkeypatch.setenv(base.VALIDATE_ENV, "0")
    fast = draw()
    # served: plain dicts, no plotly object tree; tested: validated figures
    assert all(type(f) is dict for f in fast) and all(isinstance(f, go.Figure) and f._validate for f in checked)
    for a, b in zip(checked, fast):
        ja, jb = _json(a), _json(b)
        assert ja["data"] and ja == jb


def test_unvalidated_layout_only_figures_equal_validated_ones(monkeypatch):
    def draw():
        return base.empty("Nothing", "no data")

    checked = draw()
    monkeypatch.setenv(base.VALIDATE_ENV, "0")
    assert _json(draw()) == _json(checked)


def test_a_served_figure_shares_no_container_with_the_module_style(monkeypatch):
    """Plain-dict figures are cached and served again: editing one must not change the page style constants."""
    from deepaudit.dashboard.figures import fairness as ffig

    monkeypatch.setenv(base.VALIDATE_ENV, "0")
    before = json.dumps([base.LAYOUT, base.AXIS], sort_keys=True)
    fig = ffig.selection_rate_figure([{"group": "a", "selection_rate": 0.5, "selection_rate_lo": 0.4,
                                       "selection_rate_hi": 0.6, "n": 10}])
    assert type(fig) is dict
    fig["layout"]["font"]["size"] = 99
    fig["layout"]["xaxis"]["title"]["standoff"] = 99
    fig["layout"]["colorway"].append("#123456")
    assert json.dumps([base.LAYOUT, base.AXIS], sort_keys=True) == before


def test_the_what_if_figure_serialises_like_its_validated_form_and_ranks_by_the_larger_size(monkeypatch):
    """The what-if chart answers live requests as a plain dict: the same JSON as validated, the top features by
    the larger of |original| and |edited| (ties in table order, a feature with neither value last)."""
    import pandas as pd

    from deepaudit.dashboard.figures import explain_finance as xfig

    table = pd.DataFrame({"label": list("abcdef"), "original": [0.1, -0.5, 0.2, float("nan"), 0.3, 0.2],
                          "edited": [0.4, 0.1, -0.2, float("nan"), -0.3, 0.0]})

    def draw():
        return xfig.whatif_figure(table, title="What-if", unit="logit", favorable="approve", top=5)

    checked = draw()
    monkeypatch.setenv(base.VALIDATE_ENV, "0")
    fast = draw()
    assert type(fast) is dict and isinstance(checked, go.Figure)
    assert _json(checked) == _json(fast)
    assert fast["data"][0]["y"] == ["b", "a", "e", "c", "f"]       # 0.5, 0.4, 0.3, 0.2 (c before f), then none
    assert fast["data"][1]["x"] == [0.1, 0.4, -0.3, -0.2, 0.0]
