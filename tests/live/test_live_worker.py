"""The live-explanation worker process (what `deepaudit serve` uses): same answers as in the server process,
errors carried back, and a worker that dies is reported and replaced. Real processes, no mocks."""
from __future__ import annotations

import os
import textwrap

import numpy as np
import pytest

from deepaudit.audit.tolerance import FLOAT32_ATOL, FLOAT32_RTOL
from deepaudit.dashboard.context import LiveModels
from deepaudit.dashboard.live_tabular import LiveTabular, LiveTabularCache
from deepaudit.dashboard.live_text import explain_texts
from deepaudit.dashboard.live_worker import LiveWorker

TEXTS = ["A wonderful, moving film with superb acting.", "Dull, slow and far too long; I nearly left halfway."]


@pytest.fixture(scope="module")
def remote():
    """What `deepaudit serve` builds: live models whose passes run in the worker process."""
    live = LiveModels(process=True)
    yield live
    live.worker.close()


def test_worker_answers_equal_the_server_process(remote):
    local = LiveModels()
    opts = {"n_steps": 16}
    remote.target("sentiment")
    got = remote.explain_texts("sentiment", TEXTS, "integrated_gradients", opts)
    here = explain_texts(local.target("sentiment"), TEXTS, options=opts)
    assert [r.predicted for r in got] == [h.predicted for h in here]
    for r, h in zip(got, here):
        assert r.tokens["token"].tolist() == h.tokens["token"].tolist() and r.batch_size == 2
        np.testing.assert_allclose(r.tokens["attribution"], h.tokens["attribution"], rtol=FLOAT32_RTOL,
                                   atol=FLOAT32_ATOL)

    # the what-if editor's path: LiveTabularCache -> batcher -> worker process
    tab_remote = LiveTabularCache(remote).get("mortgage")
    tab_here = LiveTabular(local.target("mortgage"))
    frames = [tab_here.row(i) for i in list(tab_here.index_of)[:3]]
    for frame, (p_h, m_h) in zip(frames, tab_here.explain_batch(frames, opts)):
        p_r, m_r, n = tab_remote.explain_rows(frame, opts)
        assert n == 1
        np.testing.assert_allclose(p_r, p_h, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
        np.testing.assert_allclose(m_r, m_h, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
    assert remote.worker.starts == 1


def test_a_what_if_is_answered_while_a_long_review_pass_runs(remote):
    """Lanes: the tabular lane answers while the texts lane is busy (one lane would answer in arrival order)."""
    import threading
    import time

    remote.target("sentiment")
    tab = LiveTabularCache(remote).get("mortgage")
    frame = tab.row(next(iter(tab.index_of)))
    tab.explain_rows(frame, {"n_steps": 16})                # loaded in the worker, off the clock
    done: dict[str, float] = {}
    long = [f"{TEXTS[0]} {TEXTS[1]} " * 6 + str(i) for i in range(24)]   # seconds of IG at 256 steps

    def review():
        remote.worker.call("texts", "sentiment", {"texts": long, "method": "integrated_gradients",
                                                  "options": {"n_steps": 256}})
        done["texts"] = time.perf_counter()

    t = threading.Thread(target=review)
    t.start()
    time.sleep(0.3)                                          # the review pass is under way in the worker
    remote.worker.call("what-if", "mortgage", {"frames": [frame], "options": {"n_steps": 16}})
    done["what-if"] = time.perf_counter()
    t.join(120)
    assert done["what-if"] < done["texts"]


def test_two_review_batches_at_once_each_get_their_own_answer(remote):
    """The texts lane runs two passes at once, each on its own model copy: answers equal the ones computed
    alone (explainers hook the model's layers; on one shared model the two passes would mix tensors)."""
    from concurrent.futures import ThreadPoolExecutor

    opts = {"n_steps": 32}
    batches = [[f"{t} {i}" for t in TEXTS] * 3 for i in range(4)]     # different texts and lengths per batch
    remote.target("sentiment")
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda b: remote.worker.call("texts", "sentiment", {"texts": b, "method":
                                                                               "integrated_gradients",
                                                                               "options": opts}), batches))
    alone = LiveModels().target("sentiment")
    for batch, answers in zip(batches, got):
        for r, h in zip(answers, explain_texts(alone, batch, options=opts)):
            assert r.tokens["token"].tolist() == h.tokens["token"].tolist()
            np.testing.assert_allclose(r.tokens["attribution"], h.tokens["attribution"], rtol=FLOAT32_RTOL,
                                       atol=FLOAT32_ATOL)


def test_only_small_text_models_are_copied_for_concurrent_passes():
    """A Hugging Face-sized model is not copied per pass (memory); its passes share it, one at a time."""
    import types

    import torch

    from deepaudit.dashboard.live_worker import COPY_MAX_PARAMS, copies_allowed

    assert copies_allowed(LiveModels().target("sentiment"))              # 1.3M parameters
    big = types.SimpleNamespace(model=torch.nn.Linear(COPY_MAX_PARAMS // 1000 + 1, 1000, bias=False))
    assert not copies_allowed(big)


def test_worker_errors_come_back_to_the_caller(remote):
    worker = remote.worker
    # the worker keeps the server's allowlist: a spec nobody vouched for is refused there too
    with pytest.raises(ValueError, match="live features are off"):
        worker.call("load", "/tmp/anything.py:factory")
    with pytest.raises(ValueError, match="unknown live operation"):
        worker.call("explode", "mortgage")
    assert worker.call("load", "mortgage") is None          # and it still serves after an error
    assert worker.starts == 1


def test_a_worker_that_dies_fails_its_request_and_is_replaced(tmp_path):
    dies = tmp_path / "dies.py"
    dies.write_text(textwrap.dedent("""
        import os
        def factory(device="cpu"):
            os._exit(3)          # the worker process dies while loading
    """))
    w = LiveWorker(allowed=[f"{dies}:factory"])
    try:
        w.start()
        w.start()                                  # already running: not started twice
        assert w.starts == 1
        with pytest.raises(RuntimeError, match="stopped \\(exit code 3\\)"):
            w.call("load", f"{dies}:factory")
        assert w.call("load", "mortgage") is None and w.starts == 2    # the next request starts a new one
        proc = w._proc
        os.kill(proc.pid, 9)
        proc.wait(10)
        assert w.call("load", "mortgage") is None and w.starts == 3
    finally:
        w.close()
