"""Zapier over an account's limits: 429 + integer Retry-After (Zapier's ThrottledError)."""

from __future__ import annotations

import uuid

from tests.support.settings import replace_settings
from tests.zapier_app.helpers import KEY_A, KEY_B, auth

ACTION = "/zapier/v1/actions/extract_brand"


def _extract(client, key: str):
    url = f"https://zap-{uuid.uuid4().hex[:8]}.example"
    return client.post(ACTION, json={"url": url}, headers=auth(key))


def test_over_its_limit_an_account_is_throttled_and_another_is_not(sim_app):
    replace_settings(
        sim_app, zapier_wait_seconds=0, account_submit_rate=0.5, account_submit_burst=1
    )
    client = sim_app.test_client()
    assert _extract(client, KEY_A).status_code == 200
    refused = _extract(client, KEY_A)
    assert refused.status_code == 429
    # zapier-platform-core turns a 429 into a ThrottledError that replays after Retry-After
    # (integer seconds); the message is what the Zap's history shows.
    assert refused.headers["Retry-After"] == "2"
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert _extract(client, KEY_B).status_code == 200


def test_too_many_jobs_in_flight_is_429_too(sim_app):
    replace_settings(sim_app, zapier_wait_seconds=0, account_submit_rate=0, account_max_in_flight=1)
    client = sim_app.test_client()
    assert _extract(client, KEY_A).status_code == 200
    refused = _extract(client, KEY_A)
    assert refused.status_code == 429 and refused.headers["Retry-After"].isdigit()
    assert refused.get_json()["error"]["code"] == "too_many_in_flight"
    assert _extract(client, KEY_B).status_code == 200
