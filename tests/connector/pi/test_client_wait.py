"""Tests for PiClient.wait_for_job's long-poll loop over a fake transport."""

from __future__ import annotations

import pytest
import requests
import responses

from connector.pi import (
    PiAuthenticationError,
    PiBadRequest,
    PiClient,
    PiConnectionError,
    PiJobFailed,
    PiNotFound,
    PiPermissionError,
    PiTimeout,
)
from tests.connector.pi.fakes import (
    API_KEY,
    BASE,
    BRAND_ID,
    JOB_ID,
    JOB_URL,
    completed_brand,
    error_body,
    job_body,
    refused,
    timeout_of,
)

# -- wait_for_job -------------------------------------------------------------------------


def test_wait_for_job_repolls_until_terminal(client, rsps, fake_time):
    rsps.get(JOB_URL, json=job_body("queued"))
    rsps.get(JOB_URL, json=job_body("processing", payload={"phase": "phase_a_normalization"}))
    rsps.get(JOB_URL, json=completed_brand())
    job = client.wait_for_job(JOB_ID, deadline=fake_time.now + 120)
    assert job.status == "completed"
    assert job.brand_id == BRAND_ID
    assert len(rsps.calls) == 3
    for call in rsps.calls:
        assert call.request.params == {
            "wait_for_completion": "true",
            "timeout_seconds": "20",
            "expand": "brand",
        }


def test_wait_for_job_cuts_the_window_to_the_deadline(client, rsps, fake_time):
    rsps.get(JOB_URL, json=completed_brand())
    deadline = fake_time.now + 10
    client.wait_for_job(JOB_ID, deadline=deadline, poll_timeout=20, expand=None)
    call = rsps.calls[0]
    assert call.request.params == {"wait_for_completion": "true", "timeout_seconds": "8"}
    assert 8 < timeout_of(call)[1] <= 10


def test_wait_for_job_does_a_plain_read_when_time_is_short(client, rsps, fake_time):
    rsps.get(JOB_URL, json=job_body("processing"))
    job = client.wait_for_job(JOB_ID, deadline=fake_time.now + 1.8, expand=None)
    assert job.status == "processing"
    assert len(rsps.calls) == 1
    assert rsps.calls[0].request.params == {}
    assert timeout_of(rsps.calls[0])[1] == pytest.approx(1.8)


def test_wait_for_job_returns_the_last_state_at_the_deadline(client, rsps, fake_time):
    def long_poll(request):
        fake_time.now += int(request.params.get("timeout_seconds", 0))  # Pi holds the request
        return 200, {}, __import__("json").dumps(job_body("processing"))

    rsps.add_callback(responses.GET, JOB_URL, callback=long_poll)
    start = fake_time.now
    job = client.wait_for_job(JOB_ID, deadline=start + 45)
    assert job.status == "processing"
    assert fake_time.now <= start + 45
    windows = [c.request.params.get("timeout_seconds") for c in rsps.calls]
    assert windows == ["20", "20", "3", None]  # the last read is plain: under 2.5 s were left


def test_wait_for_job_never_repolls_a_failed_job(client, rsps, fake_time):
    rsps.get(JOB_URL, json=job_body("failed", error_log="Error: nope\n    at x (/a/b.js:1:1)"))
    job = client.wait_for_job(JOB_ID, deadline=fake_time.now + 60)
    assert job.failed
    assert len(rsps.calls) == 1
    with pytest.raises(PiJobFailed) as info:
        job.raise_if_failed()
    assert info.value.message == "Error: nope"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, PiBadRequest),
        (401, PiAuthenticationError),
        (403, PiPermissionError),
        (404, PiNotFound),
    ],
)
def test_wait_for_job_raises_client_errors_at_once(client, rsps, fake_time, status, cls):
    rsps.get(JOB_URL, status=status, json=error_body("nope", "invalid_request_error"))
    with pytest.raises(cls):
        client.wait_for_job(JOB_ID, deadline=fake_time.now + 60)
    assert len(rsps.calls) == 1


def test_wait_for_job_rides_out_transient_errors(client, rsps, fake_time):
    rsps.get(JOB_URL, json=job_body("processing"))
    for _ in range(5):
        rsps.get(JOB_URL, status=503, json=error_body("unavailable"))
    rsps.get(JOB_URL, json=completed_brand())
    job = client.wait_for_job(JOB_ID, deadline=fake_time.now + 300)
    assert job.succeeded


def test_wait_for_job_reraises_the_last_error_when_nothing_was_read(rsps, fake_time):
    c = PiClient(
        API_KEY, base_url=BASE, backoff_base=1.0, _sleep=fake_time.sleep, _clock=fake_time.clock
    )
    rsps.get(JOB_URL, body=refused())
    start = fake_time.now
    with pytest.raises(PiConnectionError) as info:
        c.wait_for_job(JOB_ID, deadline=start + 20)
    assert not isinstance(info.value, PiTimeout)
    assert fake_time.now <= start + 20


def test_wait_for_job_raises_timeout_when_the_deadline_has_passed(client, rsps, fake_time):
    with pytest.raises(PiTimeout):
        client.wait_for_job(JOB_ID, deadline=fake_time.now - 1)
    assert len(rsps.calls) == 0


def test_wait_for_job_answers_within_the_deadline_when_pi_hangs(client, rsps, fake_time):
    seen: list[tuple[float, float, float]] = []
    deadline = fake_time.now + 25

    def hang(request):
        read = request.req_kwargs["timeout"][1]
        seen.append((fake_time.now, read, float(request.params.get("timeout_seconds", 0))))
        fake_time.now += read  # the socket times out after the read timeout
        raise requests.exceptions.ReadTimeout("hung")

    rsps.get(JOB_URL, json=job_body("processing"))
    rsps.add_callback(responses.GET, JOB_URL, callback=hang)
    job = client.wait_for_job(JOB_ID, deadline=deadline)
    assert job.status == "processing"  # the last state seen
    assert fake_time.now <= deadline
    for started, read, window in seen:
        assert read <= deadline - started
        assert window <= deadline - started - 1.5


def test_wait_for_job_pauses_when_pi_answers_a_long_poll_early(client, rsps, fake_time):
    rsps.get(JOB_URL, json=job_body("processing"))
    rsps.get(JOB_URL, json=completed_brand())
    client.wait_for_job(JOB_ID, deadline=fake_time.now + 60)
    assert fake_time.sleeps == [1.0]
