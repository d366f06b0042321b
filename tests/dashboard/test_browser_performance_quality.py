"""Performance and Quality pages in headless Chromium: load without console errors, show their key content,
controls redraw and write the selection to the URL, and a URL restores the selection."""
import time

import pytest

selenium = pytest.importorskip("selenium")
from selenium.webdriver.common.by import By  # noqa: E402

from tests.dashboard.browser_util import console_errors, idle, open_page, screenshot  # noqa: E402

pytestmark = pytest.mark.browser


def _wait(browser, cond, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def _title(browser, graph_id):
    return browser.find_element(By.CSS_SELECTOR, f"#{graph_id} .gtitle").text


def _choose(browser, dropdown_id, label_start):
    browser.find_element(By.ID, dropdown_id).click()
    assert _wait(browser, lambda: browser.find_elements(By.CSS_SELECTOR, "[role=option]"))
    option = next(o for o in browser.find_elements(By.CSS_SELECTOR, "[role=option]") if o.text.startswith(label_start))
    option.click()
    idle(browser)


def test_performance_page_restores_selection_from_url(server, browser):
    body = open_page(browser, f"{server}/model/mortgage/performance?attribute=sex&group=female",
                     "Confusion matrix and calibration")
    assert "mortgage · Performance" in body and "Accuracy" in body and "ROC AUC" in body and "95% CI" in body
    assert "Per class (2 classes)" in body and "denied" in body
    assert "sex (sensitive)" in browser.find_element(By.ID, "performance-attribute").text
    assert "female" in browser.find_element(By.ID, "performance-group").text
    assert "sex = female" in _title(browser, "performance-confusion")
    assert "by sex" in _title(browser, "performance-group-chart")
    assert browser.find_elements(By.CSS_SELECTOR, "#performance-reliability .main-svg")
    screenshot(browser, "performance_mortgage")
    assert console_errors(browser) == []


def test_performance_controls_redraw_and_update_url(server, browser):
    open_page(browser, f"{server}/model/mortgage/performance", "Confusion matrix and calibration")
    _choose(browser, "performance-attribute", "race_x_sex")
    assert _wait(browser, lambda: "attribute=race_x_sex" in browser.current_url)
    assert _wait(browser, lambda: "by race_x_sex" in _title(browser, "performance-group-chart"))
    assert "black & female" in browser.find_element(By.ID, "performance-group-table").text
    _choose(browser, "performance-group", "black & female")
    assert _wait(browser, lambda: "race_x_sex = black & female" in _title(browser, "performance-confusion"))
    assert "group=black" in browser.current_url
    # a copied URL restores both selections
    url = browser.current_url
    body = open_page(browser, url, "Confusion matrix and calibration")
    assert "race_x_sex = black & female" in _title(browser, "performance-confusion")
    assert "samples with race_x_sex = black & female" in body
    assert console_errors(browser) == []


def test_performance_page_vision(server, browser):
    body = open_page(browser, f"{server}/model/mnist_cnn/performance?attribute=digit", "Confusion matrix")
    assert "Per class (10 classes)" in body and "multi-class" in body
    assert "Accuracy by digit" in _title(browser, "performance-group-chart")
    assert not browser.find_element(By.ID, "performance-reliability").is_displayed()
    screenshot(browser, "performance_mnist")
    assert console_errors(browser) == []


def test_quality_page_controls_and_url(server, browser, store):
    checks = store.load("latest:mnist_cnn").result["checks"]
    passed = next(c["id"] for c in checks if c["passed"] and not c["id"].startswith("fairness."))
    body = open_page(browser, f"{server}/model/mnist_cnn/quality", "Shortcut probes")
    for text in ("Explanation-quality checks", "completeness_ig", "Integrated Gradients completeness",
                 "Checks by method", "Deletion and insertion", "Infidelity and max-sensitivity",
                 "Model-randomization sanity check", "corner_mark"):
        assert text in body
    assert "as checked" in _title(browser, "quality-randomization")
    screenshot(browser, "quality_mnist")
    browser.find_element(By.CSS_SELECTOR, "#quality-similarity input[value=signed]").click()
    idle(browser)
    assert _wait(browser, lambda: "signed attributions" in _title(browser, "quality-randomization"))
    assert "similarity=signed" in browser.current_url
    browser.find_element(By.CSS_SELECTOR, "#quality-check-filter input[value=failed]").click()
    idle(browser)
    assert _wait(browser, lambda: "checks=failed" in browser.current_url)
    assert _wait(browser, lambda: passed not in browser.find_element(By.ID, "quality-checks").text)
    # the URL restores both controls
    open_page(browser, f"{server}/model/mnist_cnn/quality?similarity=abs&checks=failed", "Shortcut probes")
    assert browser.find_element(By.CSS_SELECTOR, "#quality-similarity input[value=abs]").is_selected()
    assert browser.find_element(By.CSS_SELECTOR, "#quality-check-filter input[value=failed]").is_selected()
    assert "|attributions|" in _title(browser, "quality-randomization")
    assert console_errors(browser) == []


def test_quality_page_text_model_says_what_is_missing(server, browser):
    body = open_page(browser, f"{server}/model/sentiment/quality", "Shortcut probes")
    assert "Not in this run: infidelity and max-sensitivity" in body
    assert "Not in this run: shortcut probes" in body
    assert browser.find_elements(By.CSS_SELECTOR, "#quality-curves .main-svg")
    screenshot(browser, "quality_sentiment")
    assert console_errors(browser) == []
