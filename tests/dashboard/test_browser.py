"""Real headless Chromium against the app served on loopback."""
import time

import pytest

selenium = pytest.importorskip("selenium")
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = pytest.mark.browser


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
    assert "mortgage · Fairness" in body and "black" in body and "Impact ratio" in body
    time.sleep(1)
    browser.save_screenshot("/tmp/dash_fairness.png")
    assert _severe(browser) == []


def test_unknown_model_404(server, browser):
    browser.get(server + "/model/no_such_model/fairness")
    WebDriverWait(browser, 20).until(EC.text_to_be_present_in_element((By.TAG_NAME, "body"), "Page not found"))
    assert "no_such_model" in browser.find_element(By.TAG_NAME, "body").text
    assert _severe(browser) == []
