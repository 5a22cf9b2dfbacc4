"""`/v1` over an account's limits: the one JSON error shape, 429 and Retry-After."""

from __future__ import annotations

import uuid

from tests.support.settings import replace_settings

A = {"Authorization": "Bearer pi_test_v1_limits_account_a"}
B = {"Authorization": "Bearer pi_test_v1_limits_account_b"}


def _submit(client, headers, **extra):
    body = {"kind": "brand_extraction", "input": {"url": f"https://v1-{uuid.uuid4().hex[:8]}.ex"}}
    return client.post("/v1/jobs", json=body, headers={**headers, **extra})


def test_over_its_limit_an_account_gets_429_and_another_does_not(sim_app):
    replace_settings(sim_app, account_submit_rate=1.0, account_submit_burst=1)
    client = sim_app.test_client()
    assert _submit(client, A).status_code == 202
    refused = _submit(client, A)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert refused.get_json() == {
        "error": {
            "code": "rate_limited",
            "message": "this account is submitting too fast; retry later",
        }
    }
    assert _submit(client, B).status_code == 202


def test_a_retry_with_its_idempotency_key_is_answered_over_the_limit(sim_app):
    replace_settings(sim_app, account_submit_rate=0.01, account_submit_burst=1)
    client = sim_app.test_client()
    body = {"kind": "brand_extraction", "input": {"url": "https://v1-keyed.example"}}
    headers = {**A, "Idempotency-Key": "limits-k1"}
    first = client.post("/v1/jobs", json=body, headers=headers)
    again = client.post("/v1/jobs", json=body, headers=headers)
    assert first.status_code == 202 and again.status_code == 200
    assert again.get_json()["job_id"] == first.get_json()["job_id"]
