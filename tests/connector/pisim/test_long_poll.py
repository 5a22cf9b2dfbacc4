"""Long-poll: poll (faithful 1 s checks) vs wake, deadlines and concurrency."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tests.connector.pisim.helpers import PiHttp


def _timed_wait(pi, job_id: str, timeout_seconds: int = 10) -> tuple[float, dict]:
    started = time.monotonic()
    data = pi.wait(job_id, timeout_seconds=timeout_seconds)
    return time.monotonic() - started, data


def test_wake_answers_the_moment_the_job_ends(pi, pisim):
    pisim.configure(job_seconds=1.5)
    job_id = pi.extract()
    elapsed, data = _timed_wait(pi, job_id)
    assert data["status"] == "completed"
    assert 1.3 <= elapsed < 1.7


def test_poll_answers_on_the_next_one_second_check(pi, pisim):
    pisim.configure(job_seconds=1.5, long_poll="poll")
    job_id = pi.extract()
    elapsed, data = _timed_wait(pi, job_id)
    assert data["status"] == "completed"
    assert 1.9 <= elapsed < 2.5


def test_deadline_returns_200_with_the_non_terminal_job(pi, pisim):
    pisim.configure(job_seconds=30)
    for mode in ("wake", "poll"):
        pisim.configure(long_poll=mode)
        started = time.monotonic()
        response = pi.job(pi.extract(), wait_for_completion="true", timeout_seconds=1)
        elapsed = time.monotonic() - started
        assert response.status_code == 200
        assert response.json()["status"] == "completed"
        assert response.json()["data"]["status"] == "queued"
        assert 0.9 <= elapsed < 1.5, mode


def test_forced_completion_wakes_waiters(pi, pisim):
    pisim.configure(job_seconds=30)
    job_id = pi.extract()
    result: dict = {}
    waiter = threading.Thread(target=lambda: result.update(_timed_wait(pi, job_id)[1]))
    waiter.start()
    time.sleep(0.3)
    pisim.complete(job_id)
    waiter.join(5)
    assert result["status"] == "completed"


def test_fifty_concurrent_long_polls_are_all_answered(pisim):
    pi = PiHttp(pisim.base_url, "pi_test_many")
    job_ids = [pi.extract(f"https://shop{i}.example") for i in range(50)]

    def wait(job_id: str) -> str:
        return PiHttp(pisim.base_url, "pi_test_many").wait(job_id, timeout_seconds=10)["status"]

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(wait, job_ids))
    assert statuses == ["completed"] * 50


def test_three_hundred_waiters_on_one_job_are_answered_together(pisim):
    pisim.configure(job_seconds=3)
    pi = PiHttp(pisim.base_url, "pi_test_crowd")
    job_id = pi.extract()

    def wait(_: int) -> str:
        client = PiHttp(pisim.base_url, "pi_test_crowd")
        data = client.wait(job_id, timeout_seconds=20)
        return data["status"]

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=300) as pool:
        statuses = list(pool.map(wait, range(300)))
    assert statuses == ["completed"] * 300
    assert time.monotonic() - started < 10
