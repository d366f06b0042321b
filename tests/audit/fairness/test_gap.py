"""What drives the gap (audit/fairness/gap.py) on data we control: interval coverage, non-string groups, large
groups, and the display of a run without intervals."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from deepaudit.audit.fairness.gap import MAX_ROWS, gap_decomposition
from deepaudit.audit.tolerance import FLOAT64_ATOL

W = torch.tensor([0.5, -1.0, 2.0])


def _linear(z):
    return z @ W


def _decompose(x, group, **kw):
    return gap_decomposition(_linear, torch.as_tensor(x, dtype=torch.float32), np.zeros(len(x), bool),
                             pd.DataFrame({"a": group}), ["a"], ["x0", "x1", "x2"], **kw)


def test_intervals_cover_a_null_difference():
    """Both groups from one distribution: every true contribution is 0, and the 95% intervals should hold it
    about 95% of the time (the pairs share rows, so an interval over pairs as if independent would not)."""
    rng = np.random.default_rng(0)
    hits = total = 0
    for rep in range(150):
        x = rng.standard_normal((45, 3))
        group = np.array(["g"] * 20 + ["r"] * 25)
        table = _decompose(x, group, references={"a": "r"}, seed=rep)["table"]
        hits += int(((table["lo"] <= 0) & (0 <= table["hi"])).sum())
        total += len(table)
    assert 0.90 <= hits / total <= 0.99, hits / total


def test_integer_groups_are_decomposed_not_skipped():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((60, 3))
    group = np.array([0] * 20 + [1] * 40)
    x[group == 0, 2] += 1.0
    out = _decompose(x, group, references={"a": "1"})
    assert out["skipped"] == [] and out["summary"]["group"].tolist() == ["0"]
    c = out["table"].set_index("feature")["contribution"]
    expected = W.double().numpy() * (x[group == 0].mean(0) - x[group == 1].mean(0))
    assert np.allclose(c[["x0", "x1", "x2"]], expected, atol=1e-5)
    # a reference with no rows is reported, not silently dropped
    missing = _decompose(x, group, references={"a": "7"})
    assert missing["summary"].empty and "no rows in its reference group" in missing["skipped"][0]["reason"]


def test_large_groups_are_decomposed_on_a_stated_sample():
    rng = np.random.default_rng(2)
    n_g, n_r = 300, 3000
    x = rng.standard_normal((n_g + n_r, 3))
    group = np.array(["g"] * n_g + ["r"] * n_r)
    s = _decompose(x, group, references={"a": "r"})["summary"].iloc[0]
    assert not s["all_rows"] and s["n_reference_used"] == MAX_ROWS and s["n_used"] == n_g
    # exact on the rows used; the sample's gap differs from the full-data gap by the stated amount
    assert abs(s["sum_of_contributions"] - s["pair_gap"]) < 1e-5
    # sampling_difference is stored as pair_gap - gap from these same float64 numbers: an identity, not a
    # cross-platform comparison of model outputs
    assert abs(s["pair_gap"] - s["gap"] - s["sampling_difference"]) < FLOAT64_ATOL


def test_one_pair_group_has_no_interval_and_displays():
    from deepaudit.dashboard.pages.fairness import _signed

    x = np.eye(3)[:2]
    out = _decompose(x, np.array(["g", "r"]), references={"a": "r"})
    assert out["table"]["lo"].isna().all()
    assert _signed(None) == "–" and _signed(float("nan")) == "–" and _signed(0.5) == "+0.500"
