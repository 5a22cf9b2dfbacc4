"""Tests for PiClient's retry decisions and deadlines over a fake transport."""

from __future__ import annotations

import pytest
import requests
from responses import matchers

from connector.pi import (
    PiClient,
    PiConflict,
    PiError,
    PiRateLimited,
    PiServerError,
    PiTimeout,
)
from tests.connector.pi.fakes import (
    API_KEY,
    BASE,
    CAMPAIGNS_URL,
    EXTRACT_URL,
    IMAGES_URL,
    JOB_ID,
    JOB_URL,
    created,
    error_body,
    job_body,
    refused,
    timeout_of,
)

# -- retries ------------------------------------------------------------------------------


def test_retries_get_on_429_with_retry_after(client, rsps, fake_time):
    rsps.get(
        JOB_URL,
        status=429,
        json=error_body("unkey_rate_limited", "rate_limit_error"),
        headers={"Retry-After": "2", "X-RateLimit-Reset": "9999999999"},
    )
    rsps.get(JOB_URL, json=job_body())
    assert client.get_job(JOB_ID).status == "processing"
    assert fake_time.sleeps == [2.0]
    assert len(rsps.calls) == 2


def test_retries_get_on_429_with_ratelimit_reset(client, rsps, fake_time, monkeypatch):
    monkeypatch.setattr("connector.pi.wait_headers.time.time", lambda: 5000.0)
    rsps.get(
        JOB_URL,
        status=429,
        json=error_body("unkey_rate_limited", "rate_limit_error"),
        headers={"X-RateLimit-Reset": "5004"},
    )
    rsps.get(JOB_URL, json=job_body())
    client.get_job(JOB_ID)
    assert fake_time.sleeps == [4.0]


def test_ratelimit_reset_on_a_5xx_does_not_stretch_the_backoff(
    client, rsps, fake_time, monkeypatch
):
    monkeypatch.setattr("connector.pi.wait_headers.time.time", lambda: 5000.0)
    rsps.get(
        JOB_URL,
        status=500,
        json=error_body("job_lookup_failed"),
        headers={"X-RateLimit-Reset": "5060"},
    )
    rsps.get(JOB_URL, json=job_body())
    client.get_job(JOB_ID)
    assert fake_time.sleeps[0] <= 0.5


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_retries_get_on_5xx_with_capped_jittered_backoff(client, rsps, fake_time, status):
    for _ in range(3):
        rsps.get(JOB_URL, status=status, json=error_body("job_lookup_failed"))
    rsps.get(JOB_URL, json=job_body())
    client.get_job(JOB_ID)
    assert len(rsps.calls) == 4
    assert all(s <= cap for s, cap in zip(fake_time.sleeps, (0.5, 1.0, 2.0), strict=True))


def test_gives_up_after_max_retries(client, rsps, fake_time):
    rsps.get(JOB_URL, status=503, json=error_body("unavailable"))
    with pytest.raises(PiServerError):
        client.get_job(JOB_ID)
    assert len(rsps.calls) == 4
    assert len(fake_time.sleeps) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_never_retries_get_on_client_errors(client, rsps, fake_time, status):
    rsps.get(JOB_URL, status=status, json=error_body("nope", "invalid_request_error"))
    with pytest.raises(PiError):
        client.get_job(JOB_ID)
    assert len(rsps.calls) == 1
    assert fake_time.sleeps == []


def test_retries_get_on_connection_errors(client, rsps):
    rsps.get(JOB_URL, body=requests.exceptions.ConnectionError("reset"))
    rsps.get(JOB_URL, body=requests.exceptions.ReadTimeout("slow"))
    rsps.get(JOB_URL, json=job_body())
    assert client.get_job(JOB_ID).job_id == JOB_ID
    assert len(rsps.calls) == 3


