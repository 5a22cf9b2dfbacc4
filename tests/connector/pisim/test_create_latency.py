"""The create_seconds control: a slower Pi whose creates answer late, without blocking others."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from connector.pisim import parse_args
from tests.connector.pisim.helpers import API_KEY, PiHttp

PROMPT = {"prompt": "a red shoe on a white table"}
CREATE_ROUTES = [
    ("/brands/extract", {"url": "https://acme.com"}),
    ("/images/generations", PROMPT),
    ("/ads/generate", PROMPT),
    ("/campaigns/generate", PROMPT),
    ("/images/campaigns", PROMPT),
]


@pytest.mark.parametrize(("path", "body"), CREATE_ROUTES)
def test_create_seconds_delays_every_create_route(pi, pisim, path, body):
    pisim.configure(create_seconds=0.4)
    started = time.monotonic()
    job_id = pi.create(path, body)
    assert time.monotonic() - started >= 0.4
    assert pisim.job(job_id)["id"] == job_id


def test_creates_answer_at_once_by_default(pi, pisim):
    assert pisim.config()["create_seconds"] == 0
    started = time.monotonic()
    pi.extract()
    assert time.monotonic() - started < 0.4


def test_a_slow_create_does_not_hold_up_other_requests(pi, pisim):
    job_id = pi.extract()
    pisim.configure(create_seconds=1.5)

    def create() -> str:
        return PiHttp(pisim.base_url, API_KEY).extract("https://slow-create.example")

    with ThreadPoolExecutor(max_workers=2) as pool:
        started = time.monotonic()
        creates = [pool.submit(create) for _ in range(2)]
        time.sleep(0.3)  # both creates are now waiting inside the simulator
        assert pi.get("/brands").status_code == 200
        assert pi.job(job_id).status_code == 200
        assert pisim.stats()["jobs_created"] == 3
        assert not any(future.done() for future in creates)
        assert time.monotonic() - started < 1.2
        job_ids = [future.result() for future in creates]
        elapsed = time.monotonic() - started
    # Two 1.5 s creates side by side: they waited together, not one after the other.
    assert len(set(job_ids)) == 2
    assert 1.5 <= elapsed < 2.8


def test_a_create_whose_client_gives_up_still_writes_its_job(pi, pisim):
    pisim.configure(create_seconds=5)
    with pytest.raises(requests.ReadTimeout):
        pi.post("/brands/extract", json={"url": "https://acme.com"}, timeout=0.5)
    assert pisim.stats()["jobs_created"] == 1
    assert pi.get("/brands").status_code == 200


def test_create_seconds_is_a_setting_reset_restores(pisim):
    assert pisim.configure(create_seconds=2.5)["create_seconds"] == 2.5
    pisim.reset()
    assert pisim.config()["create_seconds"] == 0


def test_a_negative_create_seconds_is_rejected(pisim):
    response = requests.post(
        pisim.base_url + "/_sim/config", json={"create_seconds": -1}, timeout=5
    )
    assert response.status_code == 400
    assert "create_seconds" in response.json()["error"]["message"]


def test_create_seconds_has_a_command_line_flag():
    assert parse_args([]).create_seconds == 0.0
    assert parse_args(["--create-seconds", "2.5"]).create_seconds == 2.5
    with pytest.raises(SystemExit):
        parse_args(["--create-seconds", "-1"])
