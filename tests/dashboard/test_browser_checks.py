"""Verdict to evidence in headless Chromium (issue 17 item 1): from the home badge to the Checks page, then by
clicks to the evidence of a failing fairness check and of a failing counterfactual check; every evidence link
of every run lands on a page that holds its anchor."""
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from deepaudit.audit.schema import Check
from deepaudit.dashboard import evidence
from tests.dashboard.browser_util import console_errors, idle, open_page, screenshot

pytestmark = pytest.mark.browser


def _click_through(browser, link):
    link.click()
    idle(browser)


def _anchor_in_view(browser, anchor: str) -> bool:
    WebDriverWait(browser, 15).until(EC.presence_of_element_located((By.ID, anchor)))
    WebDriverWait(browser, 15).until(lambda d: d.execute_script(
        "var r = document.getElementById(arguments[0]).getBoundingClientRect();"
        "return r.top < window.innerHeight && r.bottom > 0;", anchor))
    return True


def test_home_badge_to_checks_to_fairness_evidence(server, browser, store):
    open_page(browser, f"{server}/", "Audited models")
    card = next(c for c in browser.find_elements(By.CSS_SELECTOR, ".model-card") if "mortgage" in c.text)
    _click_through(browser, card.find_element(By.CSS_SELECTOR, "a.badge-link"))
    assert "/model/mortgage/checks" in browser.current_url
    table = browser.find_element(By.ID, "checks-table")
    rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert rows and "FAIL" in rows[0].text  # failed first
    screenshot(browser, "checks-mortgage")
    row = browser.find_element(By.ID, evidence.check_anchor("fairness.impact_ratio.race"))
    assert "FAIL" in row.text and "Impact ratio for race" in row.text
    _click_through(browser, row.find_element(By.CSS_SELECTOR, "a.evidence-link"))
    assert "/model/mortgage/fairness" in browser.current_url and "attribute=race" in browser.current_url
    WebDriverWait(browser, 20).until(EC.text_to_be_present_in_element((By.ID, "fairness-reference"), "white"))
    assert _anchor_in_view(browser, evidence.FAIRNESS_TABLE)
    # the section lists the checks it is evidence for, the failing one among them
    box = browser.find_element(By.ID, evidence.FAIRNESS_TABLE).find_element(By.CSS_SELECTOR, ".checks-box")
    assert "Impact ratio for race" in box.text and "FAIL" in box.text
    assert console_errors(browser) == []


def test_checks_to_counterfactual_evidence(server, browser, store):
    open_page(browser, f"{server}/model/sentiment/checks?checks=failed", "checks failed")
    rows = browser.find_elements(By.CSS_SELECTOR, "#checks-table tbody tr")
    assert rows and all("FAIL" in r.text for r in rows)  # the filter shows failed checks only
    cf = next(r for r in rows if "counterfactual" in r.text)
    cid = cf.find_element(By.TAG_NAME, "code").text
    subject = next(c for c in store.load(store.list_runs(model="sentiment")["run_id"].iloc[0]).checks
                   if c.id == cid).subject
    _click_through(browser, cf.find_element(By.CSS_SELECTOR, "a.evidence-link"))
    assert "/model/sentiment/explanations" in browser.current_url and f"probe={subject}" in browser.current_url
    assert _anchor_in_view(browser, evidence.COUNTERFACTUAL)
    section = browser.find_element(By.ID, evidence.COUNTERFACTUAL)
    assert "Checks this section is evidence for" in section.text and "FAIL" in section.text
    screenshot(browser, "checks-counterfactual-evidence")
    assert console_errors(browser) == []


def test_every_evidence_link_has_its_anchor(server, browser, store):
    """Each check of each run: its evidence page holds the anchor the link names."""
    seen = set()
    for run_id, model in store.list_runs()[["run_id", "model"]].itertuples(index=False):
        run = store.load(run_id)
        for c in run.checks:
            ev = evidence.evidence_for(c)
            key = (model, ev.page, tuple(sorted(ev.query.items())), ev.anchor)
            if key in seen:
                continue
            seen.add(key)
            query = "&".join(f"{k}={v}" for k, v in ev.query.items())
            browser.get(f"{server}/model/{model}/{ev.page}?run={run_id}" + (f"&{query}" if query else ""))
            WebDriverWait(browser, 30).until(EC.presence_of_element_located((By.ID, ev.anchor)), message=str(key))
    assert len(seen) >= 8


def test_unknown_family_links_to_its_own_row():
    c = Check("my_team.custom_metric", "a plug-in check", 1.0, 0.5, "<=")
    ev = evidence.evidence_for(c)
    assert ev.page == "checks" and ev.anchor == evidence.check_anchor(c.id)
