"""Edge cases: each gives a defined result or a clear error naming the problem and the fix."""
import re

import numpy as np
import pandas as pd
import pytest

from deepaudit.audit.fairness import calibration as cal
from deepaudit.audit.fairness import (
    calibration_curves,
    calibration_error,
    disparities,
    group_metrics,
    significance_tests,
)
from deepaudit.audit.fairness import comparisons as dis
from deepaudit.audit.fairness import counts as cnt
from deepaudit.audit.fairness import groups as grp
from deepaudit.audit.fairness import intervals as itv
from deepaudit.audit.fairness import significance as sig


def _raises(message):
    return pytest.raises(ValueError, match=re.escape(message))


def test_empty_data():
    with _raises(cnt.EMPTY_DATA):
        group_metrics([], [], sensitive=[])
    with _raises(cnt.EMPTY_DATA):
        disparities(np.array([]), np.array([]), sensitive=pd.Series([], dtype=object))


def test_length_mismatch():
    with _raises(cnt.LENGTH_MISMATCH.format(n=3, what="y_pred", n_other=2)):
        group_metrics([1, 0, 1], [1, 0], sensitive=["a", "b", "a"])
    with _raises(grp.SENSITIVE_LENGTH.format(n_sensitive=2, n=3)):
        group_metrics([1, 0, 1], [1, 0, 1], sensitive=["a", "b"])
    with _raises(cnt.LENGTH_MISMATCH.format(n=3, what="y_score", n_other=1)):
        group_metrics([1, 0, 1], [1, 0, 1], sensitive=["a", "b", "a"], y_score=[0.5])


def test_all_missing_sensitive_column_names_it():
    frame = pd.DataFrame({"race": ["a", "b", "a"], "sex": [None, np.nan, pd.NA]})
    with _raises(grp.ALL_MISSING.format(column="sex", n=3)):
        group_metrics([1, 0, 1], [1, 0, 1], sensitive=frame)
    with _raises(grp.ALL_MISSING.format(column="sensitive", n=2)):
        group_metrics([1, 0], [1, 0], sensitive=[None, None])


def test_all_unknown_intersection():
    frame = pd.DataFrame({"race": ["a", None], "sex": [None, "f"]})
    with _raises(grp.ALL_MISSING_INTERSECTION.format(attribute="race x sex", n=2, columns=["race", "sex"])):
        group_metrics([1, 0], [1, 0], sensitive=frame)
    # Each column on its own still works.
    assert len(group_metrics([1, 0], [1, 0], sensitive=frame, breakdown="separate")) == 4


def test_missing_column_name():
    frame = pd.DataFrame({"race": ["a", "b"]})
    with _raises(grp.MISSING_COLUMN.format(column="sex", columns=["race"])):
        group_metrics([1, 0], [1, 0], sensitive=frame, columns=["race", "sex"])


def test_nan_labels():
    with _raises(cnt.NAN_LABELS.format(what="y_true", count=1, first=1)):
        group_metrics([1.0, np.nan, 0.0], [1, 0, 0], sensitive=["a", "b", "a"])
    with _raises(cnt.NAN_LABELS.format(what="y_pred", count=2, first=0)):
        group_metrics(pd.Series([1, 0, 1]), pd.Series([None, None, 1]), sensitive=["a", "b", "a"])


def test_non_binary_labels_need_pos_label():
    with _raises(cnt.NON_BINARY.format(what="y_true", labels=["0", "1", "2"], example="2")):
        group_metrics([0, 1, 2], [0, 1, 1], sensitive=["a", "b", "a"])
    with _raises(cnt.NON_BINARY.format(what="y_true", labels=["approved", "denied"], example="denied")):
        group_metrics(["approved", "denied"], ["approved", "approved"], sensitive=["a", "b"])
    out = group_metrics([0, 1, 2], [0, 1, 1], sensitive=["a", "b", "a"], pos_label=2)
    assert out["positives"].sum() == 1


def test_absent_pos_label_warns():
    with pytest.warns(UserWarning, match="occurs in neither"):
        group_metrics(["x", "y"], ["x", "x"], sensitive=["a", "b"], pos_label="z")


def test_matrix_predictions_rejected():
    with _raises(cnt.NOT_1D.format(what="y_pred", shape=(2, 2))):
        group_metrics([1, 0], np.eye(2), sensitive=["a", "b"])


def test_group_with_no_positives_gives_nan_tpr():
    y = [1, 1, 0, 0, 0, 0]
    p = [1, 0, 1, 0, 1, 0]
    sens = ["a", "a", "a", "b", "b", "b"]
    gm = group_metrics(y, p, sensitive=sens).set_index("group")
    assert np.isnan(gm.loc["b", "tpr"]) and np.isnan(gm.loc["b", "tpr_lo"]) and np.isnan(gm.loc["b", "tpr_hi"])
    assert gm.loc["a", "tpr"] == 0.5
    d = disparities(y, p, sensitive=sens, n_boot=100)
    tpr = d[d.metric == "tpr"].set_index("statistic")
    assert np.isnan(tpr.loc["difference_vs_reference", "value"])
    assert tpr.loc["max_min_difference", "value"] == 0.0  # one defined group: spread over it alone
    assert "left out" in tpr.loc["max_min_difference", "note"] and "'b'" in tpr.loc["max_min_difference", "note"]
    s = significance_tests(y, p, sensitive=sens, metrics=["tpr"])
    assert s["test"].tolist() == [sig.NO_TEST]