def test_transport_errors_keep_their_cause(client, rsps):
    rsps.get(JOB_URL, body=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(PiTimeout) as info:
        PiClient(API_KEY, base_url=BASE, max_retries=0).get_job(JOB_ID)
    assert isinstance(info.value.__cause__, requests.exceptions.ReadTimeout)
    assert info.value.status is None


@pytest.mark.parametrize("status", [500, 502, 503])
def test_never_retries_brand_extract_on_5xx(client, rsps, status):
    rsps.post(EXTRACT_URL, status=status, json=error_body("job_trigger_failed"))
    with pytest.raises(PiServerError):
        client.extract_brand(url="https://acme.com")
    assert len(rsps.calls) == 1


def test_never_retries_brand_extract_on_read_timeout(client, rsps):
    rsps.post(EXTRACT_URL, body=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(PiTimeout):
        client.extract_brand(url="https://acme.com")
    assert len(rsps.calls) == 1


def test_never_retries_brand_extract_on_429(client, rsps):
    rsps.post(
        EXTRACT_URL, status=429, json=error_body("unkey_rate_limited"), headers={"Retry-After": "1"}
    )
    with pytest.raises(PiRateLimited) as info:
        client.extract_brand(url="https://acme.com")
    assert info.value.retry_after == 1.0
    assert len(rsps.calls) == 1


@pytest.mark.parametrize("exc", [requests.exceptions.ConnectTimeout("connect"), refused()])
def test_retries_post_on_connect_errors(client, rsps, exc):
    rsps.post(EXTRACT_URL, body=exc)
    rsps.post(EXTRACT_URL, status=202, json=created())
    assert client.extract_brand(url="https://acme.com") == JOB_ID
    assert len(rsps.calls) == 2


def test_retries_idempotent_post_on_502_with_the_same_key(client, rsps):
    same_key = [matchers.header_matcher({"Idempotency-Key": "claim-42"})]
    rsps.post(IMAGES_URL, status=502, json=error_body("job_trigger_failed"), match=same_key)
    rsps.post(IMAGES_URL, status=202, json=created(), match=same_key)
    assert client.generate_image(prompt="x", idempotency_key="claim-42") == JOB_ID
    assert len(rsps.calls) == 2
    assert {c.request.headers["Idempotency-Key"] for c in rsps.calls} == {"claim-42"}
    assert rsps.calls[0].request.body == rsps.calls[1].request.body


def test_retries_idempotent_post_on_read_timeout(client, rsps):
    rsps.post(CAMPAIGNS_URL, body=requests.exceptions.ReadTimeout("slow"))
    rsps.post(CAMPAIGNS_URL, status=202, json=created())
    assert client.render_campaign(prompt="x", idempotency_key="k") == JOB_ID


def test_never_retries_generation_without_key_on_502(client, rsps):
    rsps.post(IMAGES_URL, status=502, json=error_body("job_trigger_failed"))
    with pytest.raises(PiServerError):
        client.generate_image(prompt="x")
    assert len(rsps.calls) == 1


def test_never_retries_idempotency_conflicts(client, rsps):
    rsps.post(IMAGES_URL, status=409, json=error_body("idempotency_key_mismatch"))
    with pytest.raises(PiConflict):
        client.generate_image(prompt="x", idempotency_key="k")
    assert len(rsps.calls) == 1


# -- deadlines ----------------------------------------------------------------------------


def test_deadline_already_past_sends_nothing(client, rsps, fake_time):
    with pytest.raises(PiTimeout) as info:
        client.get_job(JOB_ID, deadline=fake_time.now)
    assert info.value.code == "deadline_exceeded"
    assert len(rsps.calls) == 0


def test_deadline_cuts_the_read_timeout(client, rsps, fake_time):
    rsps.get(JOB_URL, json=job_body())
    client.get_job(JOB_ID, wait=True, timeout_seconds=20, deadline=fake_time.now + 3)
    assert timeout_of(rsps.calls[0]) == (3.0, 3.0)


def test_deadline_stops_a_retry_whose_sleep_would_pass_it(client, rsps, fake_time):
    rsps.get(JOB_URL, status=503, json=error_body("unavailable"), headers={"Retry-After": "5"})
    with pytest.raises(PiServerError):
        client.get_job(JOB_ID, deadline=fake_time.now + 2)
    assert len(rsps.calls) == 1
    assert fake_time.sleeps == []


def test_deadline_bounds_all_retries(rsps, fake_time):
    c = PiClient(
        API_KEY,
        base_url=BASE,
        max_retries=50,
        backoff_base=1.0,
        backoff_cap=1.0,
        _sleep=fake_time.sleep,
        _clock=fake_time.clock,
    )
    rsps.get(JOB_URL, status=503, json=error_body("unavailable"), headers={"Retry-After": "1"})
    start = fake_time.now
    with pytest.raises(PiServerError):
        c.get_job(JOB_ID, deadline=start + 4.5)
    assert fake_time.now <= start + 4.5
    assert len(rsps.calls) == 5
