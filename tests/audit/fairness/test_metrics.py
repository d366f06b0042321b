"""Point estimates against fairlearn's MetricFrame, on random and on the bundled mortgage data."""
import warnings

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score, precision_score

from deepaudit.audit.fairness import (
    UNKNOWN,
    calibration_curves,
    calibration_error,
    disparities,
    group_counts,
    group_metrics,
)
from deepaudit.audit.tolerance import FLOAT64_ATOL

# Counts and synthetic float64 predictions in, float64 rates out, on both sides (no model output anywhere in
# this file): two implementations of the same formula agree to a few ulps, so
# FLOAT64_ATOL (audit/tolerance.py) holds on any CPU.
TOL = FLOAT64_ATOL
RATES = ["selection_rate", "tpr", "fpr", "ppv", "accuracy"]
FAIRLEARN = {"selection_rate": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate,
             "ppv": lambda yt, yp: precision_score(yt, yp, zero_division=0), "accuracy": accuracy_score}
CONVERTERS = {"list": lambda a: list(a), "ndarray": np.asarray, "series": pd.Series}


def _with_unknown(values):
    return pd.Series(values, dtype=object).where(pd.notna(pd.Series(values, dtype=object)), UNKNOWN)


def _metric_frame(y, p, sens):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MetricFrame(metrics=FAIRLEARN, y_true=np.asarray(y), y_pred=np.asarray(p), sensitive_features=sens)


def _assert_by_group_equal(ours: pd.DataFrame, mf: MetricFrame):
    """Equal where our rate is defined; NaN exactly where its denominator is empty."""
    by = mf.by_group
    by.index = [" & ".join(map(str, i)) if isinstance(i, tuple) else str(i) for i in by.index]
    ours = ours.set_index("group")
    assert sorted(ours.index) == sorted(by.index)
    for name in RATES:
        for group in by.index:
            value = ours.loc[group, name]
            denominator = {"tpr": "positives", "fpr": "negatives", "ppv": "predicted_positive"}.get(name, "n")
            if ours.loc[group, denominator] == 0:
                assert np.isnan(value)
            else:
                assert abs(value - by.loc[group, name]) <= TOL, (name, group)


def _random(n=3000, seed=1):
    rng = np.random.default_rng(seed)
    race = rng.choice(["white", "black", "asian", "hispanic", None], size=n, p=[0.5, 0.2, 0.15, 0.1, 0.05])
    sex = rng.choice(["female", "male"], size=n)
    y = rng.integers(0, 2, size=n)
    lift = pd.Series(race).map({"white": 0.2, "black": -0.1}).fillna(0).to_numpy()
    p = (rng.random(n) < 0.45 + lift + 0.2 * y).astype(int)
    return y, p, race, sex


@pytest.mark.parametrize("kind", list(CONVERTERS))
def test_group_rates_equal_fairlearn_random(kind):
    y, p, race, _ = _random()
    conv = CONVERTERS[kind]
    ours = group_metrics(conv(y), conv(p), sensitive=conv(race))
    _assert_by_group_equal(ours, _metric_frame(y, p, _with_unknown(race)))
    assert UNKNOWN in set(ours["group"]) and ours["group"].iloc[-1] == UNKNOWN


@pytest.mark.parametrize("kind", list(CONVERTERS))
def test_spreads_equal_fairlearn_random(kind):
    y, p, race, _ = _random(seed=2)
    conv = CONVERTERS[kind]
    sens = _with_unknown(race)
    d = disparities(conv(y), conv(p), sensitive=conv(race), n_boot=50)
    mf = _metric_frame(y, p, sens)
    diff, ratio = mf.difference(), mf.ratio()
    spread = d[d.group == "all groups"].set_index(["metric", "statistic"])["value"]
    for name in RATES:
        assert abs(spread[(name, "max_min_difference")] - diff[name]) <= TOL
        assert abs(spread[(name, "min_max_ratio")] - ratio[name]) <= TOL
    assert abs(spread[("demographic_parity", "difference")]
               - demographic_parity_difference(y, p, sensitive_features=sens)) <= TOL
    assert abs(spread[("demographic_parity", "ratio")] - demographic_parity_ratio(y, p, sensitive_features=sens)) <= TOL
    assert abs(spread[("equalized_odds", "difference")]
               - equalized_odds_difference(y, p, sensitive_features=sens)) <= TOL
    assert abs(spread[("equal_opportunity", "difference")] - diff["tpr"]) <= TOL
    assert abs(spread[("predictive_parity", "difference")] - diff["ppv"]) <= TOL


