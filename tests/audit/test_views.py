"""Global views against hand-computed answers."""
from __future__ import annotations

import numpy as np
import pytest

from deepaudit.audit.explain import views
from deepaudit.models.nlp.tokenizer import Vocabulary


def test_feature_importance_ranks_shares_and_direction():
    rng = np.random.RandomState(0)
    x = rng.normal(size=(200, 3))
    # feature b: attribution grows with the value (raises); c: falls with it; a: tiny.
    attr = np.stack([0.01 * rng.normal(size=200), 2.0 * x[:, 1], -1.0 * x[:, 2]], axis=1)
    df = views.feature_importance(attr, x, ["a", "b", "c"], labels={"b": "bee"})
    assert list(df["feature"]) == ["b", "c", "a"]
    assert list(df["rank"]) == [1, 2, 3]
    np.testing.assert_allclose(df["share"].sum(), 1.0)
    np.testing.assert_allclose(df.set_index("feature").loc["b", "mean_abs"], np.abs(attr[:, 1]).mean())
    d = df.set_index("feature")["direction"]
    assert d["b"] == "higher raises" and d["c"] == "higher lowers"
    assert df.set_index("feature").loc["b", "label"] == "bee"


def test_feature_importance_shape_mismatch():
    with pytest.raises(ValueError, match="attributions have shape"):
        views.feature_importance(np.zeros((3, 2)), np.zeros((3, 3)), ["a", "b"])


def test_group_share_known_values():
    attr = np.zeros((2, 4, 4))
    attr[0, 0, 0] = 3.0
    attr[0, 3, 3] = -1.0          # sign ignored: shares use |attribution|
    attr[1, 0, 0] = 1.0
    mask = np.zeros((4, 4), dtype=bool)
    mask[0, 0] = True
    df = views.group_share(attr, {"corner": mask}).set_index("region")
    assert df.loc["corner", "attribution_share"] == pytest.approx((0.75 + 1.0) / 2)
    assert df.loc["corner", "area_share"] == pytest.approx(1 / 16)
    assert df.loc["corner", "ratio"] == pytest.approx(0.875 * 16)
    with pytest.raises(ValueError, match="covers no element"):
        views.group_share(attr, {"none": np.zeros((4, 4), dtype=bool)})


def test_feature_groups_pair_missing_indicators():
    g = views.feature_groups(["rep", "rep_missing", "liq"])
    assert set(g) == {"rep", "liq"}
    assert g["rep"].tolist() == [True, True, False]


def test_grid_regions_partition_the_image():
    regions = views.grid_regions(28, 28)
    total = sum(m.astype(int) for m in regions.values())
    assert len(regions) == 9 and (total == 1).all()


def test_class_average_maps():
    attr = np.arange(4 * 1 * 2 * 2, dtype=float).reshape(4, 1, 2, 2)
    maps, counts = views.class_average_maps(attr, [0, 0, 2, 2], ["a", "b", "c"])
    np.testing.assert_allclose(maps[0], attr[:2, 0].mean(0))
    assert np.isnan(maps[1]).all()
    assert counts["n"].tolist() == [2, 0, 2]


def test_token_ranking_signs_and_min_count():
    itos = ["<pad>", "<unk>", "good", "bad", "rare"]
    ids = np.array([[2, 3, 4, 0], [2, 3, 2, 0], [3, 2, 0, 0]])
    attr = np.array([[1.0, -1.0, 5.0, 9.0], [0.5, -2.0, 1.5, 9.0], [-3.0, 1.0, 9.0, 9.0]])
    df = views.token_ranking(attr, ids, itos, min_count=2)
    pos = df[df.side == "positive"]
    neg = df[df.side == "negative"]
    assert pos["token"].tolist() == ["good"] and pos["mean"].iloc[0] == pytest.approx(1.0)
    assert neg["token"].tolist() == ["bad"] and neg["mean"].iloc[0] == pytest.approx(-2.0)
    assert "rare" not in df["token"].tolist()      # seen once
    assert "<pad>" not in df["token"].tolist()     # padding never ranked


def test_token_attributions_offsets_slice_the_text():
    vocab = Vocabulary(["<pad>", "<unk>", "great"], max_tokens=8, head=6)
    text = "A great film, really."
    df = views.token_attributions(text, np.arange(8, dtype=float), vocab)
    assert [text[s:e].lower() for s, e in zip(df.start, df.end)] == df["token"].tolist()
    assert df["attribution"].tolist() == list(range(len(df)))


def test_feature_importance_stores_the_interval_of_each_mean():
    from deepaudit.audit.fairness.intervals import z_value

    rng = np.random.RandomState(1)
    x = rng.normal(size=(50, 2))
    attr = np.stack([3.0 * x[:, 0], 0.001 * rng.normal(size=50)], axis=1).astype(np.float32)
    df = views.feature_importance(attr, x, ["big", "tiny"]).set_index("feature")
    for j, f in enumerate(["big", "tiny"]):
        a = np.abs(attr[:, j].astype(np.float64))
        half = z_value(0.95) * a.std(ddof=1) / np.sqrt(len(a))
        assert df.loc[f, "mean_abs_lo"] == pytest.approx(max(0.0, a.mean() - half), rel=1e-5, abs=1e-7)
        assert df.loc[f, "mean_abs_hi"] == pytest.approx(a.mean() + half, rel=1e-5, abs=1e-7)
        assert df.loc[f, "mean_abs_lo"] < df.loc[f, "mean_abs"] < df.loc[f, "mean_abs_hi"]
    # one sample: no spread to estimate, so no interval (null when stored) rather than a zero-width one
    one = views.feature_importance(attr[:1], x[:1], ["big", "tiny"])
    assert one["mean_abs_lo"].isna().all() and one["mean_abs_hi"].isna().all()


def test_attribution_totals_of_one_sample():
    assert views.attribution_totals(np.array([0.5, -2.0, 1.0])) == {"attribution_sum": -0.5, "max_abs": 2.0}
    assert views.attribution_totals(np.zeros((0,))) == {"attribution_sum": 0.0, "max_abs": 0.0}
    got = views.attribution_totals(np.array([[0.25], [-0.75]], dtype=np.float32))
    assert got["attribution_sum"] == pytest.approx(-0.5) and got["max_abs"] == pytest.approx(0.75)
