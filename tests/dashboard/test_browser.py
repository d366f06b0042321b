"""Real headless Chromium against the app served on loopback: home, a fairness link, the 404 page."""
import pytest

pytest.importorskip("selenium")
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from tests.dashboard.browser_util import console_errors, open_page, screenshot

pytestmark = pytest.mark.browser


def test_home_page(server, browser):
    body = open_page(browser, server + "/", "checks failed", "Run history")
    assert "Audited models" in body and "mortgage" in body and "not applicable" in body
    screenshot(browser, "home")
    assert console_errors(browser) == []


def test_fairness_page(server, browser):
    body = open_page(browser, server + "/model/mortgage/fairness?attribute=race", "Reference group: white")
    WebDriverWait(browser, 20).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, "#fairness-impact-chart .main-svg")))
    assert "mortgage · Fairness" in body and "black" in body and "Impact ratio" in body
    screenshot(browser, "fairness")
    assert console_errors(browser) == []


def test_unknown_model_404(server, browser):
    body = open_page(browser, server + "/model/no_such_model/fairness", "Page not found")
    assert "no_such_model" in body
    assert console_errors(browser, expected_status=404) == []
