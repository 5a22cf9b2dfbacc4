"""Tests for PiClient's calls, results and errors over a fake transport (responses)."""

from __future__ import annotations

import logging

import pytest
import requests
from responses import matchers

from connector.pi import (
    BrandPage,
    Job,
    PiAuthenticationError,
    PiBadRequest,
    PiClient,
    PiConflict,
    PiInputError,
    PiNotFound,
    PiPermissionError,
    PiRateLimited,
    PiServerError,
)
from tests.connector.pi.fakes import (
    API_KEY,
    BASE,
    BRAND_ID,
    CAMPAIGNS_URL,
    EXTRACT_URL,
    IMAGE,
    IMAGES_URL,
    JOB_ID,
    JOB_URL,
    completed_brand,
    created,
    error_body,
    job_body,
    timeout_of,
)

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


@pytest.mark.parametrize("trust_env", [True, False], ids=["environment", "pooled"])
def test_a_shared_session_sends_the_same_request_either_way(rsps, trust_env):
    session = requests.Session()
    session.trust_env = trust_env  # off: the pooled session, sent without Session.request
    headers = {
        "Authorization": f"Bearer {API_KEY}",
        "Idempotency-Key": "idem-1",
        "User-Agent": "pi-connector/0.1",
        "Accept": "application/json",
        "Content-Type": "application/json",
    }
    rsps.post(
        IMAGES_URL,
        status=202,
        json=created(),
        match=[matchers.header_matcher(headers), matchers.json_params_matcher({"prompt": "p"})],
    )
    with PiClient(API_KEY, base_url=BASE, session=session) as c:
        assert c.generate_image(prompt="p", idempotency_key="idem-1") == JOB_ID
    assert "Authorization" not in session.headers and not session.cookies


def test_an_own_session_reads_the_environment_once(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/pi-ca.pem")
    with PiClient(API_KEY, base_url=BASE) as c:
        session = c._session
    assert session.proxies.get("https") == "http://proxy.example:3128"
    assert session.verify == "/etc/ssl/pi-ca.pem" and not session.trust_env


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
