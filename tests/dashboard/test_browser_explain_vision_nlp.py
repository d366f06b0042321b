"""Explanations page (vision gallery, NLP live text) in real headless Chromium."""
from urllib.parse import parse_qs, urlparse

import pytest

pytest.importorskip("selenium")
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from deepaudit.dashboard import ids
from tests.dashboard.browser_util import console_errors, idle, open_page, screenshot

pytestmark = pytest.mark.browser


def _query(driver) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(driver.current_url).query).items()}


def _wait_text(driver, element_id, text, timeout=30):
    WebDriverWait(driver, timeout).until(EC.text_to_be_present_in_element((By.ID, element_id), text))


@pytest.fixture(scope="module")
def vision(store):
    from deepaudit.dashboard.pages.explain_vision import explained

    run = store.load("latest:mnist_cnn")
    return run, explained(run).table


def test_vision_gallery_select_and_filter(server, browser, vision):
    run, table = vision
    body = open_page(browser, server + "/model/mnist_cnn/explanations", "Explained samples", "Class-average maps",
                     "explained samples match", timeout=60)
    assert f"{len(table)} of {len(table)} explained samples match" in body
    assert console_errors(browser) == []
    thumbs = browser.find_elements(By.CSS_SELECTOR, f"#{ids.EXPLAIN_VISION_GALLERY} .xv-thumb")
    assert len(thumbs) == len(table)
    assert browser.find_elements(By.CSS_SELECTOR, f"#{ids.EXPLAIN_VISION_OVERLAYS} .main-svg")
    assert browser.find_elements(By.CSS_SELECTOR, f"#{ids.EXPLAIN_VISION_CLASS_MAPS} .main-svg")

    sid = str(table["sample_id"].iloc[4])
    thumbs[4].click()
    _wait_text(browser, ids.EXPLAIN_VISION_DETAIL, sid)
    idle(browser)
    assert _query(browser)["sample"] == sid
    assert f"Sample {sid}:" in browser.find_element(By.ID, ids.EXPLAIN_VISION_OVERLAYS).text
    screenshot(browser, "explain_vision_selected")

    wrong = table[~table["correct"]]
    browser.find_element(By.CSS_SELECTOR, f"#{ids.EXPLAIN_VISION_CORRECT} input[value='wrong']").click()
    _wait_text(browser, ids.EXPLAIN_VISION_COUNT, f"{len(wrong)} of {len(table)} explained samples match")
    idle(browser)
    assert _query(browser)["correct"] == "wrong"
    assert len(browser.find_elements(By.CSS_SELECTOR, f"#{ids.EXPLAIN_VISION_GALLERY} .xv-thumb")) == len(wrong)
    assert console_errors(browser) == []


def test_vision_url_restores_the_selection(server, browser, vision):
    run, table = vision
    row = table.iloc[-1]
    cls, sid = str(int(row["y_true"])), str(int(row["sample_id"]))
    url = f"{server}/model/mnist_cnn/explanations?cls={cls}&scale=run&sample={sid}"
    open_page(browser, url, "Explained samples", f"Sample {sid}:", timeout=60)
    assert browser.find_element(By.CSS_SELECTOR, f"#{ids.EXPLAIN_VISION_CLASS}").text.strip().startswith(cls)
    selected = browser.find_element(By.CSS_SELECTOR, f"#{ids.EXPLAIN_VISION_GALLERY} .selected .xv-thumb-img")
    assert selected.get_attribute("alt") == f"sample {sid}"
    assert "99th percentile" in browser.find_element(By.ID, ids.EXPLAIN_VISION_OVERLAYS).text
    n = int((table["y_true"] == int(cls)).sum())
    assert f"{n} of {len(table)} explained samples match" in browser.find_element(By.ID, ids.EXPLAIN_VISION_COUNT).text
    assert _query(browser)["sample"] == sid and _query(browser)["cls"] == cls
    assert console_errors(browser) == []
    screenshot(browser, "explain_vision_url")


def test_nlp_stored_heatmap_and_probes(server, browser, store):
    run = store.load("latest:sentiment")
    pairs = run.result["fairness"]["probes"]["counterfactual"]["pairs"]
    attr = pairs[-1]["attribute"]
    body = open_page(browser, f"{server}/model/sentiment/explanations?probe={attr}", "Stored explanations",
                     "Counterfactual probes", "attributions sum to", timeout=60)
    assert console_errors(browser) == []
    assert "Explain your own review" in body and "lowers 'positive'" in body
    assert len(browser.find_elements(By.CSS_SELECTOR, f"#{ids.EXPLAIN_NLP_HEATMAP} .xn-token")) > 5
    rows = browser.find_elements(By.CSS_SELECTOR, f"#{ids.EXPLAIN_NLP_PROBE_TABLE} tbody tr")
    n = sum(p["attribute"] == attr for p in pairs)
    assert len(rows) - 1 == min(n, 12)  # minus the header row; 12 rows per table page
    assert browser.find_elements(By.CSS_SELECTOR, f"#{ids.EXPLAIN_NLP_PROBE_CHART} .main-svg")
    assert _query(browser)["probe"] == attr
    screenshot(browser, "explain_nlp")


def test_nlp_live_explanation_end_to_end(server, browser):
    open_page(browser, f"{server}/model/sentiment/explanations", "Explain your own review", timeout=60)
    button = browser.find_element(By.ID, ids.EXPLAIN_NLP_BUTTON)
    button.click()
    _wait_text(browser, ids.EXPLAIN_NLP_LIVE, "the text box is empty")
    box = browser.find_element(By.ID, ids.EXPLAIN_NLP_TEXT)
    box.send_keys("A wonderful, moving film with brilliant acting. I loved every minute of it and would "
                  "happily watch it again; the script is sharp and the ending is perfect.")
    _wait_text(browser, ids.EXPLAIN_NLP_COUNT, "/ 2,000 characters")
    button.click()
    _wait_text(browser, ids.EXPLAIN_NLP_LIVE, "Predicted: positive", timeout=60)
    idle(browser)
    live = browser.find_element(By.ID, ids.EXPLAIN_NLP_LIVE)
    assert "Completeness" in live.text and "ms." in live.text
    spans = live.find_elements(By.CSS_SELECTOR, ".xn-token")
    assert [s.text for s in spans[:3]] == ["A", "wonderful", ","]
    assert console_errors(browser) == []
    screenshot(browser, "explain_nlp_live")
