"""Explanations page, vision and NLP bodies: callback bodies called directly against the session store."""
import base64
import struct
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from dash import html

from deepaudit.audit.display import read_display
from deepaudit.audit.explain.views import token_attributions
from deepaudit.audit.result import AuditResult
from deepaudit.dashboard import ids, live_text
from deepaudit.dashboard.figures import explain_nlp as fnlp
from deepaudit.dashboard.figures import explain_vision as fvis
from deepaudit.dashboard.pages import explain_nlp, explain_vision
from tests.dashboard.util import text as text_of


def _by_id(tree, cid):
    for c in html.Div(tree)._traverse():
        if getattr(c, "id", None) == cid:
            return c
    raise KeyError(cid)


def _spans(tree, cls="xn-token"):
    return [c for c in html.Div(tree)._traverse() if isinstance(c, html.Span) and c.className == cls]


@pytest.fixture(scope="module")
def vrun(store):
    return store.load("latest:mnist_cnn")


@pytest.fixture(scope="module")
def nrun(store):
    return store.load("latest:sentiment")


@pytest.fixture(scope="module")
def vstate(vrun):
    return {"run_id": vrun.run_id}


@pytest.fixture(scope="module")
def nstate(nrun):
    return {"run_id": nrun.run_id}


class _Subset:
    """A stored run that pretends some of its arrays / result parts are missing (an older or partial run)."""

    def __init__(self, run, keep=lambda name: True, result=None):
        self._run, self._keep = run, keep
        self.run_id, self.result = run.run_id, result or run.result
        self._typed = AuditResult.from_dict(self.result, path=run.path)

    def __getattr__(self, name):  # the typed sections (model, fairness, explanations, ...) of ``result``
        return getattr(self._typed, name)

    def array_names(self):
        return [n for n in self._run.array_names() if self._keep(n)]

    def arrays(self, name):
        if not self._keep(name):
            raise ValueError(f"no array {name}")
        return self._run.arrays(name)

    def predictions(self):
        return self._run.predictions()


def _ctx_with(ctx, run):
    return SimpleNamespace(runs=SimpleNamespace(get=lambda _id: run), live=ctx.live)


# --- vision ---------------------------------------------------------------------------------------------

def test_explained_table_matches_predictions_and_arrays(vrun):
    data = explain_vision.explained(vrun)
    arr = vrun.arrays("attr_integrated_gradients")
    pred = vrun.predictions()
    assert list(data.maps) == ["integrated_gradients", "saliency"]
    assert data.table["sample_id"].tolist() == arr["sample_id"].tolist()
    k = arr["sample_index"]
    assert data.table["y_true"].tolist() == pred["y_true"].to_numpy()[k].tolist()
    assert data.table["correct"].tolist() == (pred["y_true"].to_numpy()[k] == pred["y_pred"].to_numpy()[k]).tolist()
    assert set(data.cohorts) >= {"ink_mass", "slant"}


def test_gallery_filters_by_class_cohort_and_correctness(ctx, vrun, vstate):
    data = explain_vision.explained(vrun)
    t = data.table
    cls = str(int(t["y_true"].mode()[0]))
    options, value, count = explain_vision.update_gallery(ctx, cls, None, "all", None, vstate)
    expected = t[t["y_true"] == int(cls)]["sample_id"].astype(str).tolist()
    assert [o["value"] for o in options] == expected and value == expected[0]
    assert f"{len(expected)} of {len(t)} explained samples match" in text_of(count)

    options, _, count = explain_vision.update_gallery(ctx, None, None, "wrong", None, vstate)
    assert [o["value"] for o in options] == t[~t["correct"]]["sample_id"].astype(str).tolist()
    assert f"({int((~t['correct']).sum())} misclassified)" in text_of(count)

    col = data.cohorts[0]
    v = t[col].iloc[0]
    options, _, _ = explain_vision.update_gallery(ctx, None, f"{col}:{v}", "correct", None, vstate)
    assert [o["value"] for o in options] == t[(t[col] == v) & t["correct"]]["sample_id"].astype(str).tolist()
    # Wrong thumbnails carry the wrong-prediction style; the label says true -> predicted.
    options, _, _ = explain_vision.update_gallery(ctx, None, None, "all", None, vstate)
    for o, r in zip(options, t.itertuples()):
        assert ("xv-wrong" in o["label"].className) == (not r.correct)
        assert f"{r.y_true}→{r.y_pred}" in text_of(o["label"])


