"""Every dashboard page builds for every kind of user target in the zoo (audit/testing/zoo.py); the audit side
of the zoo is tests/audit/test_zoo.py."""
import pytest

from deepaudit.audit.runner import RunConfig, audit_target
from deepaudit.audit.store import RunStore
from deepaudit.audit.testing import zoo


@pytest.fixture(scope="module")
def zoo_store(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("zoo") / "runs")
    results = {name: audit_target(factory(), RunConfig(progress=False, samples=20), store=store)
               for name, factory in zoo.ZOO.items()}
    return store, results


def test_every_dashboard_page_builds_for_every_kind(app, zoo_store):
    from deepaudit.dashboard import ids
    from deepaudit.dashboard.context import AppContext
    from deepaudit.dashboard.pages import checks, explanations, fairness, performance, quality, report
    from tests.dashboard.util import text as text_of

    store, results = zoo_store
    ctx = AppContext(store)
    for name, result in results.items():
        for page in (checks, performance, fairness, explanations, quality, report):
            layout = page.build(ctx, result.model.name)
            assert getattr(layout, "id", None) != ids.NOT_FOUND, (name, page.__name__)
            text = text_of(layout)
            assert "No explanation view" not in text and "Traceback" not in text, (name, page.__name__)
        # the explanation view follows the data kind: applicants for rows, a gallery for images, reviews for text
        view = text_of(explanations.build(ctx, result.model.name))
        expected = {"tabular": "Cases", "image": "Explained samples", "text": "Explain your own"}
        assert expected[result.model.kind] in view, (name, view[:300])
        # credit words only where the target says its rows are applicants (the bundled mortgage model)
        assert "pplicant" not in view and "dverse-action" not in view, name


def test_colour_images_are_drawn_in_colour():
    """The input panel of an RGB sample is an image trace in its own colours; a digit stays a grey heatmap."""
    import numpy as np

    from deepaudit.dashboard.figures.explain_vision import overlay_figure, to_rgb

    rgb = np.zeros((3, 8, 8), dtype=np.float32)
    rgb[2, 2:6, 2:6] = 1.0                                   # a blue square
    fig = overlay_figure(rgb, {"saliency": np.ones((3, 8, 8))}, {"saliency": 1.0})
    assert fig.data[0].type == "image"
    pixel = np.asarray(fig.data[0].z)[3, 3]
    assert list(pixel) == [0, 0, 255] and list(np.asarray(fig.data[0].z)[0, 0]) == [0, 0, 0]
    grey = overlay_figure(np.eye(8), {"saliency": np.ones((8, 8))}, {"saliency": 1.0})
    assert grey.data[0].type == "heatmap" and to_rgb(np.eye(8)) is None
    assert to_rgb(np.ones((8, 8, 3))).shape == (8, 8, 3)      # channels-last too


def test_damaged_capability_and_noun_fields_read_as_unknown():
    """A tampered run whose capabilities or row noun are of the wrong type reads as if it said nothing."""
    from deepaudit.audit.capabilities import kind_of_run
    from deepaudit.dashboard.explain_finance_data import capability_reason, noun

    for caps in ("garbage", ["reason_codes"], {"not_applicable": "x"}, {"not_applicable": {"reason_codes": 7}}):
        assert capability_reason({"model": {"capabilities": caps}}, "reason_codes") == ""
    assert capability_reason({"model": {"capabilities": {"not_applicable": {"reason_codes": "two classes"}}}},
                             "reason_codes") == "two classes"
    assert noun({"model": {"row_noun": ["x"], "domain": "finance"}}) == "case"
    assert kind_of_run({"kind": ["image"], "capabilities": "junk", "domain": "vision"}) == "image"
    assert kind_of_run({"kind": "audio", "domain": "nlp"}) == "text" and kind_of_run({}) == "other"
