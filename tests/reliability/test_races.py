"""Concurrent duplicates against a live stack: one Pi job per group, one webhook effect."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from connector import create_app
from shopify_app.shops import get_shops
from tests.shopify_app.helpers import API_KEY, PI_KEY, SECRET, SHOP, webhook_body, webhook_headers

KEY = "pi_test_race_account_key"
CREATE_ROUTE = "POST /api/v1/brands/extract"
COPIES = 50


def _creates_per_url(pisim) -> Counter:
    return Counter(job["input"].get("url") for job in pisim.jobs())


def _fire(url: str, bodies: list[tuple[dict, dict]]) -> list[requests.Response]:
    """POST every (body, headers) at once: all threads leave the barrier together."""
    barrier = threading.Barrier(len(bodies))

    def post(item: tuple[dict, dict]) -> requests.Response:
        body, headers = item
        barrier.wait(timeout=30)
        return requests.post(url, json=body, headers=headers, timeout=60)

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(post, bodies))


@pytest.mark.parametrize(
    ("path", "make_body", "ok"),
    [
        ("/v1/jobs", lambda url: {"kind": "brand_extraction", "input": {"url": url}}, {200, 202}),
        ("/zapier/v1/actions/extract_brand", lambda url: {"url": url}, {200}),
    ],
    ids=["v1", "zapier"],
)
def test_fifty_concurrent_identical_submissions_make_one_pi_job_per_group(
    live_stack, pisim, path, make_body, ok
):
    # The first create is held on Pi for a second so the other 49 arrive mid-submission.
    pisim.configure(hang_next={"route": CREATE_ROUTE, "seconds": 1, "count": 2})
    auth = {"Authorization": f"Bearer {KEY}"}
    derived_url = f"https://race-derived-{uuid.uuid4().hex[:8]}.example"
    keyed_url = f"https://race-keyed-{uuid.uuid4().hex[:8]}.example"
    keyed = {**auth, "Idempotency-Key": f"race-{uuid.uuid4().hex}"}
    batch = [(make_body(derived_url), auth)] * COPIES + [(make_body(keyed_url), keyed)] * COPIES

    answers = _fire(live_stack.base_url + path, batch)

    statuses = Counter(a.status_code for a in answers)
    assert set(statuses) <= ok, [a.text for a in answers if a.status_code not in ok][:3]
    derived_ids = {a.json()["job_id"] for a in answers[:COPIES]}
    keyed_ids = {a.json()["job_id"] for a in answers[COPIES:]}
    assert len(derived_ids) == 1 and len(keyed_ids) == 1
    assert derived_ids != keyed_ids
    assert _creates_per_url(pisim) == {derived_url: 1, keyed_url: 1}
    assert pisim.count(CREATE_ROUTE) == 2
    if path == "/v1/jobs":
        assert statuses[202] == 2  # exactly one answer per group says "created"


def test_a_webhook_redelivered_ten_times_at_once_is_processed_once(live_stack_factory, redis_url):
    shopify = {"SHOPIFY_API_KEY": API_KEY, "SHOPIFY_API_SECRET": SECRET, "PI_API_KEY": PI_KEY}
    stack = live_stack_factory(**shopify)
    body = webhook_body("customers/data_request")
    webhook_id = f"race-{uuid.uuid4().hex}"
    headers = webhook_headers(body, "customers/data_request", webhook_id=webhook_id)
    barrier = threading.Barrier(10)

    def deliver(_: int) -> requests.Response:
        barrier.wait(timeout=30)
        return requests.post(
            stack.base_url + "/shopify/webhooks", data=body, headers=headers, timeout=10
        )

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(deliver, range(10)))

    assert [a.status_code for a in answers] == [200] * 10
    assert Counter(a.json()["status"] for a in answers) == {"accepted": 1, "duplicate": 9}
    app = create_app({**stack.env, "TESTING": True})
    with app.app_context():
        records = get_shops().compliance(SHOP)
    assert [r["webhook_id"] for r in records] == [webhook_id]
