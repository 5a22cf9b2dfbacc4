"""Idempotency-Key on image and campaign creates, per org and scope."""

from __future__ import annotations

from tests.connector.pisim.helpers import assert_error


def test_same_key_same_body_replays_the_stored_202(pi, pisim):
    headers = {"Idempotency-Key": "order-42"}
    first = pi.post("/images/generations", json={"prompt": "shoe"}, headers=headers)
    again = pi.post("/ads/generate", json={"prompt": "  shoe ", "x": 1}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["X-Idempotency-Replayed"] == "true"
    assert "X-Idempotency-Replayed" not in first.headers
    assert again.headers["X-Request-Id"] != first.headers["X-Request-Id"]
    assert pisim.stats()["jobs_created"] == 1


def test_same_key_different_body_is_409_mismatch(pi):
    headers = {"Idempotency-Key": "order-42"}
    pi.create("/campaigns/generate", {"prompt": "shoe"}, headers=headers)
    response = pi.post("/images/campaigns", json={"prompt": "boot"}, headers=headers)
    error = assert_error(response, 409, "idempotency_key_mismatch", "invalid_request_error")
    assert error["param"] == "Idempotency-Key"


def test_keys_are_scoped_per_org_and_per_endpoint_family(pi, other_pi):
    headers = {"Idempotency-Key": "k"}
    ad = pi.create("/images/generations", {"prompt": "shoe"}, headers=headers)
    campaign = pi.create("/campaigns/generate", {"prompt": "shoe"}, headers=headers)
    foreign = other_pi.create("/images/generations", {"prompt": "shoe"}, headers=headers)
    assert len({ad, campaign, foreign}) == 3


def test_brand_extract_ignores_the_key(pi, pisim):
    headers = {"Idempotency-Key": "same"}
    first = pi.create("/brands/extract", {"url": "https://acme.com"}, headers=headers)
    second = pi.create("/brands/extract", {"url": "https://acme.com"}, headers=headers)
    assert first != second
    assert pisim.stats()["jobs_created"] == 2


def test_a_502_stores_no_record_so_the_key_creates_a_new_job(pi, pisim):
    pisim.configure(fail_next={"status": 502, "route": "POST /api/v1/images/generations"})
    headers = {"Idempotency-Key": "retry-me"}
    failed = pi.post("/images/generations", json={"prompt": "shoe"}, headers=headers)
    assert_error(failed, 502, "job_trigger_failed", "api_error")
    job_id = pi.create("/images/generations", {"prompt": "shoe"}, headers=headers)
    orphans = [j for j in pisim.jobs() if j["id"] != job_id]
    assert len(orphans) == 1 and orphans[0]["status"] == "failed"
    assert orphans[0]["trigger_failed"] is True