def test_gallery_keeps_the_selected_sample_and_ignores_junk(ctx, vrun, vstate):
    t = explain_vision.explained(vrun).table
    chosen = str(t["sample_id"].iloc[3])
    _, value, _ = explain_vision.update_gallery(ctx, None, None, "all", chosen, vstate)
    assert value == chosen
    _, value, _ = explain_vision.update_gallery(ctx, "not-a-class", "nope", "bogus", "x'); alert(1)", vstate)
    assert value == str(t["sample_id"].iloc[0])


def test_detail_overlays_use_the_stored_maps_and_a_symmetric_scale(ctx, vrun, vstate):
    t = explain_vision.explained(vrun).table
    sid, k = int(t["sample_id"].iloc[2]), int(t["sample_index"].iloc[2])
    detail, figure = explain_vision.update_detail(ctx, str(sid), "sample", vstate)
    heat = [tr for tr in figure.data if tr.type == "heatmap"]
    target = ctx.live.target(vrun.result["model"]["spec"])
    assert np.allclose(np.asarray(heat[0].z), target.eval_data.raw[k])  # the input image comes first
    for tr, m in zip(heat[1:], ["integrated_gradients", "saliency"]):
        a = vrun.arrays(f"attr_{m}")["attributions"][2]
        assert np.allclose(np.asarray(tr.z), a.reshape(28, 28), atol=1e-6)
        zmax = float(np.abs(a).max())
        assert tr.zmin == pytest.approx(-zmax) and tr.zmax == pytest.approx(zmax) and tr.zmid == 0
        assert tr.colorbar.title.text == "attribution"
    assert any(tr.type == "contour" for tr in figure.data)  # the digit's outline over each map
    text = text_of(detail)
    assert str(sid) in text and ("correct" in text or "misclassified" in text)

    _, figure = explain_vision.update_detail(ctx, str(sid), "run", vstate)
    ig = [tr for tr in figure.data if tr.type == "heatmap"][1]
    all_ig = vrun.arrays("attr_integrated_gradients")["attributions"]
    assert ig.zmax == pytest.approx(float(np.quantile(np.abs(all_ig), 0.99)))


def test_detail_unknown_sample_says_so(ctx, vstate):
    detail, figure = explain_vision.update_detail(ctx, "999999", "sample", vstate)
    assert "not among this run's explained samples" in text_of(detail)
    assert figure.layout.annotations[0].text == "select a sample in the gallery"


def test_class_maps_grid_is_the_stored_view(vrun):
    figure = explain_vision.class_maps(vrun)
    classes = vrun.result["model"]["class_names"]
    heat = [tr for tr in figure.data if tr.type == "heatmap"]
    assert len(heat) == 2  # one row (trace) per method, the classes side by side
    for tr, m in zip(heat, ["integrated_gradients", "saliency"]):
        stored = vrun.arrays(f"view_{m}")["class_maps"]
        z = np.asarray(tr.z, dtype=float)
        w, gap = stored.shape[2], fvis.CLASS_GAP
        assert z.shape == (stored.shape[1], len(classes) * (w + gap) - gap)
        for j in range(len(classes)):
            assert np.allclose(z[:, j * (w + gap): j * (w + gap) + w], stored[j], equal_nan=True)
        assert np.isnan(z[:, w:w + gap]).all()
        zmax = fvis.symmetric_limit(stored, quantile=fvis.CLASS_MAP_QUANTILE)
        assert tr.zmax == pytest.approx(zmax) and tr.zmin == pytest.approx(-zmax) and tr.showscale
        assert tr.colorbar.title.text == "attribution"
    counts = [r["n"] for r in vrun.explanations.methods["integrated_gradients"].tables["class_map_counts"]]
    titles = [a.text for a in figure.layout.annotations if a.xref == "x"]
    assert titles == [f"{c} (n={n})" for c, n in zip(classes, counts)]


