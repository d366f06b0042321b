"""The float32 tolerance policy, and card metrics that survive a change of summation order.

Another CPU, BLAS kernel or thread count sums the terms of a matrix product in a
different order, so float32 logits move in their last bits. These tests provoke
such changes on this machine (1 and 2 threads, odd batch chunks, and the same
weights run in float64) and check that every bundled model still reproduces its
card under :mod:`deepaudit.audit.tolerance`, while the old absolute 1e-12 tolerance does
not. Measured on the development machine, mortgage's Brier score (card
0.07426825749869562) moved by -1.3e-10 with 1 thread (the exact gap issue 11
reported from an AMD EPYC), -3.4e-10 in chunks of 7 rows and +8.2e-10 in
float64: each far outside 1e-12, far inside rtol 1e-5. Accuracy-type metrics
and counts did not move.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from deepaudit.audit.tolerance import FLOAT32_ATOL, FLOAT32_RTOL, close, compare_metrics
from deepaudit.models import get_entry, get_model, list_models


class Chunked(nn.Module):
    """Runs the wrapped model on odd-sized chunks of the batch (different GEMM shapes, same maths)."""

    def __init__(self, model: nn.Module, size: int):
        super().__init__()
        self.model, self.size = model, size

    def forward(self, x):
        return torch.cat([self.model(c) for c in x.split(self.size)])


class Float64(nn.Module):
    """The same weights evaluated in float64: the reference a float32 run approximates."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model.double()

    def forward(self, x):
        return self.model(x.double() if x.is_floating_point() else x).float()


def _evaluate(name: str, wrap=None, threads: int | None = None) -> dict:
    entry = get_entry(name)
    model = get_model(name, device="cpu")
    if wrap is not None:
        model = wrap(model)
    before = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        return entry.evaluate(model, torch.device("cpu"))
    finally:
        torch.set_num_threads(before)


CONDITIONS = {
    "1-thread": {"threads": 1},
    "chunks-of-7": {"wrap": lambda m: Chunked(m, 7), "threads": 2},
    "float64": {"wrap": Float64},
}
# The default (all cores, batch as shipped) is test_registry's test. Every model runs on 1 thread; the text
# CNN (5,030 reviews, 13-20 s a pass) and the BERT (a Hugging Face model called with keyword inputs, which the
# wrappers here do not take) skip the other two, which the other models already show.
CASES = [(n, c) for n in list_models() for c in sorted(CONDITIONS)
         if n not in ("sentiment", "sentiment_bert") or c == "1-thread"]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "condition"), CASES)
def test_card_metrics_survive_another_summation_order(name, condition):
    if CONDITIONS[condition].get("threads") == torch.get_num_threads() and "wrap" not in CONDITIONS[condition]:
        # Under `pytest -n 2` on two cores each worker already runs one thread (tests/conftest.py), so this
        # is exactly test_registry's default pass; a serial run on a multi-core machine still takes it.
        pytest.skip(f"the default pass already uses {torch.get_num_threads()} thread(s)")
    recorded = get_entry(name).weights.meta["metrics"]
    got = _evaluate(name, **CONDITIONS[condition])
    assert got["n_test"] == recorded["n_test"]
    diffs = compare_metrics(got, recorded)
    assert not diffs, [d.describe() for d in diffs]


@pytest.mark.slow
def test_old_1e12_tolerance_rejects_float_noise_that_the_policy_accepts():
    """The same mortgage weights in float64 move the Brier score by ~1e-9: noise, not a different model."""
    recorded = get_entry("mortgage").weights.meta["metrics"]
    got = _evaluate("mortgage", wrap=Float64)
    gap = abs(got["brier"] - recorded["brier"])
    assert 1e-12 < gap < 1e-6, gap
    assert [d.key for d in compare_metrics(got, recorded, rtol=0, atol=1e-12)] != []
    assert compare_metrics(got, recorded) == []


def test_policy_still_catches_a_real_change():
    """A perturbation of the weights well above float32 noise is a mismatch, named with both values."""
    entry = get_entry("mortgage")
    model = get_model("mortgage", device="cpu")
    with torch.no_grad():
        first = next(p for p in model.parameters() if p.dim() == 2)
        first.mul_(1.01)
    diffs = compare_metrics(entry.evaluate(model, torch.device("cpu")), entry.weights.meta["metrics"])
    assert "brier" in {d.key for d in diffs}
    text = next(d for d in diffs if d.key == "brier").describe()
    assert "card" in text and "recomputed" in text and "difference" in text


@pytest.mark.parametrize(("a", "b", "expected"), [
    (0.8, 0.8 * (1 + 0.5 * FLOAT32_RTOL), True),
    (0.8, 0.8 * (1 + 3 * FLOAT32_RTOL), False),
    (0.0, 0.5 * FLOAT32_ATOL, True),
    (0.0, 3 * FLOAT32_ATOL, False),
    (math.nan, math.nan, True),
    (math.nan, 0.1, False),
])
def test_close(a, b, expected):
    assert close(a, b) is expected and close(b, a) is expected


def test_counts_are_exact_and_missing_metrics_differ():
    card = {"n_correct": 548, "accuracy": 0.9179, "roc_auc": 0.82}
    diffs = compare_metrics({"n_correct": 547, "accuracy": 0.9179 * (1 + 1e-7)}, card)
    assert [(d.key, d.exact) for d in diffs] == [("n_correct", True), ("roc_auc", False)]
    assert diffs[0].difference == -1 and diffs[1].difference is None


def test_tree_differences_tolerates_float32_noise_not_changes():
    from deepaudit.audit.tolerance import tree_differences

    a = {"n": 597, "groups": [{"group": "black", "rate": 0.6440677966101694, "passed": False}], "note": "x"}
    noisy = {"n": 597, "groups": [{"group": "black", "rate": 0.6440677966101694 * (1 + 3e-7), "passed": False}],
             "note": "x"}
    assert tree_differences(a, noisy) == []
    moved = {**noisy, "groups": [{**noisy["groups"][0], "rate": 0.65}]}
    assert tree_differences(a, moved) == ["$.groups[0].rate: 0.6440677966101694 != 0.65"]
    # counts, verdicts, strings and structure are compared exactly
    assert tree_differences(a, {**a, "n": 598}) == ["$.n: 597 != 598"]
    assert tree_differences(a, {**a, "groups": [{**a["groups"][0], "passed": True}]}) != []
    assert tree_differences(a, {**a, "note": "y"}) != [] and tree_differences(a, {"n": 597}) != []
    assert tree_differences([float("nan")], [float("nan")]) == [] and tree_differences([1.0], [1.0, 2.0]) != []