def test_intersection_equals_fairlearn_multicolumn():
    y, p, race, sex = _random(seed=3)
    keep = pd.notna(race)
    y, p, frame = y[keep], p[keep], pd.DataFrame({"race": race[keep], "sex": sex[keep]})
    ours = group_metrics(y, p, sensitive=frame)
    assert set(ours["attribute"]) == {"race x sex"}
    _assert_by_group_equal(ours, _metric_frame(y, p, frame))
    diff = _metric_frame(y, p, frame).difference()
    d = disparities(y, p, sensitive=frame, n_boot=20)
    spread = d[d.statistic == "max_min_difference"].set_index("metric")["value"]
    for name in RATES:
        assert abs(spread[name] - diff[name]) <= TOL


@pytest.fixture(scope="module")
def mortgage(bundled_target):
    t = bundled_target("mortgage")
    logits = t.logits()
    return (t.eval_data.labels, logits.argmax(1).numpy(), t.eval_data.groups,
            logits.softmax(1)[:, 1].numpy())


@pytest.mark.parametrize("kind", list(CONVERTERS))
@pytest.mark.parametrize("column", ["race", "sex", "race_x_sex"])
def test_mortgage_equals_fairlearn(mortgage, kind, column):
    y, p, groups, _ = mortgage
    conv = CONVERTERS[kind]
    sens = groups[column].to_numpy(dtype=object)
    ours = group_metrics(conv(y), conv(p), sensitive=conv(sens))
    _assert_by_group_equal(ours, _metric_frame(y, p, _with_unknown(sens)))
    filled = _with_unknown(sens)
    d = disparities(conv(y), conv(p), sensitive=conv(sens), n_boot=50)
    dp = d.query("metric == 'demographic_parity'").set_index("statistic")["value"]
    assert abs(dp["difference"] - demographic_parity_difference(y, p, sensitive_features=filled)) <= TOL
    assert abs(dp["ratio"] - demographic_parity_ratio(y, p, sensitive_features=filled)) <= TOL


def test_mortgage_intersection_matches_bundled_column(mortgage):
    y, p, groups, _ = mortgage
    ours = group_metrics(y, p, sensitive=groups[["race", "sex"]]).set_index("group")
    bundled = group_metrics(y, p, sensitive=groups["race_x_sex"]).set_index("group")
    assert ours.index.tolist() == bundled.index.tolist()
    pd.testing.assert_frame_equal(ours.drop(columns="attribute"), bundled.drop(columns="attribute"))
    assert ours.loc[UNKNOWN, "n"] == groups["sex"].isna().sum()


def test_group_table_columns_and_counts():
    y, p, race, _ = _random(seed=4)
    gm = group_metrics(y, p, sensitive=race)
    for name in RATES:
        assert {name, f"{name}_lo", f"{name}_hi"} <= set(gm.columns)
        ok = gm[name].notna()
        assert (gm.loc[ok, f"{name}_lo"] <= gm.loc[ok, name]).all()
        assert (gm.loc[ok, name] <= gm.loc[ok, f"{name}_hi"]).all()
    assert gm["n"].sum() == len(y)
    assert (gm["positives"] + gm["negatives"] == gm["n"]).all()
    assert (gm[["tn", "fp", "fn", "tp"]].sum(axis=1) == gm["n"]).all()
    assert abs(gm["share"].sum() - 1) < TOL   # shares of counts
    assert gm["is_reference"].sum() == 1 and gm.loc[gm.is_reference, "group"].item() == "white"
    counts = group_counts(y, p, sensitive=race)
    assert counts[["tn", "fp", "fn", "tp"]].values.tolist() == gm[["tn", "fp", "fn", "tp"]].values.tolist()