def test_vision_body_restores_query_and_warns_on_bad_values(ctx, vrun):
    tree = explain_vision.body(ctx, vrun, {"cls": "3", "correct": "wrong", "cohort": "bogus:x", "scale": "run",
                                           "sample": "12"})
    assert _by_id(tree, ids.EXPLAIN_VISION_CLASS).value == "3"
    assert _by_id(tree, ids.EXPLAIN_VISION_CORRECT).value == "wrong"
    assert _by_id(tree, ids.EXPLAIN_VISION_COHORT).value is None
    assert _by_id(tree, ids.EXPLAIN_VISION_SCALE).value == "run"
    assert _by_id(tree, ids.EXPLAIN_VISION_GALLERY).value == "12"
    assert "Ignored cohort 'bogus:x'" in text_of(tree)
    tree = explain_vision.body(ctx, vrun, {"cls": "<script>"})
    assert _by_id(tree, ids.EXPLAIN_VISION_CLASS).value is None and "Ignored class" in text_of(tree)


def test_vision_without_arrays_or_views(ctx, vrun, vstate):
    bare = _Subset(vrun, keep=lambda n: False)
    assert "stored no attribution arrays" in text_of(explain_vision.body(ctx, bare, {}))
    c = _ctx_with(ctx, bare)
    assert explain_vision.update_gallery(c, None, None, "all", None, vstate)[0] == []
    assert "stored no attributions" in text_of(explain_vision.update_detail(c, "1", "sample", vstate)[0])
    no_views = _Subset(vrun, keep=lambda n: n.startswith("attr_"))
    figure = explain_vision.class_maps(no_views)
    assert figure.layout.annotations[0].text == "no class-average maps stored for this run"
    one = _Subset(vrun, keep=lambda n: n != "attr_saliency")
    assert list(explain_vision.explained(one).maps) == ["integrated_gradients"]


