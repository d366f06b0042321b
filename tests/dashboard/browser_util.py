"""Helpers for the browser tests: wait for text, collect console errors, save screenshots."""
import os
import time
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

SHOTS = Path(os.environ.get("DEEPAUDIT_SCREENSHOTS", "/tmp/deepaudit-screenshots"))


def open_page(driver, url: str, *texts: str, timeout: float = 30) -> str:
    """Load ``url``, wait until every one of ``texts`` is on the page and Dash is idle; the body text."""
    driver.get_log("browser")  # drop earlier entries
    driver.get(url)
    wait = WebDriverWait(driver, timeout)
    for t in texts:
        wait.until(EC.text_to_be_present_in_element((By.TAG_NAME, "body"), t))
    idle(driver, timeout)
    return driver.find_element(By.TAG_NAME, "body").text


def idle(driver, timeout: float = 30) -> None:
    """Wait until no Dash callback is pending (the renderer marks the page with data-dash-is-loading)."""
    WebDriverWait(driver, timeout).until(
        lambda d: not d.find_elements(By.CSS_SELECTOR, "[data-dash-is-loading='true']"))
    time.sleep(0.3)


def console_errors(driver, *, expected_status: int | None = None) -> list[dict]:
    """SEVERE console entries; with ``expected_status``, the page's own 'Failed to load resource: ... (N)'
    line is expected (an unknown page answers HTTP 404 and Chromium logs that)."""
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"
            and not (expected_status and "Failed to load resource" in e["message"]
                     and f"status of {expected_status}" in e["message"])]


def screenshot(driver, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
