"""PiClient against a real simulator process: jobs, long-polls, retries, timeouts."""

from __future__ import annotations

import time

import pytest

from connector.pi import (
    PiClient,
    PiConflict,
    PiInputError,
    PiJobFailed,
    PiNotFound,
    PiRateLimited,
    PiTimeout,
)

API_KEY = "pi_test_client_integration"
JOBS = "GET /api/v1/jobs/:id"


@pytest.fixture
def client(pisim):
    with PiClient(API_KEY, base_url=pisim.base_url, timeout=5.0, backoff_base=0.05) as c:
        yield c


def _deadline(seconds: float) -> float:
    return time.monotonic() + seconds


def test_quick_brand_job_resolves_brand_id_and_expanded_brand(client, pisim):
    job_id = client.extract_brand(url="https://www.acme.com/")
    job = client.wait_for_job(job_id, deadline=_deadline(15), poll_timeout=10)
    assert job.succeeded and job.is_terminal and not job.failed
    assert job.type == "brand_extraction"
    assert job.brand_id == job.payload["brand_id"]
    assert job.brand["domain"] == "acme.com"
    assert client.get_brand(job.brand_id)["name"] == "Acme"
    page = client.list_brands(query="acm")
    assert [b["id"] for b in page.brands] == [job.brand_id]
    assert page.total_count == 1 and page.has_more is False


def test_long_job_spans_several_long_polls(client, pisim):
    pisim.configure(job_seconds=3)
    job_id = client.extract_brand(url="https://three.example")
    job = client.wait_for_job(job_id, deadline=_deadline(20), poll_timeout=1)
    assert job.succeeded
    # Three one-second windows (plus one for the edge) cover a three-second job.
    assert 3 <= pisim.count(JOBS) <= 5


def test_one_long_poll_suffices_when_the_window_covers_the_job(client, pisim):
    job_id = client.extract_brand(url="https://acme.com")
    assert client.wait_for_job(job_id, deadline=_deadline(20), poll_timeout=20).succeeded
    assert pisim.count(JOBS) == 1


def test_failed_job_carries_a_sanitized_error_log(client, pisim):
    job_id = client.extract_brand(url="https://fail.example.com")
    job = client.wait_for_job(job_id, deadline=_deadline(15))
    assert job.failed and job.is_terminal and not job.succeeded
    assert job.error_log and "    at " not in job.error_log
    assert "/var/task" not in job.error_log
    assert "Brand extraction failed" in job.error_log
    with pytest.raises(PiJobFailed) as caught:
        job.raise_if_failed()
    assert caught.value.job_id == job_id


def test_429_burst_is_retried_after_retry_after(client, pisim):
    job_id = client.extract_brand(url="https://acme.com")
    pisim.configure(retry_after=1, fail_next={"status": 429, "route": JOBS, "count": 2})
    started = time.monotonic()
    job = client.get_job(job_id)
    assert job.job_id == job_id
    assert time.monotonic() - started >= 2.0
    assert pisim.count(JOBS) == 3


def test_429_without_retries_left_is_pi_rate_limited(pisim):
    pisim.configure(rate_limit_every=1, retry_after=7)
    client = PiClient(API_KEY, base_url=pisim.base_url, max_retries=0)
    with client, pytest.raises(PiRateLimited) as caught:
        client.list_brands()
    assert caught.value.retry_after == 7
    assert caught.value.request_id.startswith("req_pi_")


def test_5xx_and_connection_resets_on_get_are_retried(client, pisim):
    job_id = client.extract_brand(url="https://acme.com")
    pisim.configure(fail_next={"status": 502, "route": JOBS}, reset_next={"route": JOBS})
    assert client.get_job(job_id).job_id == job_id
    assert pisim.count(JOBS) == 3


def test_hanging_response_is_cut_by_the_client_timeout(pisim):
    pisim.configure(hang_next={"count": 1, "seconds": 20})
    with PiClient(API_KEY, base_url=pisim.base_url, timeout=1.0, max_retries=0) as client:
        started = time.monotonic()
        with pytest.raises(PiTimeout):
            client.list_brands()
    assert time.monotonic() - started < 2.5


def test_wait_for_job_honours_its_deadline_on_a_hanging_job(client, pisim):
    pisim.configure(hang_seconds=60)
    job_id = client.generate_image(prompt="a shoe [hang]")
    started = time.monotonic()
    with pytest.raises(PiTimeout):
        client.wait_for_job(job_id, deadline=_deadline(3), poll_timeout=20)
    assert 2.5 <= time.monotonic() - started < 4.0


def test_wait_for_job_returns_the_last_state_at_the_deadline(client, pisim):
    pisim.configure(job_seconds=60)
    job_id = client.extract_brand(url="https://acme.com")
    started = time.monotonic()
    job = client.wait_for_job(job_id, deadline=_deadline(4), poll_timeout=20)
    assert not job.is_terminal and job.status in ("queued", "processing")
    assert time.monotonic() - started < 4.5


def test_image_job_resolves_image_url(client, pisim):
    job_id = client.generate_image(prompt="a red shoe", aspect_ratio="1:1", resolution="1K")
    job = client.wait_for_job(job_id, deadline=_deadline(15))
    assert job.succeeded and job.type == "ad_generation"
    assert job.image_url == job.payload["image_url"]
    assert job.image_url.startswith("https://")


def test_campaign_job_resolves_image_url(client, pisim):
    job_id = client.render_campaign(prompt="summer sale", client_reference_id="c-1")
    job = client.wait_for_job(job_id, deadline=_deadline(15))
    assert job.succeeded and job.type == "campaign_ad_generation"
    assert job.image_url and job.image_url == job.result_url


def test_idempotency_key_replays_and_conflicts(client, pisim):
    first = client.generate_image(prompt="shoe", idempotency_key="order-1")
    assert client.generate_image(prompt="shoe", idempotency_key="order-1") == first
    with pytest.raises(PiConflict):
        client.generate_image(prompt="boot", idempotency_key="order-1")
    assert pisim.stats()["jobs_created"] == 1


def test_another_accounts_job_is_not_found(client, pisim):
    job_id = client.extract_brand(url="https://acme.com")
    other = PiClient("pi_test_someone_else", base_url=pisim.base_url)
    with other, pytest.raises(PiNotFound):
        other.get_job(job_id)


def test_invalid_input_sends_nothing(client, pisim):
    with pytest.raises(PiInputError):
        client.generate_image(prompt="shoe", reference_images=["https://a.example/i.png"] * 7)
    assert pisim.stats()["requests"] == {}
