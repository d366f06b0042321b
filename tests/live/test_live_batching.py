"""Micro-batched live explanations: requests arriving together share one pass, and each answer is the one
the request gets alone (counts and labels exactly, float32-derived numbers at the float32 tolerance)."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from deepaudit.audit.tolerance import FLOAT32_ATOL, FLOAT32_RTOL
from deepaudit.dashboard.batching import MicroBatcher
from deepaudit.dashboard.context import LiveModels
from deepaudit.dashboard.live_tabular import LiveTabular
from deepaudit.dashboard.live_text import explain_text, explain_texts

TEXTS = ["A wonderful, moving film with superb acting.",
         "Dull, slow and far too long; I nearly left halfway through the second act of this mess.",
         "Not bad.",
         "The first half is slow and the dialogue clumsy, but the last hour is gripping and the score wonderful. " * 3]


def _close(a, b):
    np.testing.assert_allclose(a, b, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)


# -- the batcher --------------------------------------------------------------------------------------------

def _concurrently(batcher, jobs):
    """Submit (key, item, run) jobs from as many threads at once; results in job order."""
    start = threading.Barrier(len(jobs))

    def one(job):
        start.wait()
        return batcher.submit(*job)

    with ThreadPoolExecutor(len(jobs)) as ex:
        return list(ex.map(one, jobs))


def test_requests_arriving_together_share_one_call_and_get_their_own_answers():
    calls = []

    def double(items):
        calls.append(list(items))
        return [2 * i for i in items]

    batcher = MicroBatcher(workers=1, window_s=1.0)   # wide: every thread joins even on a loaded CI runner
    out = _concurrently(batcher, [("k", i, double) for i in range(6)])
    assert [answer for answer, _ in out] == [0, 2, 4, 6, 8, 10]
    assert [n for _, n in out] == [6] * 6
    assert len(calls) == 1 and sorted(calls[0]) == list(range(6))


def test_only_requests_with_the_same_key_are_batched():
    calls = []

    def tag(items):
        calls.append(list(items))
        return [f"{i}!" for i in items]

    batcher = MicroBatcher(workers=1, window_s=1.0, max_batch=2)
    out = _concurrently(batcher, [("a", "a1", tag), ("b", "b1", tag), ("a", "a2", tag), ("a", "a3", tag)])
    assert [answer for answer, _ in out] == ["a1!", "b1!", "a2!", "a3!"]
    assert all(len({i[0] for i in c}) == 1 for c in calls), calls          # never two keys in one call
    assert max(len(c) for c in calls) == 2 and sum(len(c) for c in calls) == 4   # max_batch respected


def test_a_bad_request_gets_its_own_error_and_costs_the_others_nothing():
    def strict(items):
        if any(i < 0 for i in items):
            raise ValueError(f"negative input in {items}")
        return [i + 1 for i in items]

    batcher = MicroBatcher(workers=2, window_s=0.2)
    start = threading.Barrier(4)

    def one(i):
        start.wait()
        try:
            return batcher.submit("k", i, strict)[0]
        except ValueError as exc:
            return str(exc)

    with ThreadPoolExecutor(4) as ex:
        out = list(ex.map(one, [1, -5, 2, 3]))
    assert out == [2, "negative input in [-5]", 3, 4]


def test_a_lone_request_is_answered_alone():
    answer, n = MicroBatcher(workers=1).submit("k", 3, lambda items: [i * i for i in items])
    assert (answer, n) == (9, 1)
    with pytest.raises(ValueError, match="workers >= 1"):
        MicroBatcher(workers=0)


# -- the live explanations ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def live():
    return LiveModels()


def _same_text_answer(batched, alone):
    assert batched.predicted == alone.predicted and batched.explained == alone.explained
    placed = ["position", "token", "start", "end"]
    assert batched.tokens[placed].equals(alone.tokens[placed])
    _close(batched.tokens["attribution"].to_numpy(), alone.tokens["attribution"].to_numpy())
    _close([batched.probabilities[c] for c in alone.probabilities], list(alone.probabilities.values()))
    for k in ("logit", "path_start_logit", "attribution_sum"):
        _close(batched.completeness[k], alone.completeness[k])
    assert batched.completeness["n_steps"] == alone.completeness["n_steps"]
    # the relative error is judged with the text's own floor, as alone (not the batch's mean delta)
    assert batched.completeness["relative_error"] == pytest.approx(alone.completeness["relative_error"], abs=1e-5)


def test_texts_of_different_lengths_explained_together_equal_each_alone(live):
    target = live.target("sentiment")
    alone = [explain_text(target, t, options={"n_steps": 32}) for t in TEXTS]
    batched = explain_texts(target, TEXTS, options={"n_steps": 32})
    assert [b.batch_size for b in batched] == [len(TEXTS)] * len(TEXTS)
    for b, a in zip(batched, alone):
        _same_text_answer(b, a)


def test_concurrent_live_requests_through_the_batcher_equal_sequential(live):
    """What the dashboard does: requests from many threads go through LiveModels.batcher."""
    target = live.target("sentiment")
    alone = {t: explain_text(target, t, options={"n_steps": 32}) for t in TEXTS}
    batcher = MicroBatcher(workers=1, window_s=1.0)   # wide: every thread joins even on a loaded CI runner

    def run(texts):
        with live.lease("sentiment") as leased:
            return explain_texts(leased, texts, options={"n_steps": 32})

    out = _concurrently(batcher, [("text", TEXTS[i % len(TEXTS)], run) for i in range(8)])
    assert max(n for _, n in out) > 1 and batcher.n_batches < 8
    for i, (res, _) in enumerate(out):
        _same_text_answer(res, alone[TEXTS[i % len(TEXTS)]])


def test_what_ifs_explained_together_equal_each_alone(live):
    tab = LiveTabular(live.target("mortgage"))
    frames = [tab.row(i) for i in list(tab.index_of)[:5]]
    frames[2] = tab.edited_row(frames[2], {f.name: f.lo for f in tab.fields if f.kind == "numeric"})
    opts = {"n_steps": 32}
    alone = [tab.explain_rows(f, opts) for f in frames]
    batched = tab.explain_batch(frames, opts)
    assert len(batched) == len(frames)
    for (p_b, m_b), (p_a, m_a, n) in zip(batched, alone):
        assert n == 1 and p_b.shape == p_a.shape == (1,) and m_b.shape == m_a.shape
        _close(p_b, p_a)
        _close(m_b, m_a)
        assert (p_b >= 0.5) == (p_a >= 0.5)