def test_png_thumbnail_is_a_valid_png():
    img = np.zeros((28, 28), dtype=np.float32)
    img[5:10, 3:7] = 1
    uri = fvis.png_data_uri(img)
    png = base64.b64decode(uri.split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    assert struct.unpack(">II", png[16:24]) == (28, 28)


# --- NLP ------------------------------------------------------------------------------------------------

def test_stored_heatmap_colours_each_token_with_its_stored_attribution(ctx, nrun, nstate):
    arr = nrun.arrays("attr_integrated_gradients")
    target = ctx.live.target(nrun.result["model"]["spec"])
    sid, k = str(int(arr["sample_id"][1])), int(arr["sample_index"][1])
    facts, heat = explain_nlp.update_stored(ctx, sid, "integrated_gradients", nstate)
    text = target.eval_data.raw[k]
    toks = token_attributions(text, arr["attributions"][1], target.tokenizer)
    spans = _spans(heat)
    assert len(spans) == len(toks)
    for s, t in zip(spans, toks.itertuples()):
        assert s.children == text[t.start:t.end]
        assert s.title == f"{s.children}: {t.attribution:+.3g}"
        colour = fnlp.POSITIVE_RGB if t.attribution >= 0 else fnlp.NEGATIVE_RGB
        assert s.style["backgroundColor"].startswith("rgba({},{},{},".format(*colour))
    assert f"attributions sum to {toks['attribution'].sum():+.3f}" in text_of(facts)
    assert "toward 'positive'" in text_of(facts)


def test_stored_heatmap_bad_selection(ctx, nstate):
    bad = explain_nlp.update_stored(ctx, "-5", "integrated_gradients", nstate)[0]
    assert "not among this run's explained reviews" in text_of(bad)
    assert "has no stored attributions" in text_of(explain_nlp.update_stored(ctx, "1", "shap", nstate)[0])


def test_segments_keep_the_text_and_mark_what_the_model_skipped():
    from deepaudit.models.nlp.tokenizer import tokenize

    text = "Great film.<br /><br />Middle words skipped here. Bad end!"
    all_toks = tokenize(text)  # the model reads the first 3 and the last 3 tokens only
    kept = all_toks[:3] + all_toks[-3:]
    toks = pd.DataFrame({"start": [t.start for t in kept], "end": [t.end for t in kept],
                         "attribution": [0.5, 0.1, 0.0, -0.2, -0.4, 0.3]})
    segs = fnlp.segments(text, toks)
    assert "".join(segs["text"]) == text
    skipped = segs[~segs["read"]]
    assert len(skipped) == 1 and "Middle words" in skipped["text"].iloc[0]
    spans = fnlp.token_spans(segs)
    assert any(isinstance(c, html.Br) for c in html.Div(spans)._traverse())  # <br /> becomes a line break
    assert fnlp.span_style(-0.4, 0.5)["color"] == "#ffffff" and fnlp.span_style(0.4, 0.5)["color"] == "#1f2328"
    assert fnlp.span_style(0.0, 0.5)["backgroundColor"].endswith(",0.0)")


REVIEW = ("I expected a lot more from this film. The cast is strong and the score is lovely, but the script is lazy, "
          "the jokes fall flat and the second half drags on forever. Some scenes are beautifully shot and the lead "
          "actress does her best with what she has, yet I kept checking my watch. A waste of a great premise and "
          "a talented crew; I cannot recommend it, except maybe to fans of the director who will forgive anything.")


@pytest.fixture
def one_torch_thread():
    """Serve-like torch threading: with 2 intra-op threads on a busy 2-core machine, OpenMP barriers turn a
    40 ms explanation into seconds (measured: median 556 ms, max 4 s at load 6; 68 ms with one thread)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_live_explanation_predicts_and_is_complete(ctx, nrun, nstate, one_torch_thread):
    target = ctx.live.target(nrun.result["model"]["spec"])
    explain_nlp.update_live(ctx, 1, REVIEW, nstate)  # warm-up
    out = explain_nlp.update_live(ctx, 1, REVIEW, nstate)  # latency: benchmarks/dashboard_load.py
    assert len(REVIEW.split()) >= 80
    probs = torch.softmax(target.logits(target.preprocess([REVIEW])).double(), 1)[0].numpy()
    pred = target.class_names[int(probs.argmax())]
    text = text_of(out)
    assert f"Predicted: {pred}" in text and f"({probs.max():.1%})" in text
    assert "within the 5% tolerance" in text
    res = live_text.explain_text(target, REVIEW, options={"n_steps": 64})
    c = res.completeness
    moved = c["logit"] - c["path_start_logit"]
    assert abs(c["attribution_sum"] - moved) <= 0.05 * abs(moved)
    assert res.tokens["attribution"].sum() == pytest.approx(c["attribution_sum"], rel=1e-4)
    assert len(_spans(out)) == len(target.tokenizer.tokens(REVIEW))


def test_live_explanation_matches_the_runs_own_attributions(ctx, nrun):
    arr = nrun.arrays("attr_integrated_gradients")
    target = ctx.live.target(nrun.result["model"]["spec"])
    method, options = live_text.live_method(nrun)
    assert method == "integrated_gradients" and options == nrun.result["explanations"]["methods"][method]["options"]
    text = target.eval_data.raw[int(arr["sample_index"][0])]
    res = live_text.explain_text(target, text, method=method, options=options)
    stored = arr["attributions"][0][: len(res.tokens)]
    assert np.allclose(res.tokens["attribution"].to_numpy(), stored, atol=1e-3 * max(1.0, np.abs(stored).max()))


@pytest.mark.parametrize("text, message", [
    ("", live_text.EMPTY_TEXT), ("   \n\t ", live_text.EMPTY_TEXT), (None, live_text.EMPTY_TEXT),
    ("x" * 2001, live_text.TOO_LONG.format(n=2001, limit=2000)),
])
def test_live_input_limits(ctx, nstate, text, message):
    out = explain_nlp.update_live(ctx, 1, text, nstate)
    assert text_of(out) == message and out[0].role == "alert"


def test_live_input_at_the_limit_is_explained(ctx, nstate):
    assert "Predicted:" in text_of(explain_nlp.update_live(ctx, 1, ("good film, " * 200)[:2000], nstate))
    assert text_of(explain_nlp.update_live(ctx, 0, "anything", nstate)) == explain_nlp.LIVE_HINT


def test_counterfactual_pairs_table_and_chart(ctx, nrun, nstate):
    probe = nrun.result["fairness"]["probes"]["counterfactual"]
    pairs = probe["pairs"]
    rows, figure = explain_nlp.update_probes(ctx, None, nstate)
    assert len(rows) == len(pairs)
    p0 = pairs[0]
    want = f"{100 * p0['mean_diff']:+.1f} [{100 * p0['lo']:+.1f}, {100 * p0['hi']:+.1f}]"
    assert rows[0]["mean_diff"].startswith(want)
    assert rows[0]["flip_share"] == f"{p0['flip_share']:.1%}"
    xs = sorted(float(x) for tr in figure.data for x in tr.x)
    assert xs == pytest.approx(sorted(100 * p["mean_diff"] for p in pairs))
    excl = sum((p["lo"] > 0) or (p["hi"] < 0) for p in pairs)
    red = [tr for tr in figure.data if tr.name == "interval excludes 0"]
    assert (len(red[0].x) if red else 0) == excl
    attr = pairs[-1]["attribute"]
    rows, _ = explain_nlp.update_probes(ctx, attr, nstate)
    assert {r["attribute"] for r in rows} == {attr}
    assert {r["kind"] for r in rows} == {"identity term" if attr.startswith("identity") else "name swap"}


def test_nlp_body_restores_query_and_warns(ctx, nrun):
    arr = nrun.arrays("attr_integrated_gradients")
    sid = str(int(arr["sample_id"][2]))
    attr = nrun.result["fairness"]["probes"]["counterfactual"]["pairs"][-1]["attribute"]
    tree = explain_nlp.body(ctx, nrun, {"review": sid, "method": "integrated_gradients", "probe": attr})
    assert _by_id(tree, ids.EXPLAIN_NLP_REVIEW).value == sid
    assert _by_id(tree, ids.EXPLAIN_NLP_METHOD).value == "integrated_gradients"
    assert _by_id(tree, ids.EXPLAIN_NLP_PROBE_ATTRIBUTE).value == attr
    tree = explain_nlp.body(ctx, nrun, {"review": "abc", "method": "nope", "probe": "zzz"})
    text = text_of(tree)
    assert "Ignored review 'abc'" in text and "Ignored method 'nope'" in text
    assert "Ignored probe attribute 'zzz'" in text
    assert _by_id(tree, ids.EXPLAIN_NLP_METHOD).value == "integrated_gradients"


def test_nlp_without_arrays_or_probes(ctx, nrun, nstate):
    result = {**nrun.result, "fairness": {"status": "computed", "attributes": []}}
    bare = _Subset(nrun, keep=lambda n: False, result=result)
    text = text_of(explain_nlp.body(ctx, bare, {}))
    assert "stored no token attributions" in text and "no counterfactual probe results" in text
    rows, figure = explain_nlp.update_probes(_ctx_with(ctx, bare), None, nstate)
    assert rows == [] and figure.layout.annotations[0].text == "no counterfactual pairs in this run"


class _NoModel:
    def target(self, spec):
        raise ModuleNotFoundError(f"no module named {spec!r}_package")


def test_stored_views_never_load_the_model(ctx, vrun, nrun, vstate, nstate):
    """Stored images, texts and heatmaps come from the run directory; only the live explanation needs the model."""
    v = SimpleNamespace(runs=SimpleNamespace(get=lambda _id: vrun), live=_NoModel())
    options, value, count = explain_vision.update_gallery(v, None, None, "all", None, vstate)
    assert len(options) == len(explain_vision.explained(vrun).table) and "could not be loaded" not in text_of(count)
    detail, figure = explain_vision.update_detail(v, value, "sample", vstate)
    assert [a.text for a in figure.layout.annotations][:2] == ["input image", "Integrated Gradients"]
    k = int(explain_vision.explained(vrun).table.set_index("sample_id").loc[int(value), "sample_index"])
    np.testing.assert_array_equal(np.asarray(figure.data[0].z, dtype=float),
                                  fvis.to_gray(read_display(vrun).image(k)))   # the stored image is drawn
    n = SimpleNamespace(runs=SimpleNamespace(get=lambda _id: nrun), live=_NoModel())
    assert "could not be loaded" in text_of(explain_nlp.update_live(n, 1, "A fine film.", nstate))
    sid = explain_nlp.reviews(nrun)["sample_id"].iloc[0]
    facts, heat = explain_nlp.update_stored(n, str(sid), "integrated_gradients", nstate)
    assert "tokens read" in text_of(facts) and heat
    assert "could not be loaded" not in text_of(explain_nlp.body(n, nrun, {}))


def test_runs_without_stored_inputs_say_so(ctx, vrun, nrun, vstate, nstate):
    """An older run (no arrays/display.npz) shows the maps alone and says how to get the inputs back."""
    vbare = _Subset(vrun, keep=lambda n: n != "display")
    v = _ctx_with(ctx, vbare)
    options, value, count = explain_vision.update_gallery(v, None, None, "all", None, vstate)
    assert len(options) == len(explain_vision.explained(vrun).table) and "audit the model again" in text_of(count)
    detail, figure = explain_vision.update_detail(v, value, "sample", vstate)
    assert "audit the model again" in text_of(detail)
    assert [a.text for a in figure.layout.annotations][:2] == ["Integrated Gradients", "Saliency"]  # no image panel
    nbare = _Subset(nrun, keep=lambda n: n != "display")
    n = _ctx_with(ctx, nbare)
    sid = explain_nlp.reviews(nrun)["sample_id"].iloc[0]
    assert "audit the model again" in text_of(explain_nlp.update_stored(n, str(sid), "integrated_gradients", nstate)[0])


def test_run_target_says_when_the_model_changed(ctx, nrun):
    target, note = live_text.run_target(ctx, nrun)
    assert target is not None and note == ""
    changed = {**nrun.result, "provenance": {**nrun.result["provenance"], "weights_sha256": "0" * 64}}
    _, note = live_text.run_target(ctx, AuditResult.from_dict(changed, path=nrun.path))
    assert note == live_text.HASH_CHANGED.format(what="weights")


def test_channels_last_and_first_images_become_gray():
    rgb = np.zeros((28, 30, 3))
    rgb[..., 0] = 0.9
    assert fvis.to_gray(rgb).shape == (28, 30) and np.allclose(fvis.to_gray(rgb), 0.3)
    assert fvis.to_gray(np.ones((3, 28, 30))).shape == (28, 30)
    assert fvis.to_2d(np.ones((1, 28, 28))).shape == (28, 28)
    assert fvis.symmetric_limit(np.array([np.nan, 0.0])) == 1.0 and fvis.symmetric_limit(np.array([-3.0, 2.0])) == 3.0


@pytest.mark.parametrize(("scale", "decimals"), [(1e-2, 1), (1e-6, 5)])
def test_counterfactual_ticks_resolve_tiny_differences(scale, decimals):
    """A model the swaps barely move (differences of 1e-4 pp) gets ticks with enough decimals to tell them
    apart, not a row of "+0.0"; ordinary differences keep one decimal."""
    pairs = pd.DataFrame({"attribute": ["gender"] * 2, "pair": ["f − m", "m − x"], "mean_diff": [0.3 * scale, -scale],
                          "lo": [-0.5 * scale, -2 * scale], "hi": [scale, 0.2 * scale], "excludes_zero": [False, False],
                          "flip_share": [0.0, 0.0]})
    fig = fnlp.counterfactual_figure(pairs, favorable="positive")
    assert fig.layout.xaxis.tickformat == f"+.{decimals}f"
