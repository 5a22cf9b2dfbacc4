"""A job's end costs few Redis round trips: marking its deliveries and each first attempt."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from rq import Queue

from connector.delivery.delivery_log import AttemptEntry, delivery_id, get_delivery_log
from connector.delivery.dispatch import (
    attempt_first,
    delivery_state,
    fan_out,
    first_attempt_id,
    register_delivery_kind,
)
from connector.delivery.outcomes import DELIVERED, Outcome
from connector.delivery.subscriptions import DeliveryRef, Subscriber
from connector.ledger import JobRecord, JobStatus, get_ledger
from connector.runtime.queues import DELIVER
from tests.support.jobs import stored_job
from tests.support.round_trips import RoundTrips

ACCOUNT = "acct-round-trips"


def _ended(app, job_id: str, *subscribers: Subscriber) -> JobRecord:
    """Store a job with its subscribers and end it, leaving its fan-out to the test."""
    record = stored_job(app, ACCOUNT, job_id, *subscribers)
    with app.app_context():
        record.status, record.error = JobStatus.FAILED, "Pi failed it"
        get_ledger().finish(record, leave_inflight=False)
    return record


def test_a_delivered_first_attempt_costs_three_round_trips_from_the_end(
    app, first_attempts, receiver, monkeypatch
):
    # Issue 12: each round trip costs the worker ~150 µs of CPU. Before: 8 (targets, the
    # marks, the busy mark, the target, the signing secrets, the state, SCRIPT EXISTS, the log),
    # then 4 (the signing secrets still read on their own); now the kind's prefetch reads them
    # with the target.
    callback = Subscriber("webhook", receiver.url + "/cb")
    warm_up = _ended(app, "job-warm-up", callback)
    with app.app_context():
        fan_out(warm_up)  # loads the scripts, opens the connections
    record = _ended(app, "job-counted", callback)
    trips = RoundTrips(monkeypatch)
    with app.app_context():
        assert fan_out(record) == 1
    # Mark the deliveries queued; mark busy + read the target and signing secrets; record it.
    assert trips.count == 3
    with app.app_context():
        ref = DeliveryRef.to_subscriber(callback.id)
        assert delivery_state(ACCOUNT, "job-counted", ref)["state"] == DELIVERED
        [logged] = get_delivery_log().deliveries(ACCOUNT, "job-counted")
    assert logged["state"] == DELIVERED and logged["attempts"] == 1
    assert not logged["in_flight"]
    assert len(receiver.requests) == 2


def test_marking_a_jobs_deliveries_lists_what_targets_lists_and_marks_each_once(app):
    subs = app.extensions["subscriptions"]
    record = _ended(app, "job-marks", Subscriber("webhook", "https://a.example/cb"))
    with app.app_context():
        subs.create_hook(ACCOUNT, "zapier_hook", "https://z.example/1", "job.failed")
        subs.create_hook(ACCOUNT, "zapier_hook", "https://z.example/2", "brand.extracted")
        subs.create_hook("another-account", "zapier_hook", "https://z.example/3", "job.failed")
        expected = subs.targets(record)
        assert len(expected) == 2  # the subscriber and this account's job.failed hook

        marked = subs.mark_targets_queued(record)
        again = subs.mark_targets_queued(record)
    assert marked == [(ref, True) for ref in expected]
    assert again == [(ref, False) for ref in expected]


def test_racing_fan_outs_mark_each_delivery_queued_once(app):
    subs = app.extensions["subscriptions"]
    record = _ended(
        app, "job-race", *[Subscriber("webhook", f"https://a.example/{n}") for n in "ab"]
    )

    def mark(_):
        with app.app_context():
            return subs.mark_targets_queued(record)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(mark, range(16)))
    firsts = [ref for result in results for ref, first in result if first]
    assert sorted(map(str, firsts)) == sorted(str(ref) for ref, _ in results[0])


def test_a_job_with_no_one_to_deliver_to_marks_nothing(app):
    record = _ended(app, "job-alone")
    with app.app_context():
        assert app.extensions["subscriptions"].mark_targets_queued(record) == []
        assert fan_out(record, recover=True) == 0
        ledger = get_ledger()
        assert not ledger.redis.exists(ledger.account_key(ACCOUNT, "job", "job-alone", "queued"))


@pytest.mark.parametrize("via", ["subscriber", "hook"])
def test_a_first_attempt_is_marked_busy_before_its_target_is_called(app, first_attempts, via):
    seen = []

    def handler(record, target):
        ledger = get_ledger()
        busy = ledger.account_key(ACCOUNT, "job", record.job_id, "dlbusy")
        until = ledger.redis.hget(busy, delivery_id(str(target.ref)))
        seen.append(until is not None and float(until) > time.time())
        return Outcome(DELIVERED, "200")

    register_delivery_kind(app, "counted", handler)
    subscribers = [Subscriber("counted", "https://a.example/cb")] if via == "subscriber" else []
    record = _ended(app, f"job-busy-{via}", *subscribers)
    with app.app_context():
        if via == "hook":
            app.extensions["subscriptions"].create_hook(
                ACCOUNT, "counted", "https://z.example/h", "job.failed"
            )
        assert fan_out(record) == 1
        [logged] = get_delivery_log().deliveries(ACCOUNT, record.job_id)
    assert seen == [True]
    assert logged["state"] == DELIVERED and not logged["in_flight"]


def test_recording_an_attempt_again_after_a_lost_reply_logs_it_once(app):
    with app.app_context():
        log, ledger = get_delivery_log(), get_ledger()
        state_key = ledger.account_key(ACCOUNT, "job", "job-again", "dlv", "sub:s1")
        entry = AttemptEntry(time.time(), DELIVERED)
        state = {"state": DELIVERED, "attempts": 1, "updated_at": repr(entry.at)}
        for _ in range(2):  # write_patiently repeats a write whose reply was lost
            log.record(
                ACCOUNT,
                "job-again",
                "sub:s1",
                "webhook",
                entry,
                DELIVERED,
                settled=True,
                state_hash=(state_key, state),
            )
        [logged] = log.deliveries(ACCOUNT, "job-again")
        stored = ledger.redis.hgetall(state_key)
    assert logged["attempts"] == 1 and len(logged["attempt_log"]) == 1
    assert stored[b"state"] == b"delivered" and stored[b"attempts"] == b"1"
    assert 0 < ledger.redis.ttl(state_key) <= ledger.retention


def test_recording_an_attempt_loads_the_log_script_on_a_server_that_lost_it(app):
    with app.app_context():
        log, ledger = get_delivery_log(), get_ledger()
        ledger.redis.script_flush()  # a restarted server (the test's own private one)
        log.record(
            ACCOUNT,
            "job-flushed",
            "sub:s1",
            "webhook",
            AttemptEntry(1.0, "failed"),
            "failed",
            settled=True,
        )
        [logged] = log.deliveries(ACCOUNT, "job-flushed")
        member = f"{ACCOUNT}|job-flushed|{delivery_id('sub:s1')}"
        assert ledger.redis.zscore(log.failed_key(), member) == 1.0
    assert logged["state"] == "failed" and logged["attempts"] == 1


def test_a_recovering_fan_out_queues_only_what_a_dead_fan_out_marked_and_never_attempted(
    app, first_attempts, receiver
):
    attempted = Subscriber("webhook", receiver.url + "/attempted")
    lost = Subscriber("webhook", receiver.url + "/lost")
    record = _ended(app, "job-dead-fan-out", attempted, lost)
    with app.app_context():
        # The dead process marked both in one step and made one first attempt before it died.
        marked = app.extensions["subscriptions"].mark_targets_queued(record)
        assert [first for _, first in marked] == [True, True]
        assert first_attempts.run(record, [DeliveryRef.to_subscriber(attempted.id)]) == []

        assert fan_out(record) == 0  # a plain fan-out trusts the marks
        assert fan_out(record, recover=True) == 1
        assert fan_out(record, recover=True) == 0  # now its first attempt is on RQ
        [queued] = Queue(DELIVER, connection=app.extensions["store"].redis).get_jobs()
    assert queued.id == first_attempt_id(ACCOUNT, record.job_id, DeliveryRef.to_subscriber(lost.id))
    assert [r.path for r in receiver.requests] == ["/attempted"]


class _AccountNote:
    """A prefetch of one account-keyed value, as the webhook kind reads its signing secrets."""

    def __init__(self, app) -> None:
        self.key = app.extensions["ledger"].account_key(ACCOUNT, "note")

    def queue(self, pipe, account_id: str) -> None:
        pipe.get(self.key)

    def parse(self, account_id: str, reply) -> str:
        return f"{account_id}:{reply.decode()}"


def test_a_kinds_prefetch_reaches_its_handler_from_the_target_reads_round_trip(app, monkeypatch):
    seen = {}

    def handler(record, target):
        seen[target.kind] = target.prefetched
        return Outcome(DELIVERED, "200")

    note = _AccountNote(app)
    register_delivery_kind(app, "noted", handler, prefetch=note)
    register_delivery_kind(app, "plain", handler)
    subscribers = [Subscriber(kind, f"https://{kind}.example/cb") for kind in ("noted", "plain")]
    record = _ended(app, "job-prefetch", *subscribers)
    with app.app_context():
        get_ledger().redis.set(note.key, "v1")
        refs = [DeliveryRef.to_subscriber(s.id) for s in subscribers]
        trips = RoundTrips(monkeypatch)
        assert [attempt_first(record, ref) for ref in refs] == [DELIVERED] * 2
    assert seen == {"noted": f"{ACCOUNT}:v1", "plain": None}  # a kind without one gets None
    # Each attempt: busy mark + target + every kind's prefetch in one trip, then the log write.
    assert trips.count == 2 * 2


def test_a_prefetch_that_fails_to_parse_leaves_the_read_to_the_handler(app, caplog):
    class Broken(_AccountNote):
        def parse(self, account_id: str, reply) -> str:
            raise ValueError("unreadable")

    seen = []

    def handler(record, target):
        seen.append(target.prefetched)
        return Outcome(DELIVERED, "200")

    register_delivery_kind(app, "broken", handler, prefetch=Broken(app))
    subscriber = Subscriber("broken", "https://a.example/cb")
    record = _ended(app, "job-broken-prefetch", subscriber)
    with app.app_context():
        assert attempt_first(record, DeliveryRef.to_subscriber(subscriber.id)) == DELIVERED
    assert seen == [None]
    assert "prefetch for delivery kind broken failed: ValueError" in caplog.text
