"""The Fairness page in real headless Chromium: URL restore, the threshold slider, the reference and
intersection selectors, malformed links, and a model without a favourable outcome."""
from urllib.parse import parse_qs, urlencode, urlparse

import numpy as np
import pytest

pytest.importorskip("selenium")
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from deepaudit.dashboard import ids
from tests.dashboard.browser_util import console_errors, idle, open_page, screenshot

pytestmark = pytest.mark.browser


def _url(server, model="mortgage", **query):
    return f"{server}/model/{model}/fairness" + (f"?{urlencode(query)}" if query else "")


def _query(driver) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(driver.current_url).query).items()}


def _wait_text(driver, text, timeout=30):
    WebDriverWait(driver, timeout).until(EC.text_to_be_present_in_element((By.TAG_NAME, "body"), text))
    idle(driver)


def _table_rows(driver) -> dict:
    cells = driver.find_elements(By.CSS_SELECTOR, f"#{ids.FAIRNESS_TABLE} td[data-dash-column='group']")
    out = {}
    for c in cells:
        row = c.find_element(By.XPATH, "./..")
        out[c.text] = {td.get_attribute("data-dash-column"): td.text for td in row.find_elements(By.TAG_NAME, "td")}
    return out


def _pick(driver, dropdown_id, *options):
    driver.find_element(By.ID, dropdown_id).click()
    for text in options:
        WebDriverWait(driver, 10).until(EC.element_to_be_clickable(
            (By.XPATH, f"//*[@role='option'][normalize-space(.)='{text}']"))).click()
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    idle(driver)


def _set_threshold(driver, value):
    box = driver.find_element(By.CSS_SELECTOR, f"#{ids.FAIRNESS_THRESHOLD} input[type=number]")
    box.click()
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys(str(value), Keys.TAB)  # the slider commits its typed value on blur


@pytest.fixture(scope="module")
def mortgage_preds(store):
    return store.load("latest:mortgage").predictions()


def test_link_restores_intersection_reference_and_threshold(server, browser):
    url = _url(server, intersect="sex,age", reference="male & above area median", threshold="0.35")
    body = open_page(browser, url, "Decision threshold 0.35", "Computed live")
    assert "Ratio to male & above area median" in body and "female & at or below median" in body
    assert "Impact ratio by sex x age" not in body and "Ratio to male & above area median by sex x age" in body
    box = browser.find_element(By.CSS_SELECTOR, f"#{ids.FAIRNESS_THRESHOLD} input[type=number]")
    assert float(box.get_attribute("value")) == pytest.approx(0.35)
    assert browser.find_element(By.ID, ids.FAIRNESS_ATTRIBUTE).get_attribute("disabled") is not None
    q = _query(browser)  # the URL keeps the selection (copied links restore it)
    assert q["intersect"] == "sex,age" and q["reference"] == "male & above area median" and q["threshold"] == "0.35"
    screenshot(browser, "fairness_link_restore")
    assert console_errors(browser) == []


def test_threshold_slider_and_reference_selector_update_table_and_url(server, browser, mortgage_preds):
    open_page(browser, _url(server, attribute="race"), "Reference group: white", "Stored in run")
    _set_threshold(browser, 0.3)
    _wait_text(browser, "Decision threshold 0.30")
    assert _query(browser)["threshold"] == "0.3"
    p = mortgage_preds
    sr = {g: float(np.mean(p.loc[p["race"] == g, "score"] >= 0.3)) for g in ("black", "hispanic", "white")}
    rows = _table_rows(browser)
    for g, rate in sr.items():
        assert rows[g]["selection_rate"].startswith(f"{rate:.1%}")
        assert rows[g]["impact_ratio"].startswith(f"{rate / max(sr.values()):.3f}")
    assert "Computed live" in browser.find_element(By.ID, ids.FAIRNESS_SOURCE).text
    # the sweep chart marks the current threshold
    assert "threshold 0.30" in browser.find_element(By.ID, ids.FAIRNESS_SWEEP).text

    _pick(browser, ids.FAIRNESS_REFERENCE_SELECT, "black")
    _wait_text(browser, "Ratio to black")
    assert _query(browser)["reference"] == "black"
    rows = _table_rows(browser)
    assert rows["white"]["impact_ratio"].startswith(f"{sr['white'] / sr['black']:.3f}")
    assert rows["black"]["note"].startswith("reference")
    screenshot(browser, "fairness_threshold_reference")
    assert console_errors(browser) == []

    # reloading the URL the page wrote restores the same view
    body = open_page(browser, browser.current_url, "Ratio to black", "Decision threshold 0.30")
    assert "Reference group: black" in body


