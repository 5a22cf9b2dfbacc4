"""First attempts: a worker delivers at a job's end on its own threads, RQ keeps the rest."""

from __future__ import annotations

import threading
from concurrent.futures import Future

from rq import Queue

from connector.delivery.dispatch import delivery_state
from connector.delivery.first_attempts import FairQueue, FirstAttempts
from connector.delivery.subscriptions import DeliveryRef, Subscriber
from connector.jobs.completion import fail_record
from connector.ledger import JobRecord, get_ledger
from connector.runtime.queues import DELIVER
from tests.support.jobs import stored_job

ACCOUNT = "acct-first-attempts"


def _submitted(app, job_id: str, url: str) -> JobRecord:
    """Store an in-flight job with one webhook subscriber."""
    return stored_job(app, ACCOUNT, job_id, Subscriber("webhook", url))


def _queued(app) -> list:
    return Queue(DELIVER, connection=app.extensions["store"].redis).get_jobs()


def _in_flight(app, job_id: str) -> bool:
    with app.app_context():
        ledger = get_ledger()
        return ledger.redis.zscore(ledger.inflight_key(), f"{ACCOUNT}|{job_id}") is not None


def test_the_end_is_delivered_on_the_spot_without_a_trip_through_rq(app, first_attempts, receiver):
    record = _submitted(app, "job-now", receiver.url + "/cb")
    with app.app_context():
        fail_record(record, "Pi failed it")
        [ref] = app.extensions["subscriptions"].targets(record)
        state = delivery_state(ACCOUNT, "job-now", ref)

    # The attempt was over when the end returned: the job left the in-flight set only then.
    assert [r.json()["type"] for r in receiver.requests] == ["job.failed"]
    assert state["state"] == "delivered"
    assert _queued(app) == []
    assert not _in_flight(app, "job-now")
    assert first_attempts.pending == 0


def test_a_first_attempt_that_may_succeed_later_is_retried_through_rq(
    app, first_attempts, receiver
):
    receiver.answers.append((503, {}))
    record = _submitted(app, "job-retry", receiver.url + "/cb")
    with app.app_context():
        fail_record(record, "Pi failed it")
        scheduled = Queue(DELIVER, connection=app.extensions["store"].redis).scheduled_job_registry
        [retry_id] = scheduled.get_job_ids()
        retry = Queue(DELIVER, connection=app.extensions["store"].redis).fetch_job(retry_id)

    assert len(receiver.requests) == 1
    assert retry.args == (ACCOUNT, "job-retry", "sub:" + _sub_id(receiver), 2)


def test_a_first_attempt_that_breaks_is_queued_on_rq_instead(
    app, first_attempts, receiver, monkeypatch
):
    def broken(record, ref):
        raise ConnectionError("Redis went away mid-attempt")

    monkeypatch.setattr("connector.delivery.first_attempts.attempt_first", broken)
    record = _submitted(app, "job-broken", receiver.url + "/cb")
    with app.app_context():
        fail_record(record, "Pi failed it")

    [queued] = _queued(app)
    assert queued.args[:3] == (ACCOUNT, "job-broken", "sub:" + _sub_id(receiver))
    assert not _in_flight(app, "job-broken")


def test_a_closed_or_backed_up_pool_leaves_the_deliveries_to_rq(app, first_attempts, receiver):
    ref = DeliveryRef.to_subscriber("s1")
    record = _submitted(app, "job-full", receiver.url + "/cb")
    first_attempts.backlog = 0
    assert first_attempts.run(record, [ref]) == [ref]
    first_attempts.backlog = 10
    first_attempts.close()
    assert first_attempts.run(record, [ref]) == [ref]
    assert receiver.requests == []


def test_without_first_attempts_every_delivery_goes_to_rq(app, receiver):
    record = _submitted(app, "job-web", receiver.url + "/cb")
    with app.app_context():
        fail_record(record, "Pi failed it")
    [queued] = _queued(app)
    assert queued.args[:2] == (ACCOUNT, "job-web")
    assert receiver.requests == []


def _sub_id(receiver) -> str:
    return Subscriber("webhook", receiver.url + "/cb").id


def test_one_accounts_burst_of_ends_does_not_queue_another_accounts_delivery_behind_it():
    queue = FairQueue()
    for n in range(5):
        queue.put("noisy", (Future(), f"noisy-{n}"))
    queue.put("quiet", (Future(), "quiet-0"))
    order = [queue.get()[1] for _ in range(6)]
    # The quiet account's delivery waits for one of the noisy account's, not for all five.
    assert order.index("quiet-0") == 1
    assert [o for o in order if o.startswith("noisy")] == [f"noisy-{n}" for n in range(5)]


def test_a_closed_fair_queue_hands_out_what_it_holds_then_nothing():
    queue = FairQueue()
    queue.put("a", (Future(), "last"))
    queue.close()
    assert queue.get()[1] == "last"
    assert queue.get() is None


def test_first_attempts_take_turns_between_accounts(app, monkeypatch):
    from connector.delivery import first_attempts as module

    started, release = [], threading.Event()

    def attempt(record, ref):
        started.append(record.account_id)
        release.wait(5)
        return "delivered"

    monkeypatch.setattr(module, "attempt_first", attempt)
    pool = FirstAttempts(app, threads=1)
    try:
        ref = DeliveryRef.to_subscriber("s1")
        noisy = [JobRecord(f"n{n}", "noisy", "brand_extraction", {}, "api") for n in range(4)]
        quiet = JobRecord("q0", "quiet", "brand_extraction", {}, "api")
        futures = [pool._submit(record, ref) for record in [*noisy, quiet]]
        release.set()
        assert [f.result(5) for f in futures] == ["delivered"] * 5
    finally:
        pool.close()
    assert started.index("quiet") <= 2  # behind the one running and at most one queued
