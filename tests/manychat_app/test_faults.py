"""ManyChat under faults: Redis down, Pi errors on submit, re-submission and duplicates."""

from __future__ import annotations

import uuid

import pytest

from connector import create_app
from connector.ledger import get_ledger
from tests.manychat_app.fakes import (
    EXTRACT,
    PI,
    auth,
    pi_created,
    pi_job,
)
from tests.support.procs import free_port


def test_redis_unreachable_is_503_json_without_a_stack_trace(app_config, pi):
    app = create_app({**app_config, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    client = app.test_client()
    post = client.post(EXTRACT, json={"url": "https://acme.com"}, headers=auth())
    get = client.get(f"/manychat/v1/jobs/{uuid.uuid4()}", headers=auth())
    for response in (post, get):
        text = response.get_data(as_text=True)
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "redis_unavailable"
        assert "Traceback" not in text and "redis.exceptions" not in text
    assert len(pi.calls) == 0


def _nothing_recorded(app) -> None:
    with app.app_context():
        redis = get_ledger().redis
        keys = [k.decode() for k in redis.keys("*")]
        assert not [k for k in keys if ":job:" in k or k.endswith(":jobs") or ":idem:" in k], keys
        assert redis.zcard(get_ledger().inflight_key()) == 0


@pytest.mark.parametrize("status", [500, 502, 503])
def test_pi_5xx_on_submit_is_502_and_nothing_is_recorded(app_config, pi, status):
    app = create_app({**app_config, "PI_MAX_RETRIES": 0})
    pi.post(f"{PI}/brands/extract", status=status, json={"error": {"message": "boom"}})
    response = app.test_client().post(EXTRACT, json={"url": "https://acme.com"}, headers=auth())
    assert response.status_code == 502
    assert response.get_json()["error"]["code"]
    _nothing_recorded(app)


def test_pi_429_on_submit_is_429_with_retry_after_and_nothing_is_recorded(app_config, pi):
    app = create_app({**app_config, "PI_MAX_RETRIES": 0})
    pi.post(
        f"{PI}/brands/extract",
        status=429,
        headers={"Retry-After": "17"},
        json={"error": {"type": "rate_limit_error", "message": "slow down"}},
    )
    response = app.test_client().post(EXTRACT, json={"url": "https://acme.com"}, headers=auth())
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "17"
    _nothing_recorded(app)


def test_a_request_after_a_pi_failure_submits_again(app_config, pi):
    app = create_app({**app_config, "PI_MAX_RETRIES": 0})
    client = app.test_client()
    pi.post(f"{PI}/brands/extract", status=503, json={"error": {"message": "down"}})
    assert client.post(EXTRACT, json={"url": "https://acme.com"}, headers=auth()).status_code == 502
    pi.reset()
    job_id = str(uuid.uuid4())
    pi_created(pi, job_id)
    pi_job(pi, job_id, "completed", brand_id=str(uuid.uuid4()))
    response = client.post(EXTRACT, json={"url": "https://acme.com"}, headers=auth())
    assert response.status_code == 200 and response.get_json()["job_id"] == job_id


def test_identical_requests_map_to_one_pi_job(client, pi):
    job_id = str(uuid.uuid4())
    pi_created(pi, job_id)
    pi_job(pi, job_id, "completed", brand_id=str(uuid.uuid4()))
    answers = [
        client.post(EXTRACT, json={"url": url}, headers=auth()).get_json()["job_id"]
        for url in ("https://acme.com", "https://www.ACME.com/", "acme.com")
    ]
    assert answers == [job_id] * 3
    assert sum(1 for c in pi.calls if c.request.method == "POST") == 1
