"""Real headless Chromium against the app served on loopback."""
import shutil
import socket
import threading
import time

import pytest

selenium = pytest.importorskip("selenium")
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait
from werkzeug.serving import make_server

from dashboard.app import create_app

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(store):
    app = create_app(store.root)
    port = _free_port()
    srv = make_server("127.0.0.1", port, app.server, threaded=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{port}"
    srv.shutdown()


@pytest.fixture(scope="module")
def browser():
    driver_path = shutil.which("chromedriver")
    chrome = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not driver_path or not chrome:
        pytest.skip("chromium / chromedriver not installed")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1366,768"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver_path), options=opts)
    yield d
    d.quit()


def _severe(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_home_page(server, browser):
    browser.get(server + "/")
    WebDriverWait(browser, 20).until(EC.text_to_be_present_in_element((By.TAG_NAME, "body"), "checks failed"))
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Audited models" in body and "mortgage" in body and "Run history" in body
    time.sleep(0.5)
    browser.save_screenshot("/tmp/dash_home.png")
    assert _severe(browser) == []


def test_fairness_page(server, browser):
    browser.get(server + "/model/mortgage/fairness?attribute=race")
    wait = WebDriverWait(browser, 20)
    wait.until(EC.text_to_be_present_in_element((By.TAG_NAME, "body"), "Reference group: white"))
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#fairness-impact-chart .main-svg")))
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "mortgage: fairness" in body and "black" in body and "Impact ratio" in body
    time.sleep(1)
    browser.save_screenshot("/tmp/dash_fairness.png")
    assert _severe(browser) == []


def test_unknown_model_404(server, browser):
    browser.get(server + "/model/no_such_model/fairness")
    WebDriverWait(browser, 20).until(EC.text_to_be_present_in_element((By.TAG_NAME, "body"), "Page not found"))
    assert "no_such_model" in browser.find_element(By.TAG_NAME, "body").text
    assert _severe(browser) == []
