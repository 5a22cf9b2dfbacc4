"""ManyChat over an account's limits: 429 JSON with Retry-After for it, nobody else notices."""

from __future__ import annotations

import uuid

import pytest

from tests.manychat_app.fakes import EXTRACT, KEY_A, KEY_B, auth
from tests.support.settings import replace_settings


def _extract(client, key: str, query: str = ""):
    url = f"https://mc-{uuid.uuid4().hex[:8]}.example"
    return client.post(EXTRACT + query, json={"url": url}, headers=auth(key))


@pytest.mark.parametrize("query", ["", "?format=dynamic_block"])
def test_over_its_limit_an_account_gets_429_with_retry_after_and_another_does_not(sim_app, query):
    replace_settings(
        sim_app, manychat_wait_seconds=0, account_submit_rate=0.2, account_submit_burst=2
    )
    client = sim_app.test_client()
    assert [_extract(client, KEY_A, query).status_code for _ in range(2)] == [200, 200]
    refused = _extract(client, KEY_A, query)
    assert refused.status_code == 429
    # The one error shape (ManyChat maps fields only from a 200: the flow takes its fallback).
    error = refused.get_json()["error"]
    assert error["code"] == "rate_limited" and "too fast" in error["message"]
    assert refused.headers["Retry-After"] == "5"  # one token at 0.2 a second
    assert _extract(client, KEY_B, query).status_code == 200


def test_a_manychat_retry_of_an_accepted_request_is_answered_over_the_limit(sim_app):
    replace_settings(
        sim_app, manychat_wait_seconds=0, account_submit_rate=0.01, account_submit_burst=1
    )
    client = sim_app.test_client()
    body = {"url": "https://mc-double-tap.example"}
    first = client.post(EXTRACT, json=body, headers=auth())
    again = client.post(EXTRACT, json=body, headers=auth())  # a double tap: the same job
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.get_json()["job_id"] == first.get_json()["job_id"]
