"""One store for all dashboard tests: two mortgage runs, one sentiment and one MNIST run (small samples),
one app over it, a loopback server and headless Chromium.

Dash's page registry (and the config that ``dash.get_relative_path`` reads) is process-wide: building
another app (``create_app`` / ``serve.build_server`` in a test) re-registers every page with layouts that
close over the other app's store. ``_session_app_pages`` (autouse) puts the session app's registry back
before and after every test, so no test depends on the order the files run in.
"""
import shutil
import socket
import threading

import pytest

from deepaudit.audit.runner import RunConfig, run_target
from deepaudit.audit.store import RunStore

RUNS = [
    ("mortgage", {"samples": 20, "methods": ["integrated_gradients"]}),
    ("mortgage", {"samples": 20, "seed": 1, "methods": ["integrated_gradients", "saliency"]}),
    ("sentiment", {"samples": 8, "methods": ["integrated_gradients"], "quality_samples": 4}),
    ("mnist_cnn", {"samples": 16, "methods": ["integrated_gradients", "saliency"], "quality_samples": 8}),
]


@pytest.fixture(scope="session")
def store(tmp_path_factory, bundled_target):
    s = RunStore(tmp_path_factory.mktemp("dstore"))
    for name, kw in RUNS:
        run_target(bundled_target(name), RunConfig(progress=False, **kw), store=s)
    return s


_SESSION_PAGES: dict = {}


def _dash_globals() -> dict:
    import dash._get_paths
    import dash._pages

    return {"registry": [(k, dict(v)) for k, v in dash._pages.PAGE_REGISTRY.items()],
            "pages_config": dash._pages.CONFIG, "paths_config": dash._get_paths.CONFIG}


def _restore_dash_globals(saved: dict) -> None:
    import dash._get_paths
    import dash._pages

    registry = dash._pages.PAGE_REGISTRY  # the object dash.page_registry names: refill it, never rebind
    registry.clear()
    registry.update((k, dict(v)) for k, v in saved["registry"])
    dash._pages.CONFIG, dash._get_paths.CONFIG = saved["pages_config"], saved["paths_config"]


@pytest.fixture(scope="session")
def app(store):
    from deepaudit.dashboard.app import create_app

    a = create_app(store)
    _SESSION_PAGES.update(_dash_globals())
    return a


@pytest.fixture(autouse=True)
def _session_app_pages():
    """The session app's pages are the registered ones when each test starts and after it ends."""
    if _SESSION_PAGES:
        _restore_dash_globals(_SESSION_PAGES)
    yield
    if _SESSION_PAGES:
        _restore_dash_globals(_SESSION_PAGES)


@pytest.fixture(scope="session")
def ctx(app, store):
    """The app's context (what its callbacks close over)."""
    from deepaudit.dashboard.context import AppContext

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


# Browser waits poll every 50 ms: selenium's default of 0.5 s adds up to half a second to every wait, and the
# browser tests wait a few hundred times.
BROWSER_POLL_S = 0.05


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
    from selenium.webdriver.support.wait import WebDriverWait

    defaults = WebDriverWait.__init__.__defaults__
    WebDriverWait.__init__.__defaults__ = (BROWSER_POLL_S, None)  # (poll_frequency, ignored_exceptions)
    yield d
    WebDriverWait.__init__.__defaults__ = defaults
    d.quit()
