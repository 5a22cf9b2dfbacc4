"""Fault injection and the admin API."""

from __future__ import annotations

import time

import pytest
import requests

from tests.connector.pisim.helpers import assert_error


def test_rate_limit_every_nth_request_with_retry_after(pi, pisim):
    pisim.configure(rate_limit_every=3, retry_after=2)
    statuses = [pi.get("/brands") for _ in range(6)]
    assert [r.status_code for r in statuses] == [200, 200, 429, 200, 200, 429]
    limited = statuses[2]
    assert_error(limited, 429, "unkey_rate_limited", "rate_limit_error")
    assert limited.headers["Retry-After"] == "2"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert int(limited.headers["X-RateLimit-Reset"]) >= int(time.time()) + 1
    assert "Retry-After" not in statuses[0].headers
    assert statuses[0].headers["X-RateLimit-Limit"] == "3"


def test_fail_next_hits_only_its_route_count_times(pi, pisim):
    job_id = pi.extract()
    pisim.configure(fail_next=[{"status": 502, "route": "GET /api/v1/jobs/:id", "count": 2}])
    assert pi.get("/brands").status_code == 200
    assert [pi.job(job_id).status_code for _ in range(3)] == [502, 502, 200]


def test_fail_next_500_on_create_creates_nothing(pi, pisim):
    pisim.configure(fail_next=[{"status": 500, "route": "POST /api/v1/brands/extract"}])
    response = pi.post("/brands/extract", json={"url": "https://acme.com"})
    assert_error(response, 500, "job_create_failed", "api_error")
    assert pisim.stats()["jobs_created"] == 0


def test_fail_next_429_carries_retry_after(pi, pisim):
    pisim.configure(fail_next={"status": 429}, retry_after=3)
    response = pi.get("/brands")
    assert_error(response, 429, "unkey_rate_limited")
    assert response.headers["Retry-After"] == "3"


def test_error_every_injects_the_configured_status(pi, pisim):
    pisim.configure(error_every=2, error_status=503)
    assert [pi.get("/brands").status_code for _ in range(4)] == [200, 503, 200, 503]


def test_hang_next_delays_the_next_request(pi, pisim):
    pisim.configure(hang_next={"count": 1, "seconds": 0.6})
    started = time.monotonic()
    assert pi.get("/brands").status_code == 200
    assert time.monotonic() - started >= 0.6
    started = time.monotonic()
    pi.get("/brands")
    assert time.monotonic() - started < 0.3


def test_reset_next_closes_the_connection_without_a_response(pi, pisim):
    pisim.configure(reset_next={"count": 1})
    with pytest.raises(requests.ConnectionError):
        pi.get("/brands")
    assert pi.get("/brands").status_code == 200


def test_stats_count_every_request_by_route_template(pi, anon, pisim):
    job_id = pi.extract()
    pi.job(job_id)
    pi.job("bad")
    anon.get("/brands")
    stats = pisim.stats()
    assert stats["requests"] == {
        "POST /api/v1/brands/extract": 1,
        "GET /api/v1/jobs/:id": 2,
        "GET /api/v1/brands": 1,
    }
    assert stats["jobs_created"] == 1
    assert pisim.count("GET /api/v1/jobs/:id") == 2


def test_reset_forgets_jobs_and_keeps_or_restores_flags(pi, pisim):
    job_id = pi.extract()
    pisim.configure(job_seconds=7)
    pisim.reset(restore_flags=False)
    assert_error(pi.job(job_id), 404, "job_not_found")
    assert pisim.stats() == {
        "requests": {"GET /api/v1/jobs/:id": 1},
        "jobs_created": 0,
        "waiting": 0,
    }
    assert pisim.config()["job_seconds"] == 7
    pisim.reset()
    assert pisim.config()["job_seconds"] == 1


def test_admin_job_view_has_a_precise_ends_at(pi, pisim):
    job_id = pi.extract()
    view = pisim.job(job_id)
    assert isinstance(view["ends_at"], float)
    assert view["ends_at"] == pytest.approx(view["created"] + 1)
    done = pisim.complete(job_id)["job"]
    assert done["ends_at"] < view["ends_at"]


def test_bad_config_is_rejected(pisim):
    response = requests.post(pisim.base_url + "/_sim/config", json={"long_poll": "x"}, timeout=5)
    assert response.status_code == 400
    response = requests.post(pisim.base_url + "/_sim/config", json={"nope": 1}, timeout=5)
    assert response.status_code == 400