def test_intersection_selector_computes_live_groups(server, browser):
    open_page(browser, _url(server, attribute="race"), "Reference group: white")
    _pick(browser, ids.FAIRNESS_INTERSECT, "sex", "age")
    _wait_text(browser, "Impact ratio by sex x age")
    rows = _table_rows(browser)
    assert {"female & above area median", "male & at or below median", "unknown"} <= set(rows)
    assert _query(browser)["intersect"] == "sex,age"
    assert console_errors(browser) == []


def test_malformed_link_falls_back_with_a_note(server, browser):
    url = _url(server, attribute="nope", intersect="race", reference="martians", threshold="abc")
    body = open_page(browser, url, "Reference group: white")
    note = browser.find_element(By.ID, ids.FAIRNESS_NOTE).text
    assert "attribute 'nope'" in note and "two or more columns" in note and "threshold 'abc'" in note
    assert "'martians'" in note
    assert "Stored in run" in body  # the defaults: the stored tables
    screenshot(browser, "fairness_malformed_link")
    assert console_errors(browser) == []


def test_threshold_hidden_for_model_without_favourable_outcome(server, browser):
    body = open_page(browser, _url(server, "mnist_cnn", threshold="0.3"), "Reference group")
    assert "decision threshold does not apply" in body
    assert not browser.find_element(By.ID, ids.FAIRNESS_THRESHOLD).is_displayed()
    assert not browser.find_element(By.ID, ids.FAIRNESS_SWEEP).is_displayed()
    assert "Accuracy [95% CI]" in body and "TPR [95% CI]" not in body
    screenshot(browser, "fairness_mnist")
    assert console_errors(browser) == []


def test_served_figures_render_as_plain_dicts_in_the_browser(server, browser, monkeypatch):
    """What `deepaudit serve` sends (unvalidated, the fairness figures as plain dicts; the suite otherwise
    builds validated go.Figure) draws in Chromium: every trace, the titles and the four-fifths line."""
    from deepaudit.dashboard.figures import base

    monkeypatch.setenv(base.VALIDATE_ENV, "0")     # the server runs in this process (tests/dashboard/conftest.py)
    # a threshold no other test draws, so the page's memo cannot answer with a figure built validated
    open_page(browser, _url(server, attribute="sex", threshold="0.43"), "Decision threshold 0.43", "Computed live")
    drawn = browser.execute_script("""
        const out = {};
        for (const id of arguments[0]) {
            const plot = document.getElementById(id).querySelector('.js-plotly-plot');
            out[id] = {traces: plot.data.length, points: plot.data[0].x.length || plot.data[0].y.length,
                       title: plot.layout.title.text, titleSize: plot._fullLayout.title.font.size,
                       text: plot.innerText || plot.textContent};
        }
        return out;""", [ids.FAIRNESS_IMPACT, ids.FAIRNESS_RATES, ids.FAIRNESS_SWEEP])
    impact, rates, sweep = (drawn[i] for i in (ids.FAIRNESS_IMPACT, ids.FAIRNESS_RATES, ids.FAIRNESS_SWEEP))
    assert impact["traces"] == rates["traces"] == 2 and impact["points"] == rates["points"] >= 2   # + baseline
    assert sweep["traces"] >= 2 and sweep["points"] > 50          # one line per group over the swept thresholds
    assert impact["title"].startswith("Impact ratio by sex") and "four-fifths rule" in impact["text"]
    assert impact["titleSize"] == 14 and "threshold 0.43" in sweep["text"]
    assert console_errors(browser) == []
