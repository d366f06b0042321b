"""Live explanations from concurrent requests: each worker thread explains on its own model copy, so
captum's layer hooks from one request never touch another's forward pass."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from dashboard.context import LiveModels
from dashboard.live_text import explain_text

TEXTS = ["A wonderful, moving film with superb acting.",
         "Dull, slow and far too long; I nearly left halfway through the second act of this mess.",
         "Not bad."]


def test_private_targets_are_per_thread_copies():
    live = LiveModels()
    a = live.private("sentiment")
    assert live.private("sentiment") is a                      # cached for this thread
    assert a.model is not live.target("sentiment").model        # but not the shared model
    other = ThreadPoolExecutor(1).submit(live.private, "sentiment").result()
    assert other.model is not a.model
    assert a.eval_data is live.target("sentiment").eval_data    # data is shared, not copied


def test_concurrent_live_explanations_equal_sequential():
    live = LiveModels()
    ref = {t: explain_text(live.private("sentiment"), t, options={"n_steps": 16}) for t in TEXTS}

    def job(i):
        t = TEXTS[i % len(TEXTS)]
        return t, explain_text(live.private("sentiment"), t, options={"n_steps": 16})

    with ThreadPoolExecutor(6) as ex:
        results = list(ex.map(job, range(18)))
    for t, res in results:
        assert res.predicted == ref[t].predicted
        np.testing.assert_allclose(res.tokens["attribution"].to_numpy(), ref[t].tokens["attribution"].to_numpy(),
                                   rtol=1e-5, atol=1e-7)
