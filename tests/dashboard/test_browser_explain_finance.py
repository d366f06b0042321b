"""Finance explanations in headless Chromium: importance, applicant browser synced to the URL, what-if editor."""
from urllib.parse import parse_qs, urlparse

import pytest

pytest.importorskip("selenium")
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.dashboard.browser_util import console_errors, idle, open_page, screenshot

pytestmark = pytest.mark.browser
PATH = "/model/mortgage/explanations"


@pytest.fixture(scope="module")
def latest(ctx):
    run = ctx.resolve("mortgage")
    preds = run.predictions().set_index("sample_id")
    explained = preds.loc[run.arrays("attr_integrated_gradients")["sample_id"]]
    return run, explained


def _query(driver) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(driver.current_url).query).items()}


def _field(driver, name):
    return driver.find_element(By.CSS_SELECTOR, f'[id*="explain-finance-field"][id*="\\"name\\":\\"{name}\\""]')


def _edit(driver, name: str, text: str) -> None:
    """Type into a field, opening "All other inputs" first when the field is folded away there."""
    field = _field(driver, name)
    if not field.is_displayed():
        driver.find_element(By.CSS_SELECTOR, ".xf-more summary").click()
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", field)
    field.clear()
    field.send_keys(text, Keys.TAB)


def _wait(driver) -> WebDriverWait:
    """Wait on content that callbacks may re-render between a lookup and its use."""
    return WebDriverWait(driver, 30, ignored_exceptions=(StaleElementReferenceException,))


def _whatif_text(driver) -> str:
    return driver.find_element(By.ID, "explain-finance-whatif").text


def test_page_shows_importance_applicants_and_editor(server, browser, latest):
    run, explained = latest
    denied = int(explained.index[explained["y_pred"] == 0][0])
    body = open_page(browser, server + PATH, "Global feature importance", f"Applicant {denied}", "credit history")
    assert "Applicants" in body and "What if? Edit this applicant" in body and "Adverse-action reasons" in body
    assert browser.find_elements(By.CSS_SELECTOR, "#explain-finance-importance .main-svg")
    assert browser.find_elements(By.CSS_SELECTOR, "#explain-finance-attributions .main-svg")
    assert f"{len(explained)} of {len(explained)} explained applicants" in body
    assert _query(browser).get("applicant") == str(denied)          # the default selection is in the URL
    assert console_errors(browser) == []
    screenshot(browser, "explain_finance_top")
    browser.execute_script("document.getElementById('explain-finance-detail').scrollIntoView({block: 'start'})")
    screenshot(browser, "explain_finance_applicant")


def test_url_restores_filters_and_applicant(server, browser, latest):
    run, explained = latest
    approved = int(explained.index[explained["y_pred"] == 1][-1])
    open_page(browser, f"{server}{PATH}?applicant={approved}&decision=approved&method=saliency",
              f"Applicant {approved}", "no adverse-action notice")
    checked = browser.find_element(By.CSS_SELECTOR, "#explain-finance-decision input:checked")
    assert checked.get_attribute("value") == "approved"
    decisions = {c.text for c in browser.find_elements(By.CSS_SELECTOR,
                                                       "#explain-finance-table td[data-dash-column=decision]")}
    assert decisions == {"approved"}
    assert "Saliency" in browser.find_element(By.ID, "explain-finance-method").text
    selected = browser.find_elements(By.CSS_SELECTOR, "#explain-finance-table input[type=radio]:checked")
    assert len(selected) == 1
    assert console_errors(browser) == []


def test_bad_applicant_in_url_gives_a_message(server, browser):
    body = open_page(browser, f"{server}{PATH}?applicant=not-a-number", "is not an applicant id")
    assert "Global feature importance" in body and console_errors(browser) == []


def test_clicking_a_row_selects_it_and_updates_the_url(server, browser, latest):
    run, explained = latest
    open_page(browser, server + PATH, "Global feature importance", "Adverse-action reasons")
    radios = browser.find_elements(By.CSS_SELECTOR, "#explain-finance-table input[type=radio]")
    row_ids = [r.find_element(By.CSS_SELECTOR, "td[data-dash-column=id]").text
               for r in browser.find_elements(By.CSS_SELECTOR, "#explain-finance-table tbody tr")[1:]]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", radios[2])
    radios[2].click()
    WebDriverWait(browser, 20).until(lambda d: _query(d).get("applicant") == row_ids[2])
    idle(browser)
    assert f"Applicant {row_ids[2]}" in browser.find_element(By.ID, "explain-finance-detail").text
    assert console_errors(browser) == []


def test_what_if_recomputes_and_validates(server, browser, latest):
    run, explained = latest
    denied = int(explained.index[explained["y_pred"] == 0][0])
    open_page(browser, f"{server}{PATH}?applicant={denied}", f"Applicant {denied}", "All other inputs")
    _edit(browser, "obrat", "10")
    button = browser.find_element(By.ID, "explain-finance-recompute")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()
    _wait(browser).until(lambda d: "Decision:" in _whatif_text(d))
    idle(browser)
    text = _whatif_text(browser)
    assert "P(approved):" in text and "other obligations / income (%)" in text and "→ 10" in text
    assert browser.find_element(By.ID, "explain-finance-whatif-chart-wrap").is_displayed()
    browser.execute_script("document.getElementById('explain-finance-whatif').scrollIntoView({block: 'start'})")
    screenshot(browser, "explain_finance_whatif")

    _edit(browser, "loanamt", "5000")
    button.click()
    _wait(browser).until(lambda d: "Fix these inputs" in _whatif_text(d))
    idle(browser)
    assert "loan amount ($1000s) (loanamt): 5000 is outside the training range; enter a number from 2 to 980." \
        in _whatif_text(browser)
    container = _field(browser, "loanamt").find_element(By.XPATH, "..")   # dcc.Input styles its container
    assert "xf-bad" in container.get_attribute("class")
    assert not browser.find_element(By.ID, "explain-finance-whatif-chart-wrap").is_displayed()
    browser.execute_script("document.getElementById('explain-finance-editor').scrollIntoView({block: 'start'})")
    screenshot(browser, "explain_finance_whatif_error")

    browser.find_element(By.ID, "explain-finance-reset").click()
    _wait(browser).until(lambda d: _field(d, "loanamt").get_attribute("value") != "5000")
    idle(browser)
    assert _whatif_text(browser) == "" and console_errors(browser) == []
