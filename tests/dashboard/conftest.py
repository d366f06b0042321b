import pytest

from audit.runner import RunConfig, run_target
from audit.store import RunStore
from audit.target import load_target


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store holding one small mortgage run (20 samples, IG only)."""
    s = RunStore(tmp_path_factory.mktemp("dstore"))
    run_target(load_target("mortgage"),
               RunConfig(samples=20, progress=False, methods=["integrated_gradients"]), store=s)
    return s
