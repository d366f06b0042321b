"""deepaudit.audit.performance: the stored performance section and every interval in it, against independent oracles
(scipy's binomial Wilson interval, scikit-learn's metrics, and the formulas the report used before the intervals
were stored)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import confusion_matrix, log_loss, roc_auc_score

from deepaudit.audit.fairness.intervals import hanley_mcneil_interval, mean_interval, z_value
from deepaudit.audit.performance import ONE_SAMPLE, ZERO_SE, performance, performance_section
from deepaudit.audit.store import to_jsonable
from deepaudit.audit.tolerance import FLOAT64_ATOL, FLOAT64_RTOL

Z95 = 1.959963984540054  # the constant the report used


# --- the report's and dashboard's previous formulas, copied as oracles -----------------------------------------
def old_wilson(x, n):
    p = x / n
    d = 1 + Z95**2 / n
    c = (p + Z95**2 / (2 * n)) / d
    h = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def old_hanley_mcneil(auc, n1, n0):
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    se = math.sqrt((auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)) / (n1 * n0))
    return (max(0.0, auc - Z95 * se), min(1.0, auc + Z95 * se)) if se else (None, None)


def old_mean_interval(values, point):
    if len(values) < 2:
        return None, None
    se = float(np.std(values, ddof=1) / math.sqrt(len(values)))
    return max(0.0, point - Z95 * se), point + Z95 * se


def scipy_wilson(x, n):
    ci = stats.binomtest(int(x), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return ci.low, ci.high


def _binary(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p1 = np.clip(0.5 + 0.35 * (2 * y - 1) + rng.normal(0, 0.25, n), 0.001, 0.999)
    return y, np.c_[1 - p1, p1]


# Tolerances here: every comparison is float64 arithmetic on the same float64 arrays (synthetic scores, never a
# model's float32 output recomputed), so two implementations agree to ~1e-15;
# FLOAT64_RTOL/ATOL (audit/tolerance.py) hold on any CPU.
def test_binary_overall_and_intervals_match_oracles():
    y, probs = _binary()
    perf = performance_section(y, probs, ["deny", "approve"], {"roc_auc": 0.9})
    ov, iv = perf["overall"], perf["intervals"]
    pred = probs.argmax(1)
    assert list(iv) == ["accuracy", "roc_auc", "log_loss", "brier"]
    assert ov["n"] == 300 and ov["n_correct"] == int((pred == y).sum())
    assert ov["accuracy"] == pytest.approx((pred == y).mean(), abs=FLOAT64_ATOL)
    assert ov["roc_auc"] == pytest.approx(roc_auc_score(y, probs[:, 1]), rel=FLOAT64_RTOL)
    assert ov["log_loss"] == pytest.approx(log_loss(y, probs), rel=FLOAT64_RTOL)
    assert ov["brier"] == pytest.approx(np.mean((probs[:, 1] - y) ** 2), rel=FLOAT64_RTOL)
    assert perf["card_metrics"] == {"roc_auc": 0.9}
    for m in iv:
        assert iv[m]["value"] == ov[m] and iv[m]["n"] == 300 and iv[m]["level"] == 0.95
        assert iv[m]["lo"] < ov[m] < iv[m]["hi"]
    # accuracy: Wilson, as scipy and the report's old formula
    acc = iv["accuracy"]
    assert (acc["lo"], acc["hi"]) == pytest.approx(scipy_wilson(ov["n_correct"], 300), abs=FLOAT64_ATOL)
    assert (acc["lo"], acc["hi"]) == pytest.approx(old_wilson(ov["n_correct"], 300), abs=FLOAT64_ATOL)
    assert acc["method"] == "Wilson score interval, 95%"
    # ROC AUC: Hanley & McNeil
    auc = iv["roc_auc"]
    n1, n0 = int(y.sum()), int((1 - y).sum())
    assert (auc["n_pos"], auc["n_neg"]) == (n1, n0)
    assert (auc["lo"], auc["hi"]) == pytest.approx(old_hanley_mcneil(ov["roc_auc"], n1, n0), abs=FLOAT64_ATOL)
    assert auc["method"] == "Hanley & McNeil (1982) standard error, 95%"
    # log loss and Brier: normal interval of the per-sample mean (scipy's standard error of the mean)
    per_ll = -np.log(np.clip(probs[np.arange(300), y], 1e-15, 1))
    per_br = (probs[:, 1] - y) ** 2
    for m, per in (("log_loss", per_ll), ("brier", per_br)):
        half = stats.norm.ppf(0.975) * stats.sem(per)
        assert iv[m]["lo"] == pytest.approx(ov[m] - half, abs=FLOAT64_ATOL)
        assert iv[m]["hi"] == pytest.approx(ov[m] + half, abs=FLOAT64_ATOL)
        assert (iv[m]["lo"], iv[m]["hi"]) == pytest.approx(old_mean_interval(per, ov[m]), abs=FLOAT64_ATOL)
        assert iv[m]["method"] == "normal approximation of the per-sample mean, 95%"


def test_per_class_counts_and_wilson_intervals():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 200)
    probs = rng.dirichlet(np.ones(4), 200)
    probs[:, 3] *= 0.01  # class 3 is never predicted
    probs /= probs.sum(1, keepdims=True)
    perf = performance_section(y, probs, ["a", "b", "c", "d"])
    pc = perf["per_class"]
    assert isinstance(pc, pd.DataFrame)
    assert list(pc.columns[:5]) == ["class", "precision", "recall", "f1", "support"]
    assert {"roc_auc", "brier"}.isdisjoint(perf["overall"]) and list(perf["intervals"]) == ["accuracy", "log_loss"]
    cm = confusion_matrix(y, probs.argmax(1), labels=[0, 1, 2, 3])
    np.testing.assert_array_equal(pc["n_true_positive"], np.diag(cm))
    np.testing.assert_array_equal(pc["support"], cm.sum(1))
    np.testing.assert_array_equal(pc["n_predicted"], cm.sum(0))
    assert pc["n_predicted"].iloc[3] == 0
    for i, r in pc.iterrows():
        tp, sup, npred = cm[i, i], cm[i].sum(), cm[:, i].sum()
        assert (r["recall_lo"], r["recall_hi"]) == pytest.approx(scipy_wilson(tp, sup), abs=FLOAT64_ATOL)
        assert (r["recall_lo"], r["recall_hi"]) == pytest.approx(old_wilson(tp, sup), abs=FLOAT64_ATOL)
        assert r["recall_lo"] <= r["recall"] <= r["recall_hi"]
        if npred:
            assert (r["precision_lo"], r["precision_hi"]) == pytest.approx(scipy_wilson(tp, npred), abs=FLOAT64_ATOL)
            assert r["precision_lo"] <= r["precision"] <= r["precision_hi"]
        else:  # nothing predicted as the class: precision has no interval (stored as null)
            assert math.isnan(r["precision_lo"]) and math.isnan(r["precision_hi"])
    assert perf["per_class_interval"] == {"level": 0.95, "method": "Wilson score interval, 95%"}
    stored = to_jsonable(perf)
    assert stored["per_class"][3]["precision_lo"] is None and stored["per_class"][3]["precision"] == 0.0


def test_uncomputable_intervals_are_null_with_the_reason():
    # Perfect separation: AUC 1, Hanley-McNeil standard error 0 -> no interval rather than a certain-looking one.
    y = np.array([0, 0, 1, 1, 1])
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8], [0.4, 0.6]])
    auc = performance_section(y, probs, ["n", "p"])["intervals"]["roc_auc"]
    assert auc["value"] == 1.0 and auc["lo"] is None and auc["hi"] is None and auc["se"] == 0.0
    assert auc["method"].endswith(ZERO_SE)
    # One sample: no spread for the per-sample mean.
    one = performance_section(np.array([1]), np.array([[0.3, 0.7]]), ["n", "p"])
    ll = one["intervals"]["log_loss"]
    assert ll["lo"] is None and ll["hi"] is None and ll["method"].endswith(ONE_SAMPLE)
    assert (one["intervals"]["accuracy"]["lo"] == pytest.approx(old_wilson(1, 1)[0])
            and one["intervals"]["accuracy"]["hi"] == 1.0)


def test_pred_defaults_to_argmax_and_bad_inputs_raise():
    y, probs = _binary(50, seed=1)
    a = performance_section(y, probs, ["n", "p"])
    b = performance_section(y, probs, ["n", "p"], pred=probs.argmax(1))
    assert to_jsonable(a) == to_jsonable(b)
    flipped = performance_section(y, probs, ["n", "p"], pred=1 - probs.argmax(1))
    assert flipped["overall"]["n_correct"] == 50 - a["overall"]["n_correct"]
    with pytest.raises(ValueError, match="shape"):
        performance_section(y, probs[:, :1], ["n", "p"])
    with pytest.raises(ValueError, match="0..1"):
        performance_section(np.r_[y[:-1], 2], probs, ["n", "p"])


def test_interval_helpers():
    assert z_value(0.95) == pytest.approx(Z95, abs=FLOAT64_ATOL)
    lo, hi, se = hanley_mcneil_interval(0.8, 40, 60)
    assert (lo, hi) == pytest.approx(old_hanley_mcneil(0.8, 40, 60), abs=FLOAT64_ATOL) and se > 0
    assert all(math.isnan(v) for v in hanley_mcneil_interval(0.7, 0, 10))
    v = np.array([0.1, 0.5, 0.2, 0.9])
    lo, hi = mean_interval(v)
    assert (lo + hi) / 2 == pytest.approx(v.mean()) and hi - lo == pytest.approx(2 * Z95 * stats.sem(v))
    lo90, hi90 = mean_interval(v, confidence=0.9)
    assert lo < lo90 < hi90 < hi
    assert all(math.isnan(x) for x in mean_interval([0.3]))


def test_runner_wrapper_uses_the_targets_labels_and_card():
    from deepaudit.audit.testing import linear_target

    t = linear_target(n_samples=64)
    t.provenance["metrics"] = {"accuracy_test": 0.5}
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(len(t.class_names)), len(t.eval_data))
    got = performance(t, probs, probs.argmax(1))
    want = performance_section(t.eval_data.labels, probs, t.class_names, {"accuracy_test": 0.5})
    assert to_jsonable(got) == to_jsonable(want) and got["card_metrics"] == {"accuracy_test": 0.5}


# --- the confusion matrix and the shared per-sample-mean rule -------------------------------------------------
def test_confusion_counts_match_sklearn_with_row_shares_and_are_stored():
    from deepaudit.audit.performance import confusion_counts, confusion_summary

    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 120)
    y[y == 2] = 1  # class 2 has no true sample: its row is all zero, shares 0
    probs = rng.dirichlet(np.ones(3), 120)
    pred = probs.argmax(1)
    cells = confusion_counts(y, pred, ["a", "b", "c"])
    cm = confusion_matrix(y, pred, labels=[0, 1, 2])
    assert list(cells.columns) == ["true", "predicted", "count", "row_share"] and len(cells) == 9
    assert cells["true"].tolist() == ["a"] * 3 + ["b"] * 3 + ["c"] * 3
    assert cells["predicted"].tolist() == ["a", "b", "c"] * 3
    assert cells["count"].tolist() == cm.ravel().tolist()  # counts: exact
    rows = cm.sum(1, keepdims=True)
    expected = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0).ravel()
    np.testing.assert_allclose(cells["row_share"], expected, rtol=0, atol=FLOAT64_ATOL)
    assert cells["row_share"].iloc[6:].tolist() == [0.0, 0.0, 0.0]
    assert confusion_summary(cells) == {"n": 120, "n_correct": int(np.trace(cm)),
                                        "accuracy": pytest.approx(np.trace(cm) / 120, abs=FLOAT64_ATOL)}
    perf = performance_section(y, probs, ["a", "b", "c"])
    stored = to_jsonable(perf)["confusion"]
    assert stored == to_jsonable(cells)
    assert confusion_summary(stored)["n_correct"] == perf["overall"]["n_correct"]
    assert confusion_summary(cells.iloc[:0]) == {"n": 0, "n_correct": 0, "accuracy": None}
    with pytest.raises(ValueError, match=r"0\.\.2"):
        confusion_counts([0, 3], [0, 1], ["a", "b", "c"])
    with pytest.raises(ValueError, match="same length"):
        confusion_counts([0, 1], [0], ["a", "b", "c"])


def test_mean_record_one_rule_for_zero_one_and_many_samples():
    from deepaudit.audit.performance import NO_SAMPLE, mean_record

    v = np.array([0.2, 0.4, 0.9, 0.5])
    r = mean_record(v)
    se = stats.sem(v)
    assert r["value"] == pytest.approx(v.mean(), abs=FLOAT64_ATOL) and r["n"] == 4 and r["level"] == 0.95
    assert (r["lo"], r["hi"]) == pytest.approx((v.mean() - Z95 * se, v.mean() + Z95 * se), abs=FLOAT64_ATOL)
    assert r["method"] == "normal approximation of the per-sample mean, 95%"
    low, high = np.array([0.0, 0.0, 0.0, 0.0, 1.0]), np.array([1.0, 1.0, 1.0, 1.0, 0.0])
    assert low.mean() - Z95 * stats.sem(low) < 0 and high.mean() + Z95 * stats.sem(high) > 1
    assert mean_record(low, lower=0.0, upper=1.0)["lo"] == 0.0 and mean_record(high, upper=1.0)["hi"] == 1.0
    assert mean_record(high, lower=None)["hi"] > 1  # unclipped without a bound
    one = mean_record([0.3])
    assert one == {"value": 0.3, "lo": None, "hi": None, "n": 1, "level": 0.95,
                   "method": "normal approximation of the per-sample mean, 95%" + ONE_SAMPLE}
    none = mean_record([])
    assert none["value"] is None and none["n"] == 0 and none["lo"] is None and none["method"].endswith(NO_SAMPLE)


@pytest.mark.parametrize("seed", range(4))
def test_metrics_written_out_equal_sklearn(seed):
    """precision/recall/F1, log loss and ROC AUC without importing sklearn: equal to sklearn's (float64)."""
    from sklearn.metrics import precision_recall_fscore_support

    from deepaudit.audit.performance import log_loss as our_log_loss
    from deepaudit.audit.performance import precision_recall_f1, roc_auc

    rng = np.random.default_rng(seed)
    k = 2 + seed % 3
    y = rng.integers(0, k, size=300)
    logits = rng.normal(size=(300, k)) + 1.5 * np.eye(k)[y]
    if seed == 3:
        logits = np.round(logits, 1)        # tied scores
        logits[:5] = 60.0                   # probabilities of exactly 0 and 1 after softmax rounding
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    pred = probs.argmax(1)
    pred[pred == k - 1] = 0 if seed == 2 else pred[pred == k - 1]   # a class never predicted
    for ours, ref in zip(precision_recall_f1(y, pred, k),
                         precision_recall_fscore_support(y, pred, labels=list(range(k)), zero_division=0)):
        np.testing.assert_allclose(ours, ref, rtol=FLOAT64_RTOL, atol=0)
    assert our_log_loss(y, probs) == pytest.approx(log_loss(y, probs, labels=list(range(k))), rel=FLOAT64_RTOL)
    yb = (y == 0).astype(int)
    assert roc_auc(yb, probs[:, 0]) == pytest.approx(roc_auc_score(yb, probs[:, 0]), rel=FLOAT64_RTOL)