def test_small_groups_flagged_never_dropped():
    sens = ["a"] * 95 + ["b"] * 4 + ["c"]
    gm = group_metrics([1, 0] * 50, [1] * 100, sensitive=sens, min_share=0.05)
    assert gm.set_index("group")["small_group"].to_dict() == {"a": False, "b": True, "c": True}


def test_breakdown_both_and_reference():
    y, p, race, sex = _random(seed=5)
    frame = pd.DataFrame({"race": race, "sex": sex})
    gm = group_metrics(y, p, sensitive=frame, breakdown="both", reference={"sex": "female"})
    assert list(dict.fromkeys(gm["attribute"])) == ["race", "sex", "race x sex"]
    ref = gm[gm.is_reference].set_index("attribute")["group"]
    assert ref["sex"] == "female" and ref["race"] == "white"
    d = disparities(y, p, sensitive=frame, columns=["sex"], reference="female", n_boot=20)
    assert set(d.loc[d.statistic == "difference_vs_reference", "reference"]) == {"female"}


def test_vs_reference_and_impact_ratio_consistent():
    y, p, race, _ = _random(seed=6)
    gm = group_metrics(y, p, sensitive=race).set_index("group")
    d = disparities(y, p, sensitive=race, n_boot=200)
    sr = gm["selection_rate"]
    vs = d[(d.metric == "selection_rate") & (d.statistic == "difference_vs_reference")].set_index("group")
    for g, row in vs.iterrows():
        assert abs(row["value"] - (sr[g] - sr["white"])) <= TOL
    ratio = d[(d.metric == "selection_rate") & (d.statistic == "ratio_vs_reference")].set_index("group")
    for g, row in ratio.iterrows():
        assert abs(row["value"] - sr[g] / sr["white"]) <= TOL
        assert row["lo"] <= row["value"] <= row["hi"]
    impact = d[d.statistic == "impact_ratio"].set_index("group")
    known = sr.drop(UNKNOWN)
    for g, row in impact.iterrows():
        assert abs(row["value"] - sr[g] / known.max()) <= TOL
        assert row["four_fifths_flag"] == (row["value"] < 0.8)
        assert row["reference"] == known.idxmax()
    assert impact["four_fifths_flag"].any()
    spread_ratios = d.loc[d.statistic.isin(["min_max_ratio", "ratio"]), "value"]
    assert ((spread_ratios >= 0) & (spread_ratios <= 1)).all()
    for column in ["value", "lo", "hi", "method", "n", "reference", "positives", "negatives"]:
        assert column in d.columns
    one_vs_one = d.statistic.isin(["difference_vs_reference", "ratio_vs_reference", "impact_ratio"])
    assert d.loc[~one_vs_one, "method"].str.contains("B=200, seed=0").all()
    assert d.loc[d.statistic == "difference_vs_reference", "method"].str.startswith("Newcombe hybrid score").all()
    assert d.loc[d.statistic.isin(["ratio_vs_reference", "impact_ratio"]), "method"].str.startswith("MOVER-R").all()


def test_disparities_deterministic_and_seeded():
    y, p, race, _ = _random(seed=7)
    a = disparities(y, p, sensitive=race, n_boot=100, seed=3)
    b = disparities(y, p, sensitive=race, n_boot=100, seed=3)
    c = disparities(y, p, sensitive=race, n_boot=100, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["lo"].fillna(0), c["lo"].fillna(0))
    pd.testing.assert_series_equal(a["value"], c["value"])