def test_single_group():
    y, p = [1, 0, 1, 1], [1, 0, 0, 1]
    gm = group_metrics(y, p, sensitive=["a"] * 4)
    assert gm["group"].tolist() == ["a"] and gm["is_reference"].all()
    d = disparities(y, p, sensitive=["a"] * 4, n_boot=50)
    assert not (d.statistic.isin(["difference_vs_reference", "ratio_vs_reference"])).any()
    assert d["value"].isna().all() and not d["four_fifths_flag"].any()
    assert d["note"].str.contains("only one group").all()
    assert d.note.iloc[0] == dis.SINGLE_GROUP_NOTE.format(group="a", attribute="sensitive")
    assert significance_tests(y, p, sensitive=["a"] * 4).empty


def test_known_group_plus_unknown_compares():
    gm = group_metrics([1, 0, 1], [1, 0, 1], sensitive=["a", "a", None])
    assert gm["group"].tolist() == ["a", "unknown"] and gm.loc[gm.is_reference, "group"].item() == "a"
    d = disparities([1, 0, 1], [1, 0, 1], sensitive=["a", "a", None], n_boot=20)
    impact = d[d.statistic == "impact_ratio"].set_index("group")
    assert impact.loc["a", "value"] == 1.0 and impact.loc["unknown", "value"] == 2.0


@pytest.mark.parametrize("constant", [0, 1])
def test_constant_predictor(constant):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    sens = rng.choice(["a", "b", "c"], 200)
    p = np.full(200, constant)
    gm = group_metrics(y, p, sensitive=sens)
    assert (gm["selection_rate"] == constant).all()
    d = disparities(y, p, sensitive=sens, n_boot=100)
    dp = d[d.metric == "demographic_parity"].set_index("statistic")
    assert dp.loc["difference", "value"] == 0.0
    impact = d[d.statistic == "impact_ratio"]
    if constant:
        assert dp.loc["ratio", "value"] == 1.0 and (impact["value"] == 1.0).all()
        # Every group n/n: the score interval is honest about a true rate below 1 (a bootstrap of n/n cells
        # would claim [1, 1]); the reference row is 1 by definition.
        ref = impact["group"] == impact["reference"]
        assert (impact.loc[ref, "lo"] == 1.0).all() and (impact.loc[~ref, "lo"] < 1.0).all()  # ref: literal 1.0
        assert (impact["hi"] >= 1.0).all() and not impact["four_fifths_flag"].any()
    else:
        # 0 / 0: undefined, not 1 (which would pass the four-fifths rule).
        assert np.isnan(dp.loc["ratio", "value"]) and impact["value"].isna().all()
        assert (impact["note"] == dis.ZERO_DENOMINATOR_NOTE).all() and not impact["four_fifths_flag"].any()
        assert gm["ppv"].isna().all()
        ppv = d[(d.metric == "predictive_parity")]
        assert ppv["value"].isna().all()


def test_reference_errors_and_bad_parameters():
    args = ([1, 0, 1], [1, 0, 1])
    with _raises(grp.UNKNOWN_REFERENCE.format(reference="z", attribute="sensitive", groups=["a", "b"])):
        disparities(*args, sensitive=["a", "b", "a"], reference="z")
    with _raises(grp.BAD_BREAKDOWN.format(value="all", choices=grp.BREAKDOWNS)):
        group_metrics(*args, sensitive=pd.DataFrame({"x": ["a"] * 3, "y": ["b"] * 3}), breakdown="all")
    with _raises(itv.BAD_CONFIDENCE.format(value=95)):
        group_metrics(*args, sensitive=["a", "b", "a"], confidence=95)
    with _raises(itv.BAD_N_BOOT.format(value=0)):
        disparities(*args, sensitive=["a", "b", "a"], n_boot=0)
    with _raises(grp.BAD_MIN_SHARE.format(value=2)):
        group_metrics(*args, sensitive=["a", "b", "a"], min_share=2)
    with _raises(sig.BAD_CORRECTION.format(value="bonferroni", choices=sig.CORRECTIONS)):
        significance_tests(*args, sensitive=["a", "b", "a"], correction="bonferroni")
    with _raises(sig.BAD_METRIC.format(value="scoring_rate", choices=list(cnt.LABEL_METRICS))):
        significance_tests(*args, sensitive=["a", "b", "a"], metrics=["scoring_rate"])


def test_score_errors():
    with _raises(cnt.BAD_SCORE.format(count=1, first=2)):
        group_metrics([1, 0, 1], [1, 0, 1], sensitive=["a", "b", "a"], y_score=[0.1, 0.2, np.inf])
    with _raises(cal.SCORE_RANGE.format(count=1, example=3.0, first=1)):
        calibration_curves([1, 0], [0.5, 3.0], sensitive=["a", "b"])
    with _raises(cal.BAD_N_BINS.format(value=0)):
        calibration_error([1, 0], [0.5, 0.3], sensitive=["a", "b"], n_bins=0)


def test_missing_value_kinds_all_become_unknown():
    sens = pd.Series(["a", None, np.nan, pd.NA, "unknown", "b", "", "  "], dtype=object)
    gm = group_metrics([1, 0, 1, 0, 1, 0, 1, 1], [1, 1, 1, 0, 0, 0, 1, 0], sensitive=sens).set_index("group")
    # a blank string is missing too (a group labelled "" would be invisible in every table)
    assert gm.index.tolist() == ["a", "b", "unknown"] and gm.loc["unknown", "n"] == 6
    # other spellings are values: the column's owner decides what they mean
    gm = group_metrics([1, 0, 1], [1, 1, 0], sensitive=["Unknown", "NA", "a"]).set_index("group")
    assert gm.index.tolist() == ["NA", "Unknown", "a"]


def test_numeric_groups_sorted_by_value():
    gm = group_metrics([1, 0, 1, 0], [1, 1, 0, 0], sensitive=[10, 2, 10, None])
    assert gm["group"].tolist() == ["2", "10", "unknown"]
