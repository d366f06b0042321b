"""One store for all dashboard tests: two mortgage runs, one sentiment and one MNIST run (small samples),
one app over it (Dash's page registry is process-wide), a loopback server and headless Chromium."""
import shutil
import socket
import threading

import pytest

from audit.runner import RunConfig, run_target
from audit.store import RunStore
from audit.target import load_target

RUNS = [
    ("mortgage", {"samples": 20, "methods": ["integrated_gradients"]}),
    ("mortgage", {"samples": 20, "seed": 1, "methods": ["integrated_gradients", "saliency"]}),
    ("sentiment", {"samples": 8, "methods": ["integrated_gradients"], "quality_samples": 4}),
    ("mnist_cnn", {"samples": 16, "methods": ["integrated_gradients", "saliency"], "quality_samples": 8}),
]


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    s = RunStore(tmp_path_factory.mktemp("dstore"))
    for name, kw in RUNS:
        run_target(load_target(name), RunConfig(progress=False, **kw), store=s)
    return s


@pytest.fixture(scope="session")
def app(store):
    from dashboard.app import create_app

    return create_app(store)


@pytest.fixture(scope="session")
def ctx(app, store):
    """The app's context (what its callbacks close over)."""
    from dashboard.context import AppContext

    return AppContext(store)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(app):
    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    port = _free_port()
    srv = make_server("127.0.0.1", port, app.server, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}"
    srv.shutdown()


@pytest.fixture(scope="session")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    driver_path = shutil.which("chromedriver")
    chrome = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not driver_path or not chrome:
        pytest.skip("chromium / chromedriver not installed (make system-deps installs them as root)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1366,768"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver_path), options=opts)
    yield d
    d.quit()