def test_multiclass_one_vs_rest_and_string_labels():
    rng = np.random.default_rng(8)
    y = rng.integers(0, 3, 500)
    p = rng.integers(0, 3, 500)
    sens = rng.choice(["x", "y"], 500)
    ours = group_metrics(y, p, sensitive=sens, pos_label=2)
    binary = group_metrics((y == 2).astype(int), (p == 2).astype(int), sensitive=sens)
    pd.testing.assert_frame_equal(ours, binary)
    names = np.array(["denied", "approved"])
    by_name = group_metrics(names[y % 2], names[p % 2], sensitive=sens, pos_label="approved")
    pd.testing.assert_frame_equal(by_name, group_metrics(y % 2, p % 2, sensitive=sens))


def test_ll144_scoring_rate():
    rng = np.random.default_rng(9)
    score = rng.random(400)
    sens = rng.choice(["a", "b", "c"], 400)
    y = rng.integers(0, 2, 400)
    p = (score > 0.5).astype(int)
    gm = group_metrics(y, p, sensitive=sens, y_score=score).set_index("group")
    above = score > np.median(score)
    for g in "abc":
        assert abs(gm.loc[g, "scoring_rate"] - above[sens == g].mean()) <= TOL
    d = disparities(y, p, sensitive=sens, y_score=score, n_boot=100)
    impact = d[(d.metric == "scoring_rate") & (d.statistic == "impact_ratio")].set_index("group")["value"]
    expected = gm["scoring_rate"] / gm["scoring_rate"].max()
    assert np.allclose(impact.sort_index(), expected.sort_index(), atol=TOL, rtol=0)
    assert d.loc[d.metric == "scoring_rate", "method"].str.contains("median cut fixed").all()


def test_calibration_bins_and_ece_by_hand():
    rng = np.random.default_rng(10)
    score = rng.random(1000)
    y = (rng.random(1000) < score ** 1.5).astype(int)
    sens = rng.choice(["a", "b"], 1000)
    curves = calibration_curves(y, score, sensitive=sens, n_bins=10)
    ece = calibration_error(y, score, sensitive=sens, n_bins=10, n_boot=200).set_index("group")
    for g in "ab":
        s, t = score[sens == g], y[sens == g]
        bins = np.minimum((s * 10).astype(int), 9)
        expected = sum((bins == b).sum() / len(s) * abs(t[bins == b].mean() - s[bins == b].mean())
                       for b in range(10) if (bins == b).any())
        assert abs(ece.loc[g, "ece"] - expected) <= TOL   # the same float64 scores, the formula by hand
        # ECE is biased upward under resampling, so the point may sit near the lower end.
        assert 0 <= ece.loc[g, "lo"] <= ece.loc[g, "hi"] <= 1 and ece.loc[g, "n_boot_valid"] == 200
        c = curves[curves.group == g]
        assert c["n_b"].sum() == len(s)
        assert abs(c.loc[c.bin == 3, "mean_score"].item() - s[bins == 3].mean()) <= TOL


def test_disparities_restricted_to_some_rates_without_spreads():
    rng = np.random.default_rng(3)
    y, yhat = rng.integers(0, 2, 400), rng.integers(0, 2, 400)
    sens = rng.choice(["a", "b", "c"], 400)
    full = disparities(y, yhat, sensitive=sens, n_boot=200)
    part = disparities(y, yhat, sensitive=sens, n_boot=200, metrics=["tpr", "fpr"], spreads=False)
    assert set(part["metric"]) == {"tpr", "fpr"}
    assert {"difference_vs_reference", "ratio_vs_reference"} <= set(part["statistic"]) <= {
        "difference_vs_reference", "ratio_vs_reference", "impact_ratio"}   # no spreads, no criteria
    assert not part["method"].str.contains("bootstrap").any()
    want = full[full["metric"].isin(["tpr", "fpr"]) & full["statistic"].isin(set(part["statistic"]))]
    pd.testing.assert_frame_equal(part.reset_index(drop=True), want.reset_index(drop=True))
    with pytest.raises(ValueError, match="unknown rate.*'recall'.*choose from"):
        disparities(y, yhat, sensitive=sens, metrics=["recall"])
