"""A rate whose denominator is empty stays NaN (fairlearn says 0.0) and the table says why."""
import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, false_positive_rate

from deepaudit.audit.fairness.metrics import group_metrics
from deepaudit.dashboard.data import group_display_rows


def test_fpr_of_a_group_without_negatives_is_nan_with_a_reason():
    y = [1, 1, 0, 1, 1, 0]
    yhat = [1, 0, 0, 1, 1, 0]
    sens = ["a", "a", "a", "b", "b", "c"]
    df = group_metrics(y, yhat, sensitive=sens).set_index("group")
    assert np.isnan(df.loc["b", "fpr"]) and df.loc["b", "undefined"] == "FPR undefined: no negatives"
    assert df.loc["a", "undefined"] == "" and df.loc["a", "fpr"] == 0.0
    # c: no positives and no predicted positives -> TPR and PPV undefined, FPR defined (0 of 1)
    assert df.loc["c", "undefined"] == "TPR undefined: no positives; PPV undefined: no predicted positives"
    assert np.isnan(df.loc["c", "tpr"]) and np.isnan(df.loc["c", "ppv"]) and df.loc["c", "fpr"] == 0.0
    # the reference library reports 0.0 where the rate does not exist; we keep NaN and name the reason
    ref = MetricFrame(metrics=false_positive_rate, y_true=y, y_pred=yhat, sensitive_features=sens).by_group
    assert ref["b"] == 0.0 and ref["a"] == df.loc["a", "fpr"]


def test_the_dashboard_table_shows_the_reason():
    groups = group_metrics([1, 1, 0, 1, 1], [1, 0, 0, 1, 1], sensitive=["a", "a", "a", "b", "b"])
    rows = {r["group"]: r for r in group_display_rows(groups, pd.DataFrame(), pd.DataFrame())}
    assert "FPR undefined: no negatives" in rows["b"]["note"] and rows["a"]["note"] in ("", "reference")
