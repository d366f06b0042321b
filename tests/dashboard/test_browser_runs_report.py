"""Runs and Report pages in headless Chromium: compare two runs by URL, change a run with the selector,
download the JSON report."""
import json
import urllib.request

import pytest
from selenium.webdriver.common.by import By

from tests.dashboard.browser_util import console_errors, idle, open_page, screenshot

pytestmark = pytest.mark.browser


def test_runs_page_by_url(server, browser, store):
    ids_ = store.list_runs(model="mortgage")["run_id"].tolist()
    body = open_page(browser, f"{server}/model/mortgage/runs?a={ids_[0]}&b={ids_[1]}", "Changed settings")
    assert "seed" in body and "Checks (changed verdicts first)" in body
    # the URL's selection is restored (a = newest here, the reverse of the default)
    assert ids_[0].rsplit("-", 1)[-1] in browser.find_element(By.ID, "runs-a").text  # the label shows the id's suffix
    screenshot(browser, "runs")
    assert console_errors(browser) == []


def test_run_selector_navigates(server, browser, store):
    ids_ = store.list_runs(model="mortgage")["run_id"].tolist()
    open_page(browser, f"{server}/model/mortgage/report", "Provenance")
    browser.find_element(By.CSS_SELECTOR, "#run-select").click()
    option = next(o for o in browser.find_elements(By.CSS_SELECTOR, "#run-select [role=option], "
                                                                    "#run-select .Select-option, [role=option]")
                  if ids_[1].rsplit("-", 1)[-1] in o.text)
    option.click()
    idle(browser)
    for _ in range(50):
        if f"run={ids_[1]}" in browser.current_url:
            break
        idle(browser)
    assert f"run={ids_[1]}" in browser.current_url
    assert ids_[1] in browser.find_element(By.ID, "report-links").find_element(By.TAG_NAME, "a").get_attribute("href")
    screenshot(browser, "report")
    assert console_errors(browser) == []


def test_report_download(server, browser, store):
    run_id = store.list_runs(model="mortgage")["run_id"].iloc[0]
    open_page(browser, f"{server}/model/mortgage/report?run={run_id}", "Provenance")
    href = browser.find_element(By.LINK_TEXT, "JSON report").get_attribute("href")
    with urllib.request.urlopen(href, timeout=60) as r:
        assert json.loads(r.read())["run_id"] == run_id


def test_pdf_link_says_the_pdf_is_being_built(server, browser, store):
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    from deepaudit.dashboard import ids
    from deepaudit.dashboard.pages.report import PDF_BUILDING

    run_id = store.list_runs(model="mortgage")["run_id"].iloc[0]
    open_page(browser, f"{server}/model/mortgage/report?run={run_id}", "Provenance")
    status = browser.find_element(By.ID, ids.REPORT_PDF_STATUS)
    assert not status.is_displayed()
    browser.find_element(By.ID, ids.REPORT_PDF_LINK).click()  # an attachment: the page stays
    WebDriverWait(browser, 10).until(EC.visibility_of_element_located((By.ID, ids.REPORT_PDF_STATUS)))
    assert browser.find_element(By.ID, ids.REPORT_PDF_STATUS).text == PDF_BUILDING
    assert "/model/mortgage/report" in browser.current_url
