"""Every dashboard page builds for every kind of user target in the zoo (audit/testing/zoo.py); the audit side
of the zoo is tests/audit/test_zoo.py."""
import pytest

from audit.runner import RunConfig, audit_target
from audit.store import RunStore
from audit.testing import zoo


@pytest.fixture(scope="module")
def zoo_store(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("zoo") / "runs")
    results = {name: audit_target(factory(), RunConfig(progress=False, samples=20), store=store)
               for name, factory in zoo.ZOO.items()}
    return store, results


def test_every_dashboard_page_builds_for_every_kind(app, zoo_store):
    from dashboard import ids
    from dashboard.context import AppContext
    from dashboard.pages import checks, explanations, fairness, performance, quality, report
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
