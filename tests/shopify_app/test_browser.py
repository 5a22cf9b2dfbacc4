"""The embedded admin page in headless Chromium: install, failure, re-extract, domain change."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
import requests

from tests.shopify_app.helpers import (
    SHOP,
    dump_redis,
    session_token,
    webhook_body,
    webhook_headers,
)

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
APP_BRIDGE_STUB = (
    "window.shopify = { idToken: function () { return window.piMintSessionToken(); } };"
)
EXTRACT = "POST /api/v1/brands/extract"

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None,
    reason="Debian's chromium is not installed (.ci/run installs it)",
)


def _rgb(hex_colour: str) -> str:
    value = hex_colour.lstrip("#")
    r, g, b = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgb({r}, {g}, {b})"


@pytest.fixture
def browser_page():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--headless",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 900, "height": 700})
            yield page
        finally:
            browser.close()


def test_admin_page_installs_shows_failure_and_re_extracts_with_a_new_job(
    shop_stack, fake_shopify, pisim, browser_page
):
    fake_shopify.add_shop(SHOP, primary_url="https://www.secs2-store.example")
    page = browser_page
    stub_hits: list[str] = []

    def route(route_obj) -> None:
        url = urlsplit(route_obj.request.url)
        if url.hostname == "cdn.shopify.com":
            stub_hits.append(url.path)
            route_obj.fulfill(status=200, content_type="text/javascript", body=APP_BRIDGE_STUB)
        elif url.hostname == "127.0.0.1":
            route_obj.continue_()
        else:
            route_obj.abort()  # nothing leaves the machine

    page.route("**/*", route)
    minted: list[str] = []

    def mint() -> str:
        minted.append(session_token(SHOP))
        return minted[-1]

    page.expose_function("piMintSessionToken", mint)
    page.goto(f"{shop_stack.base_url}/shopify/app?shop={SHOP}&host=YWRtaW4&embedded=1")
    assert stub_hits == ["/shopifycloud/app-bridge.js"]

    # First visit of a shop without a token: the page exchanges its session token and the
    # extraction starts; the spinner runs meanwhile.
    page.wait_for_selector("#spinner", state="visible", timeout=15_000)
    assert page.is_disabled("#refresh")
    jobs = _wait(lambda: pisim.jobs())
    pisim.fail(jobs[0]["id"])  # the first Pi job fails
    page.wait_for_selector("#error", state="visible", timeout=15_000)
    assert page.text_content("#status-text") == "Extraction failed."
    assert page.text_content("#error-text")
    assert page.is_hidden("#spinner") and page.is_enabled("#refresh")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "shopify_admin_failed.png"), full_page=True)

    page.click("#refresh")
    page.wait_for_selector("#spinner", state="visible", timeout=5_000)
    page.wait_for_function(
        "document.getElementById('status-text').textContent === 'Brand extracted.'", timeout=20_000
    )
    assert pisim.count(EXTRACT) == 2  # the re-extraction is a NEW Pi job
    first, second = pisim.jobs()[1], pisim.jobs()[0]
    assert first["id"] != second["id"] and first["status"] == "failed"

    assert page.is_hidden("#spinner") and page.is_hidden("#error")
    assert page.text_content("#brand-name") == "Secs2 Store"
    assert page.text_content("#brand-domain") == "secs2-store.example"
    primary = page.text_content("#hex-primary")
    secondary = page.text_content("#hex-secondary")
    swatch = "el => getComputedStyle(el).backgroundColor"
    assert page.eval_on_selector("#swatch-primary", swatch) == _rgb(primary)
    assert page.eval_on_selector("#swatch-secondary", swatch) == _rgb(secondary)
    assert page.text_content("#badge") == "Extracted"
    assert page.text_content("#brand-id") == second["brand_id"]
    assert page.text_content("#brand-source") == (
        "Extracted from your store at www.secs2-store.example"
    )
    page.screenshot(path=str(ARTIFACTS / "shopify_admin.png"), full_page=True)

    # The merchant makes another domain primary: Shopify's shop/update starts a re-extraction,
    # and the page says so while the last brand stays on show.
    fake_shopify.set_primary_domain(SHOP, "https://www.secs3-outfitters.example")
    body = webhook_body("shop/update", domain="www.secs3-outfitters.example")
    answer = requests.post(
        shop_stack.base_url + "/shopify/webhooks",
        data=body,
        headers=webhook_headers(body, "shop/update"),
        timeout=10,
    )
    assert answer.json() == {"status": "accepted", "refresh": "started"}
    page.reload()
    page.wait_for_function(
        "document.getElementById('status-text').textContent.startsWith("
        "'Re-extracting after domain change')",
        timeout=10_000,
    )
    assert page.text_content("#status-text") == (
        "Re-extracting after domain change"
        " (www.secs2-store.example \u2192 www.secs3-outfitters.example)\u2026"
    )
    assert page.is_visible("#spinner") and page.is_disabled("#refresh")
    assert page.text_content("#badge") == "Re-extracting"
    assert page.text_content("#brand-name") == "Secs2 Store"
    page.screenshot(path=str(ARTIFACTS / "shopify_admin_domain_change.png"), full_page=True)
    page.wait_for_function(
        "document.getElementById('status-text').textContent === 'Brand extracted.'", timeout=20_000
    )
    assert page.text_content("#brand-name") == "Secs3 Outfitters"
    assert page.text_content("#brand-source") == (
        "Extracted from your store at www.secs3-outfitters.example"
    )

    # Session tokens (and the offline tokens they were exchanged for) stay out of Redis and logs.
    dump = dump_redis(redis.Redis.from_url(shop_stack.redis_url))
    logs = shop_stack.logs()
    assert minted and fake_shopify.issued
    for secret in minted + fake_shopify.issued:
        assert secret.encode() not in dump
        assert secret not in logs


def _wait(fetch, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fetch()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("nothing appeared in time")
