"""The bundled models' audit targets carry what the audit, the report and the dashboard need: no consumer
looks the model up in this package."""
import pandas as pd
import pytest

from deepaudit.models import get_entry, get_target, list_models
from deepaudit.models import targets as entry_factories


@pytest.fixture(scope="module")
def mortgage():
    return get_target("mortgage", device="cpu")


def test_every_registered_model_has_a_target_factory():
    assert sorted(entry_factories.__all__) == list_models()
    for name in list_models():
        assert callable(getattr(entry_factories, name))


def test_the_run_card_carries_architecture_and_training_data(mortgage):
    meta = get_entry("mortgage").weights.meta
    card = mortgage.provenance["card"]
    assert card["intended_use"] == meta["card"]["intended_use"]
    assert card["architecture"] == meta["architecture"] and card["training_data"] == meta["dataset"]


def test_mortgage_gives_its_training_rows_and_missing_codes(mortgage):
    from deepaudit.models.finance import data

    rows = mortgage.reference_rows
    assert isinstance(rows, pd.DataFrame) and len(rows) == len(data.load_split().train)
    spec = get_entry("mortgage").weights.meta["preprocessing"]
    expected = {f["name"]: f["sentinels"] for f in spec["features"] if f.get("sentinels")}
    assert mortgage.provenance["feature_sentinels"] == expected


def test_the_entry_point_factory_returns_the_registry_target():
    target = entry_factories.mortgage(device="cpu")
    assert target.name == "mortgage"
    assert target.provenance["weights_sha256"] == get_entry("mortgage").weights.meta["sha256"]
