"""Tests for PiClient over a fake transport (responses)."""

from __future__ import annotations

import logging

import pytest
import requests
import responses
from responses import matchers
from urllib3.exceptions import MaxRetryError, NewConnectionError

from connector.pi import (
    BrandPage,
    Job,
    PiAuthenticationError,
    PiBadRequest,
    PiClient,
    PiConflict,
    PiConnectionError,
    PiError,
    PiInputError,
    PiJobFailed,
    PiNotFound,
    PiPermissionError,
    PiRateLimited,
    PiServerError,
    PiTimeout,
)

API_KEY = "sk_test_very_secret_0123456789"
BASE = "http://pi.test"
JOB_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"
BRAND_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
JOB_URL = f"{BASE}/api/v1/jobs/{JOB_ID}"
EXTRACT_URL = f"{BASE}/api/v1/brands/extract"
IMAGES_URL = f"{BASE}/api/v1/images/generations"
CAMPAIGNS_URL = f"{BASE}/api/v1/campaigns/generate"
IMAGE = "https://cdn.example.com/out.png"


class FakeTime:
    """A monotonic clock that only moves when the client sleeps (or a test advances it)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def client(fake_time):
    with PiClient(API_KEY, base_url=BASE, _sleep=fake_time.sleep, _clock=fake_time.clock) as c:
        yield c


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def created(job_id: str = JOB_ID) -> dict:
    return {
        "id": "req_pi_c",
        "object": "job",
        "status": "queued",
        "created_at": 1,
        "data": {"job_id": job_id},
    }


def job_body(status: str = "processing", **data) -> dict:
    base = {
        "id": JOB_ID,
        "org_id": "o",
        "type": "brand_extraction",
        "status": status,
        "payload": {"phase": "queued"},
        "result_url": None,
        "error_log": None,
        "created_at": 1,
        "updated_at": 2,
    }
    return {
        "id": "req_pi_g",
        "object": "job",
        "status": "completed",
        "created_at": 3,
        "data": {**base, **data},
    }


def completed_brand() -> dict:
    return job_body(
        "completed",
        payload={"phase": "completed", "brand_id": BRAND_ID},
        result_url=f"brands/{BRAND_ID}",
        job_result={"type": "brand", "id": BRAND_ID, "url": f"brands/{BRAND_ID}"},
    )


def error_body(code: str, type_: str = "api_error") -> dict:
    return {
        "error": {
            "type": type_,
            "code": code,
            "message": f"{code} happened",
            "request_id": "req_pi_e",
        }
    }


def refused() -> requests.exceptions.ConnectionError:
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111]")
    return requests.exceptions.ConnectionError(MaxRetryError(None, "/", reason=reason))


def timeout_of(call) -> tuple[float, float]:
    return call.request.req_kwargs["timeout"]


# -- construction -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_url": "ftp://pi.test"},
        {"base_url": "pi.test"},
        {"base_url": ""},
        {"base_url": BASE, "timeout": -1},
        {"base_url": BASE, "timeout": 0},
        {"base_url": BASE, "max_retries": -1},
        {"base_url": BASE, "backoff_base": -0.1},
        {"base_url": BASE, "backoff_cap": -1},
        {"base_url": BASE, "connect_timeout": -1},
        {"base_url": BASE, "long_poll_margin": -1},
    ],
)
def test_rejects_bad_options_at_construction(kwargs):
    with pytest.raises(ValueError):
        PiClient(API_KEY, **kwargs)


@pytest.mark.parametrize("key", ["", "   ", "sk bad", "sk\nbad"])
def test_rejects_bad_api_keys(key):
    with pytest.raises(ValueError):
        PiClient(key, base_url=BASE)


def test_options_are_keyword_only():
    with pytest.raises(TypeError):
        PiClient(API_KEY, BASE)  # type: ignore[misc]


def test_repr_never_shows_the_api_key(client):
    assert API_KEY not in repr(client)
    assert API_KEY not in str(client)
    assert "pi.test" in repr(client)


def test_sends_auth_user_agent_and_accept(client, rsps):
    rsps.get(
        JOB_URL,
        json=job_body(),
        match=[
            matchers.header_matcher(
                {
                    "Authorization": f"Bearer {API_KEY}",
                    "User-Agent": "pi-connector/0.1",
                    "Accept": "application/json",
                }
            )
        ],
    )
    client.get_job(JOB_ID)
    assert len(rsps.calls) == 1


def test_base_url_may_carry_the_api_prefix(rsps):
    rsps.get(JOB_URL, json=job_body())
    with PiClient(API_KEY, base_url=f"{BASE}/api/v1/") as c:
        assert c.get_job(JOB_ID).job_id == JOB_ID


def test_a_caller_session_is_not_given_the_key(rsps):
    session = requests.Session()
    rsps.get(
        JOB_URL,
        json=job_body(),
        match=[matchers.header_matcher({"Authorization": f"Bearer {API_KEY}"})],
    )
    with PiClient(API_KEY, base_url=BASE, session=session) as c:
        c.get_job(JOB_ID)
    assert "Authorization" not in session.headers
    assert session.auth is None


# -- creates ------------------------------------------------------------------------------


def test_extract_brand_posts_pi_body_and_returns_job_id(client, rsps):
    rsps.post(
        EXTRACT_URL,
        status=202,
        json=created(),
        match=[
            matchers.json_params_matcher(
                {"url": "https://acme.com", "location": {"country": "US", "languages": ["en"]}}
            )
        ],
    )
    job_id = client.extract_brand(
        url="https://acme.com", location={"country": "US", "languages": ["en"]}
    )
    assert job_id == JOB_ID


def test_extract_brand_sends_no_idempotency_key(client, rsps):
    rsps.post(EXTRACT_URL, status=202, json=created())
    client.extract_brand(url="https://acme.com")
    assert "Idempotency-Key" not in rsps.calls[0].request.headers


def test_generate_image_posts_body_with_idempotency_key(client, rsps):
    body = {
        "prompt": "a shoe",
        "brand_id": BRAND_ID,
        "output": {"aspect_ratio": "1:1"},
        "metadata": {"k": "v"},
    }
    rsps.post(
        IMAGES_URL,
        status=202,
        json=created(),
        match=[
            matchers.json_params_matcher(body),
            matchers.header_matcher({"Idempotency-Key": "key-1"}),
        ],
    )
    job_id = client.generate_image(
        prompt=" a shoe ",
        brand_id=BRAND_ID,
        aspect_ratio="1:1",
        metadata={"k": "v"},
        idempotency_key="key-1",
    )
    assert job_id == JOB_ID


def test_render_campaign_posts_to_campaigns(client, rsps):
    rsps.post(
        CAMPAIGNS_URL,
        status=202,
        json=created(),
        match=[matchers.json_params_matcher({"prompt": "launch", "client_reference_id": "c1"})],
    )
    assert client.render_campaign(prompt="launch", client_reference_id="c1") == JOB_ID


def test_create_without_job_id_is_a_server_error(client, rsps):
    rsps.post(EXTRACT_URL, status=202, json={"id": "r", "data": {}})
    with pytest.raises(PiServerError) as info:
        client.extract_brand(url="https://acme.com")
    assert info.value.code == "invalid_response"


BAD_GENERATION_INPUTS = [
    {"prompt": "p" * 5001},
    {"prompt": "   "},
    {"prompt": "x", "reference_images": [IMAGE] * 7},
    {"prompt": "x", "reference_images": ["http://insecure.example.com/a.png"]},
    {"prompt": "x", "metadata": {f"k{i}": "v" for i in range(17)}},
    {"prompt": "x", "metadata": {"k": "v" * 501}},
    {"prompt": "x", "aspect_ratio": "7:5"},
    {"prompt": "x", "resolution": "8K"},
    {"prompt": "x", "thinking_intensity": "medium"},
    {"prompt": "x", "brand_id": "not-a-uuid"},
    {"prompt": "x", "client_reference_id": "r" * 201},
    {"prompt": "x", "idempotency_key": "  "},
]


@pytest.mark.parametrize("kwargs", BAD_GENERATION_INPUTS)
@pytest.mark.parametrize("method", ["generate_image", "render_campaign"])
def test_rejects_generation_input_before_sending(client, rsps, method, kwargs):
    with pytest.raises(PiInputError):
        getattr(client, method)(**kwargs)
    assert len(rsps.calls) == 0


GOOD_LIMITS = [
    {"prompt": "p" * 5000},
    {"prompt": "x", "reference_images": [IMAGE] * 6},
    {"prompt": "x", "metadata": {f"k{i}": "v" for i in range(16)}},
    {"prompt": "x", "metadata": {"k": "v" * 500}},
    {"prompt": "x", "client_reference_id": "r" * 200},
]


@pytest.mark.parametrize("kwargs", GOOD_LIMITS)
def test_accepts_generation_input_at_the_limits(client, rsps, kwargs):
    rsps.post(IMAGES_URL, status=202, json=created())
    assert client.generate_image(**kwargs) == JOB_ID


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"url": "javascript:alert(1)"},
        {"url": "ftp://acme.com"},
        {"url": "file:///etc/passwd"},
        {"url": "https://"},
        {"images_base64": []},
        {"url": "https://a.com", "location": {"country": "USA"}},
    ],
)
def test_rejects_brand_input_before_sending(client, rsps, kwargs):
    with pytest.raises(PiInputError):
        client.extract_brand(**kwargs)
    assert len(rsps.calls) == 0


# -- get_job ------------------------------------------------------------------------------


def test_get_job_reads_data_status_not_the_envelope(client, rsps):
    rsps.get(JOB_URL, json=job_body("processing"), headers={"X-Request-Id": "req_pi_h"})
    job = client.get_job(JOB_ID)
    assert isinstance(job, Job)
    assert job.status == "processing"
    assert not job.is_terminal
    assert job.request_id == "req_pi_h"


def test_get_job_plain_uses_the_normal_timeout(client, rsps):
    rsps.get(JOB_URL, json=job_body(), match=[matchers.query_param_matcher({})])
    client.get_job(JOB_ID)
    assert timeout_of(rsps.calls[0]) == (3.05, 10.0)


def test_get_job_wait_sends_exact_params_and_outlasts_the_window(client, rsps):
    rsps.get(
        JOB_URL,
        json=job_body(),
        match=[
            matchers.query_param_matcher(
                {"wait_for_completion": "true", "timeout_seconds": "20", "expand": "brand"}
            )
        ],
    )
    client.get_job(JOB_ID, wait=True, expand="brand")
    assert timeout_of(rsps.calls[0]) == (3.05, 25.0)


def test_get_job_wait_with_timeout_seconds(client, rsps):
    rsps.get(
        JOB_URL,
        json=job_body(),
        match=[
            matchers.query_param_matcher({"wait_for_completion": "true", "timeout_seconds": "7"})
        ],
    )
    client.get_job(JOB_ID, wait=True, timeout_seconds=7)
    assert timeout_of(rsps.calls[0])[1] == 12.0


@pytest.mark.parametrize("seconds", [0, 31, 2.5, "20", True])
def test_get_job_rejects_bad_timeout_seconds(client, rsps, seconds):
    with pytest.raises(PiInputError):
        client.get_job(JOB_ID, wait=True, timeout_seconds=seconds)
    assert len(rsps.calls) == 0


@pytest.mark.parametrize("job_id", ["", "abc", "../brands", JOB_ID + "/x"])
def test_get_job_rejects_ids_that_are_not_uuids(client, rsps, job_id):
    with pytest.raises(PiInputError):
        client.get_job(job_id)
    assert len(rsps.calls) == 0


def test_get_job_resolves_brand_result(client, rsps):
    rsps.get(JOB_URL, json=completed_brand())
    job = client.get_job(JOB_ID)
    assert (job.status, job.brand_id) == ("completed", BRAND_ID)


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "invalid_job_id", PiBadRequest),
        (401, "unkey_not_found", PiAuthenticationError),
        (403, "unkey_disabled", PiPermissionError),
        (404, "job_not_found", PiNotFound),
        (409, "idempotency_key_mismatch", PiConflict),
        (429, "unkey_rate_limited", PiRateLimited),
        (500, "job_lookup_failed", PiServerError),
        (502, "job_trigger_failed", PiServerError),
    ],
)
def test_get_job_raises_the_mapped_error(fake_time, rsps, status, code, cls):
    rsps.get(JOB_URL, status=status, json=error_body(code), headers={"X-Request-Id": "req_pi_e"})
    c = PiClient(API_KEY, base_url=BASE, max_retries=0, _sleep=fake_time.sleep)
    with pytest.raises(cls) as info:
        c.get_job(JOB_ID)
    assert (info.value.status, info.value.code, info.value.request_id) == (status, code, "req_pi_e")
    assert API_KEY not in str(info.value) and API_KEY not in repr(info.value)


def test_errors_are_logged_with_request_id_and_without_key(client, rsps, caplog):
    rsps.get(
        JOB_URL,
        status=404,
        json=error_body("job_not_found"),
        headers={"X-Request-Id": "req_pi_404"},
    )
    with caplog.at_level(logging.DEBUG, logger="connector.pi"), pytest.raises(PiNotFound):
        client.get_job(JOB_ID)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("req_pi_404" in r.getMessage() for r in warnings)
    assert all(API_KEY not in r.getMessage() for r in caplog.records)


def test_non_json_success_is_a_server_error(client, rsps):
    rsps.get(JOB_URL, body="<html>ok</html>")
    with pytest.raises(PiServerError):
        client.get_job(JOB_ID)


def test_does_not_follow_redirects(client, rsps):
    rsps.get(JOB_URL, status=302, headers={"Location": "http://evil.test/"})
    with pytest.raises(PiServerError):
        client.get_job(JOB_ID)
    assert len(rsps.calls) == 1


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
    monkeypatch.setattr("connector.pi.retry.time.time", lambda: 5000.0)
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
    monkeypatch.setattr("connector.pi.retry.time.time", lambda: 5000.0)
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


# -- brands -------------------------------------------------------------------------------


def test_get_brand_returns_data(client, rsps):
    brand = {"id": BRAND_ID, "name": "Acme", "domain": "acme.com"}
    rsps.get(f"{BASE}/api/v1/brands/{BRAND_ID}", json={"id": "r", "object": "brand", "data": brand})
    assert client.get_brand(BRAND_ID) == brand


def test_get_brand_rejects_bad_ids_before_sending(client, rsps):
    with pytest.raises(PiInputError):
        client.get_brand("acme")
    assert len(rsps.calls) == 0


def test_get_brand_maps_not_found(client, rsps):
    rsps.get(f"{BASE}/api/v1/brands/{BRAND_ID}", status=404, json=error_body("brand_not_found"))
    with pytest.raises(PiNotFound):
        client.get_brand(BRAND_ID)


def test_list_brands_sends_query_and_reads_the_page(client, rsps):
    rsps.get(
        f"{BASE}/api/v1/brands",
        json={
            "object": "list",
            "data": {"data": [{"id": BRAND_ID}], "total_count": 3, "has_more": True},
        },
        match=[matchers.query_param_matcher({"query": "acme", "limit": "1", "offset": "2"})],
    )
    page = client.list_brands(query="acme", limit=1, offset=2)
    assert page == BrandPage(brands=[{"id": BRAND_ID}], total_count=3, has_more=True)


@pytest.mark.parametrize("kwargs", [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"query": 3}])
def test_list_brands_rejects_bad_paging_before_sending(client, rsps, kwargs):
    with pytest.raises(PiInputError):
        client.list_brands(**kwargs)
    assert len(rsps.calls) == 0
