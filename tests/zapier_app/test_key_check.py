"""Endpoints that answer from the ledger still ask Pi whether the key is valid (remembered)."""

from __future__ import annotations

import pytest
import responses

from tests.zapier_app.helpers import KEY_A, auth

BRANDS = "http://pi.test/api/v1/brands"
READS = [
    ("get", "/zapier/v1/triggers/brands"),
    ("get", "/zapier/v1/triggers/jobs"),
    ("get", "/zapier/v1/searches/job?job_id=0f8fad5b-d9cb-469f-a165-70867728950e"),
    ("get", "/zapier/v1/searches/brand?domain=acme.example"),
]


@pytest.fixture
def pi():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _page() -> dict:
    return {"object": "list", "data": [], "has_more": False}


def _refused() -> dict:
    return {"error": {"type": "authentication_error", "code": "invalid_api_key", "message": "no"}}


@pytest.mark.parametrize(("method", "path"), READS)
def test_a_key_pi_refuses_is_401_so_zapier_asks_to_reconnect(client, pi, method, path):
    pi.get(BRANDS, status=401, json=_refused())
    response = getattr(client, method)(path, headers=auth("pi_test_revoked_key_999"))
    assert response.status_code == 401
    assert response.get_json()["error"]["code"]


def test_a_refused_key_cannot_store_a_hook(client, pi):
    pi.get(BRANDS, status=401, json=_refused())
    body = {"target_url": "https://hooks.zapier.com/hooks/standard/1/x", "event": "job.completed"}
    response = client.post("/zapier/v1/hooks", json=body, headers=auth("pi_test_revoked_9"))
    assert response.status_code == 401


def test_pi_s_yes_is_remembered_so_polls_do_not_call_pi_each_time(client, pi):
    pi.get(BRANDS, json=_page())
    for _ in range(3):
        assert client.get("/zapier/v1/triggers/brands", headers=auth(KEY_A)).status_code == 200
    assert len(pi.calls) == 1


def test_when_pi_is_down_the_ledger_still_answers_and_the_key_is_checked_later(client, pi):
    pi.get(BRANDS, status=503, json={"error": {"code": "unavailable", "message": "down"}})
    assert client.get("/zapier/v1/triggers/jobs", headers=auth(KEY_A)).get_json() == []
    pi.replace(responses.GET, BRANDS, status=401, json=_refused())
    assert client.get("/zapier/v1/triggers/jobs", headers=auth(KEY_A)).status_code == 401
