"""The Dagster UI in a real browser (Debian's chromium driven by selenium): after the demo
pipeline ran, the lineage shows every stage from raw to release, and the release asset's page
shows its gate results and links to its HTML report and manifest. Screenshots go to
test-artifacts/ (`make browser` installs chromium and chromium-driver)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from anon_platform_tests.conftest import REPO
from anon_platform_tests.dagster_processes import (
    DEMO_CUSTOMERS,
    launch_job,
    location_loaded,
    releasable_demo,
    running_instance,
    runs,
    wait_for,
)

pytestmark = pytest.mark.e2e

ARTIFACTS = REPO / "test-artifacts"
STAGES = ("raw", "staging", "prepared", "models", "synthetic", "reports", "release")
ASSETS = ("customers", "stg_customers", "train", "holdout", "gaussian_copula")
DEADLINE_S = 900
CHROME_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1600,1000",
)


def browser_binaries() -> tuple[str, str] | None:
    """Paths of chromium and its driver, or None where either is missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    """Headless chromium with a fresh profile; skips without one, except under CI."""
    found = browser_binaries()
    if found is None:
        reason = "no chromium/chromedriver on PATH: run `make browser` (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="anon-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(options=options, service=Service(found[1]))
        try:
            yield driver
        finally:
            driver.quit()


def page_shows(driver: webdriver.Chrome, texts: tuple[str, ...], seconds: float = 60) -> str:
    """Wait until the page's visible text holds every one of `texts`; return that text."""

    def shown(d: webdriver.Chrome) -> str | bool:
        body = d.find_element(By.TAG_NAME, "body").text
        (ARTIFACTS / "last-page.txt").write_text(f"{d.current_url}\n{body}")
        return body if all(t in body for t in texts) else False

    try:
        return WebDriverWait(driver, seconds, poll_frequency=1).until(shown)
    except Exception as err:
        body = driver.find_element(By.TAG_NAME, "body").text
        missing = [t for t in texts if t not in body]
        (ARTIFACTS / "failed-page.txt").write_text(f"{driver.current_url}\n{body}")
        driver.save_screenshot(ARTIFACTS / "failed-page.png")
        raise AssertionError(f"{driver.current_url} does not show {missing}") from err


def click_text(driver: webdriver.Chrome, text: str) -> None:
    """Click the last element whose own text is `text` (the innermost match)."""
    found = driver.find_elements(By.XPATH, f"//*[normalize-space(text())='{text}']")
    assert found, f"{driver.current_url} has nothing to click named {text!r}"
    found[-1].click()
    time.sleep(2)


def dismiss_welcome(driver: webdriver.Chrome) -> None:
    """Close the first-visit newsletter dialog where it shows."""
    time.sleep(3)
    for button in driver.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):
        button.click()


def finished(port: int, run_id: str) -> str | None:
    status = {r["runId"]: r["status"] for r in runs(port)}.get(run_id)
    return status if status in ("SUCCESS", "FAILURE", "CANCELED") else None


def releasable_bag_of_transactions(plan: dict) -> None:
    """releasable_demo with the transactions not declared a sequence: this test pictures the UI
    of a gaussian_copula release, and gaussian_copula writes a customer's transactions as a bag,
    which the sequence rules rightly refuse (they are tested in unit/test_sequence_gate.py)."""
    releasable_demo(plan)
    for table in plan["datasets"][0]["tables"]:
        table.pop("sequence", None)


def test_the_ui_shows_the_lineage_from_raw_to_release_and_the_release_gates(
    make_project, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    project = make_project(customers=DEMO_CUSTOMERS, releases=releasable_bag_of_transactions)
    ARTIFACTS.mkdir(exist_ok=True)
    with running_instance(project, tmp_path) as (port, _):
        deadline = time.time() + DEADLINE_S
        wait_for("the code location", lambda: location_loaded(port), deadline)
        run_id = launch_job(port, "bank_pipeline")
        assert wait_for("the pipeline run", lambda: finished(port, run_id), deadline) == "SUCCESS"
        ui = f"http://127.0.0.1:{port}"

        browser.get(f"{ui}/asset-groups")
        dismiss_welcome(browser)
        page_shows(browser, STAGES)
        browser.find_element(By.TAG_NAME, "body").click()
        ActionChains(browser).key_down(Keys.ALT).send_keys("e").key_up(Keys.ALT).perform()
        page_shows(browser, STAGES + ASSETS)
        time.sleep(8)  # let every node fetch its latest status before the picture
        browser.save_screenshot(ARTIFACTS / "lineage.png")

        browser.get(f"{ui}/assets/bank/release/gaussian_copula")
        page_shows(browser, ("html_report", "manifest_path", "report.html", "manifest.json"))
        browser.save_screenshot(ARTIFACTS / "release.png")
        click_text(browser, "[Show JSON]")  # the manifest: every gate and expectation passed
        page_shows(browser, ('"gates"', '"synthetic tables"', '"dcr_share"', '"passed": true'))
        browser.save_screenshot(ARTIFACTS / "release-manifest.png")

        browser.get(f"{ui}/assets/bank/reports/quality_gaussian_copula?view=checks")
        page_shows(browser, ("scorecard_gate",))
        click_text(browser, "scorecard_gate")
        expectations = ("quality >= quality_min", "dcr_share <= dcr_share_max", "k_anonymity")
        page_shows(browser, ("Passed", "expectations_failed 0", *expectations))
        browser.save_screenshot(ARTIFACTS / "report-checks.png")
