"""A crash (Redis or the process) between storing a job's end and queueing its deliveries.

Found by tests/reliability/test_redis_crash.py: the end was stored, the job left the
in-flight set, and its delivery was never queued (or marked queued and never enqueued), so
an acknowledged job was never delivered.
"""

from __future__ import annotations

import contextlib
import threading
import time

import redis
from rq import Queue

from connector.delivery import dispatch
from connector.delivery.dispatch import fan_out, first_attempt_id
from connector.delivery.subscriptions import DeliveryRef, Subscriber
from connector.jobs import tracker as tracker_module
from connector.jobs.completion import fail_record
from connector.jobs.tracker import Tracker
from connector.ledger import JobRecord, JobStatus, get_ledger
from connector.runtime.queues import DELIVER
from tests.support.jobs import stored_job

ACCOUNT = "acct-interrupted"


def _submitted(app, job_id: str) -> JobRecord:
    """Store an in-flight job with one webhook subscriber."""
    return stored_job(app, ACCOUNT, job_id, Subscriber("webhook", "https://hooks.example/cb"))


def _queued_deliveries(app) -> list:
    queue = Queue(DELIVER, connection=app.extensions["store"].redis)
    return queue.get_jobs()


def test_an_end_keeps_the_job_in_flight_until_its_deliveries_are_queued(app, monkeypatch):
    record = _submitted(app, "job-cut")
    seen = {}

    def crash_after_finish(ended, **_):
        ledger = get_ledger()
        seen["in_flight"] = ledger.redis.zscore(ledger.inflight_key(), f"{ACCOUNT}|job-cut")
        raise ConnectionError("Redis went away")

    monkeypatch.setattr("connector.jobs.completion.fan_out", crash_after_finish)
    with app.app_context():
        with contextlib.suppress(ConnectionError):
            fail_record(record, "Pi failed it")
        # Before: the job had already left the in-flight set, so no tracker ever came back.
        assert seen["in_flight"] is not None
        ledger = get_ledger()
        assert ledger.redis.zscore(ledger.inflight_key(), f"{ACCOUNT}|job-cut") is not None


def test_a_tracker_settles_an_ended_job_left_in_flight(app, monkeypatch):
    record = _submitted(app, "job-left")
    with app.app_context():
        record.status, record.error = JobStatus.FAILED, "Pi failed it"
        assert get_ledger().finish(record, leave_inflight=False)  # then the crash
    monkeypatch.setattr(tracker_module, "SETTLE_AFTER_SECONDS", 0.0)

    tracker = Tracker(app, capacity=10, lease_seconds=5)
    assert tracker.follow_all() == 1

    with app.app_context():
        ledger = get_ledger()
        assert ledger.redis.zcard(ledger.inflight_key()) == 0
        assert ledger.redis.zcard(tracker.leases_key) == 0
    [queued] = _queued_deliveries(app)
    assert queued.args[:2] == (ACCOUNT, "job-left")


def test_a_recovering_fan_out_queues_a_delivery_marked_but_never_queued(app):
    record = _submitted(app, "job-marked")
    with app.app_context():
        record.status, record.error = JobStatus.FAILED, "Pi failed it"
        get_ledger().finish(record, leave_inflight=False)
        subs = app.extensions["subscriptions"]
        [ref] = subs.targets(record)
        assert subs.mark_queued(ACCOUNT, "job-marked", ref)  # ... and Redis died here

        assert fan_out(record) == 0  # the plain fan-out trusts the mark
        assert fan_out(record, recover=True) == 1
        assert fan_out(record, recover=True) == 0  # now its first attempt exists
    [queued] = _queued_deliveries(app)
    assert queued.id == first_attempt_id(ACCOUNT, "job-marked", DeliveryRef.parse(str(ref)))


def test_a_settle_waits_for_a_recent_end_that_another_process_may_be_finishing(app, monkeypatch):
    record = _submitted(app, "job-recent")
    with app.app_context():
        record.status, record.error = JobStatus.FAILED, "Pi failed it"
        get_ledger().finish(record, leave_inflight=False)
    monkeypatch.setattr(tracker_module, "SETTLE_AFTER_SECONDS", 0.6)
    started = time.monotonic()

    def finished_elsewhere():
        with app.app_context():
            get_ledger().leave_inflight(record)

    threading.Timer(0.2, finished_elsewhere).start()
    tracker = Tracker(app, capacity=10, lease_seconds=5)
    assert tracker.follow_all() == 1
    assert time.monotonic() - started >= 0.5
    assert _queued_deliveries(app) == []  # the other process owns the fan-out


def test_a_fan_out_cut_between_the_mark_and_the_enqueue_queues_the_delivery_on_retry(
    app, monkeypatch
):
    # Redis SIGKILLed under AOF `always`: the "queued" mark was written, the RQ enqueue was not,
    # and the retried fan-out trusted the mark, so the job left the in-flight set undelivered.
    record = _submitted(app, "job-torn")
    real_enqueue = dispatch.enqueue_delivery
    calls = []

    def enqueue_once_dead(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise redis.ConnectionError("Redis went away")
        return real_enqueue(*args, **kwargs)

    monkeypatch.setattr(dispatch, "enqueue_delivery", enqueue_once_dead)
    with app.app_context():
        fail_record(record, "Pi failed it")
        ledger = get_ledger()
        assert ledger.redis.zscore(ledger.inflight_key(), f"{ACCOUNT}|job-torn") is None
    [queued] = _queued_deliveries(app)
    assert queued.args[:2] == (ACCOUNT, "job-torn")
