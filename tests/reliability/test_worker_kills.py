"""A worker SIGKILLed during a long wait: every job still ends and is delivered exactly once.

Real processes: gunicorn web, worker processes (tracker + RQ threads), an RQ scheduler
process, a private redis-server, the Pi simulator. Each trial kills the worker whose tracker
follows the job while it long-polls Pi, starts a replacement like a supervisor would, and
waits for the callback. Tracker leases are short here so re-adoption takes seconds.

PIC_KILL_TRIALS sets the number of trials (default 5; the issue's figure is 20).
"""

from __future__ import annotations

import os
import signal
import time

import pytest
import redis
from rq import Worker

from connector.config import get_settings
from connector.jobs.tracker import Tracker, readoption_bound
from connector.jobs.waiting import LEASE_MARGIN
from tests.support.faults import kill_tree, start_scheduler
from tests.support.receiver import Receiver
from tests.support.stack import LiveStack

KEY = "pi_test_worker_kill_account"
AUTH = {"Authorization": f"Bearer {KEY}"}
CREATE_ROUTE = "POST /api/v1/brands/extract"
TRIALS = int(os.environ.get("PIC_KILL_TRIALS", "5"))
FAST_ABANDON = {
    "CONNECTOR_WORKER_MONITORING_SECONDS": "1",
    "CONNECTOR_WORKER_MAINTENANCE_SECONDS": "1",
    # Long enough that a busy 2-core machine never makes a live worker look dead.
    "CONNECTOR_WORKER_HEARTBEAT_GRACE_SECONDS": "3",
    "CONNECTOR_TRACKER_LEASE_SECONDS": "2",
    "CONNECTOR_TRACKER_POLL_SECONDS": "3",  # a dead tracker's poll lease lapses in 8 s
}


def _tracker_following(conn: redis.Redis, job_id: str, timeout: float = 20.0) -> int:
    """Return the pid of the worker process whose tracker follows the job."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for member, owner in conn.hgetall("pic:tracker:owners").items():
            if member.decode().endswith(f"|{job_id}"):
                return int(owner.decode().split(":")[1])  # host:pid:tracker
        time.sleep(0.05)
    raise AssertionError(f"no tracker adopted {job_id}")


def _wait_long_polling(pisim, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while pisim.stats()["waiting"] < 1:
        assert time.monotonic() < deadline, "the worker never long-polled Pi"
        time.sleep(0.05)


def _callbacks_for(receiver: Receiver, job_id: str) -> list:
    return [r for r in list(receiver.requests) if r.json()["data"]["job_id"] == job_id]


def _wait_callback(receiver: Receiver, job_id: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not _callbacks_for(receiver, job_id):
        assert time.monotonic() < deadline, f"job {job_id} was never delivered"
        time.sleep(0.1)


@pytest.mark.timeout(90 + 30 * TRIALS)
def test_sigkilled_workers_during_long_waits_deliver_every_job_exactly_once(redis_url, pisim):
    conn = redis.Redis.from_url(redis_url)
    stack = LiveStack(redis_url, pisim.base_url, FAST_ABANDON)
    stack.web.start()
    # A scheduler outside the killed workers: a dead worker's scheduler lock would otherwise
    # hold retries back for a minute (see the computation test below).
    scheduler = start_scheduler(redis_url, stack.env)
    try:
        for _ in range(2):
            stack.start_worker()
        with Receiver() as receiver:
            job_ids, kills = _run_trials(stack, conn, pisim, receiver)
            time.sleep(3)  # a duplicate delivery would arrive now
            deliveries = {job_id: len(_callbacks_for(receiver, job_id)) for job_id in job_ids}
            views = [stack.get(f"/v1/jobs/{job_id}", headers=AUTH).json() for job_id in job_ids]
    finally:
        stack.stop()
        scheduler.stop()

    print(f"\nworker kills: trials={TRIALS} kills={kills} deliveries={sorted(deliveries.values())}"
          f" pi_creates={pisim.count(CREATE_ROUTE)}")  # fmt: skip
    assert kills == TRIALS
    assert deliveries == {job_id: 1 for job_id in job_ids}
    assert [v["status"] for v in views] == ["completed"] * TRIALS
    assert all(v["brand_id"] for v in views)
    assert pisim.count(CREATE_ROUTE) == TRIALS
    assert pisim.stats()["jobs_created"] == TRIALS


def _run_trials(stack: LiveStack, conn: redis.Redis, pisim, receiver: Receiver):
    job_ids: list[str] = []
    kills = 0
    for trial in range(TRIALS):
        body = {
            "kind": "brand_extraction",
            "input": {"url": f"https://secs6-kill-{trial}.example"},
            "callback_url": f"{receiver.url}/cb/{trial}",
        }
        created = stack.post("/v1/jobs", json=body, headers=AUTH)
        assert created.status_code == 202, created.text
        job_id = created.json()["job_id"]
        job_ids.append(job_id)

        pid = _tracker_following(conn, job_id)
        _wait_long_polling(pisim)
        [victim] = [w for w in stack.workers if w.pid == pid]
        kill_tree(victim)
        stack.workers.remove(victim)
        kills += 1
        assert _callbacks_for(receiver, job_id) == []  # it died before it could deliver
        stack.start_worker()  # the supervisor's restart
        _wait_callback(receiver, job_id)
    return job_ids, kills


def test_default_settings_re_adopt_an_abandoned_job_within_two_minutes(app):
    tracker = Tracker.from_settings(app)
    # The dead tracker's lease lapses, a live tracker's next scan claims the job, and the dead
    # one's poll lease on Pi (one long-poll window plus margin) lapses before it polls again.
    poll = get_settings(app).tracker_poll_seconds
    bound = readoption_bound(tracker.lease_seconds, tracker.scan_seconds, poll)

    assert tracker.lease_seconds == 30 and poll + LEASE_MARGIN == 35
    assert bound <= 120, bound


def test_a_sigterm_still_stops_the_worker_for_good(live_stack):
    # The worker starts over after a Redis error; a signal must still end it.
    [worker] = live_stack.workers
    conn = redis.Redis.from_url(live_stack.redis_url)
    deadline = time.monotonic() + 15
    # Idle means RQ's signal handlers are in place (they come after registration).
    while not _all_idle(Worker.all(connection=conn)):
        assert time.monotonic() < deadline, "the worker never went idle"
        time.sleep(0.05)
    worker.kill(signal.SIGTERM)
    assert worker.proc.wait(timeout=15) == 0
    live_stack.workers.remove(worker)


def _all_idle(workers: list[Worker]) -> bool:
    return bool(workers) and all(w.get_state() == "idle" for w in workers)
