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
