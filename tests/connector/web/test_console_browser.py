"""The operator console in headless Chromium against live web and worker processes."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest
import requests

from tests.support.receiver import Receiver

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
DOCS = Path(__file__).resolve().parents[3] / "docs"
TOKEN = "console-browser-token-0123456789"
KEY = "pi_test_console_browser_key"

if os.environ.get("CI") == "true" and shutil.which(CHROMIUM) is None:
    pytest.fail("CI must run the console browser tests: install Debian's chromium")  # no skip
sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason="Debian's chromium is not installed"
)


@pytest.fixture
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--headless", "--disable-gpu", "--no-first-run"],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def console_stack(live_stack_factory):
    return live_stack_factory(
        CONNECTOR_CONSOLE_TOKEN=TOKEN,
        CONNECTOR_DELIVERY_MAX_ATTEMPTS="1",
        CONNECTOR_PUBLIC_URL="http://127.0.0.1",
    )


def _failed_job(stack, receiver: Receiver, domain: str) -> str:
    body = {
        "kind": "brand_extraction",
        "input": {"url": f"https://{domain}"},
        "callback_url": receiver.url + "/cb?secret=callback-query-secret",
    }
    headers = {"Authorization": f"Bearer {KEY}"}
    job_id = stack.post("/v1/jobs", json=body, headers=headers).json()["job_id"]
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        listed = stack.get(f"/v1/jobs/{job_id}/deliveries", headers=headers).json()
        if listed["deliveries"] and listed["deliveries"][0]["state"] == "failed":
            return job_id
        time.sleep(0.3)
    raise AssertionError("the delivery did not fail in time:\n" + stack.logs()[-3000:])


def _sign_in(page, base_url: str, token: str = TOKEN) -> None:
    page.goto(base_url + "/console/")
    page.fill("#token", token)
    page.click("button[type=submit]")


def test_find_by_domain_open_the_timeline_and_redeliver(console_stack, browser):
    with Receiver() as receiver:
        receiver.answers = [(500, {})] * 10
        job_id = _failed_job(console_stack, receiver, "browser-shop.example")
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        _sign_in(page, console_stack.base_url)
        assert page.locator("text=Jobs in flight").count() == 1
        page.fill("input[name=q]", "browser-shop.example")
        page.click("form[role=search] button")
        page.wait_for_url(re.compile(f".*/console/jobs/.*/{job_id}$"))
        assert page.locator("ol.timeline li.attempt").count() == 1
        assert "submitted from api" in page.content()

        page.click("form[action$='/redeliver'] button")
        page.wait_for_selector("p.note")
        deadline = time.monotonic() + 30
        while page.locator("table.attempts tr").count() < 3 and time.monotonic() < deadline:
            time.sleep(0.5)
            page.reload()
        assert page.locator("table.attempts tr").count() == 3  # header + two attempts
        assert page.locator("ol.timeline li.attempt").count() == 2
        assert len(receiver.requests) == 2
        html = page.content()
        for secret in (KEY, TOKEN, "callback-query-secret"):
            assert secret not in html

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "console-job-1280.png"), full_page=True)
        if os.environ.get("PIC_UPDATE_DOCS") == "1":  # README's picture, refreshed on demand
            page.screenshot(path=str(DOCS / "console.png"))
        narrow = browser.new_page(viewport={"width": 375, "height": 800})
        narrow.context.add_cookies(page.context.cookies())
        narrow.goto(page.url)
        # Nothing but the tables' own scroll areas may be wider than the phone.
        width = narrow.evaluate("document.documentElement.scrollWidth")
        assert width <= 375
        narrow.screenshot(path=str(ARTIFACTS / "console-job-375.png"), full_page=True)


def test_wrong_token_missing_csrf_and_rate_limit_are_refused(console_stack, browser):
    page = browser.new_page()
    _sign_in(page, console_stack.base_url, "not-the-token")
    assert "That token is not right." in page.content()
    no_csrf = requests.post(
        console_stack.base_url + "/console/login", data={"token": TOKEN}, timeout=10
    )
    assert no_csrf.status_code == 400
    for _ in range(4):
        _sign_in(page, console_stack.base_url, "still-wrong")
    _sign_in(page, console_stack.base_url)  # the right token, after five failures
    assert "too many failed sign-ins" in page.content()
