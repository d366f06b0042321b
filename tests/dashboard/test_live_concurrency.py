"""Live explanations from concurrent requests: each computation leases a model copy no other request uses
meanwhile, so captum's layer hooks from one request never touch another's forward pass."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from deepaudit.dashboard.context import LiveModels
from deepaudit.dashboard.live_text import explain_text

TEXTS = ["A wonderful, moving film with superb acting.",
         "Dull, slow and far too long; I nearly left halfway through the second act of this mess.",
         "Not bad."]


def test_leased_targets_are_copies_never_shared_at_once():
    live = LiveModels()
    shared = live.target("sentiment")
    with live.lease("sentiment") as a:
        assert a.model is not shared.model and a.eval_data is shared.eval_data  # model copied, data shared
        other = ThreadPoolExecutor(1).submit(lambda: _model_id(live)).result()
        assert other != id(a.model)                                              # in use: another copy
    with live.lease("sentiment") as again:
        assert again.model is a.model                                            # returned copies are reused


def _model_id(live):
    with live.lease("sentiment") as t:
        return id(t.model)


def _explain(live, text):
    with live.lease("sentiment") as t:
        return explain_text(t, text, options={"n_steps": 16})


def test_concurrent_live_explanations_equal_sequential():
    live = LiveModels()
    ref = {t: _explain(live, t) for t in TEXTS}

    def job(i):
        t = TEXTS[i % len(TEXTS)]
        return t, _explain(live, t)

    with ThreadPoolExecutor(6) as ex:
        results = list(ex.map(job, range(18)))
    for t, res in results:
        assert res.predicted == ref[t].predicted
        np.testing.assert_allclose(res.tokens["attribution"].to_numpy(), ref[t].tokens["attribution"].to_numpy(),
                                   rtol=1e-5, atol=1e-7)
