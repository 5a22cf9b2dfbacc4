"""Submission intents on a private Redis: accept, lease, bind, fail, discard, resolve."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from connector.auth import account_id_for
from connector.delivery.subscriptions import Subscriber
from connector.errors import ServiceUnavailable
from connector.jobs.intents import BOUND, FAILED, PENDING, Intent, get_intents, new_intent_id
from connector.jobs.queued_jobs import find_job
from connector.ledger import JobStatus, get_ledger, is_queued_id
from tests.support.intents import claimed_intent

KEY = "pi_test_intents_account"
ACCOUNT_ID = account_id_for(KEY)
URL = "https://intent.example"


def _intent(app, url: str = URL, subscribers=()) -> Intent:
    """Claim a request's key the way submit_job does and build its (unwritten) intent."""
    return claimed_intent(app, ACCOUNT_ID, url, subscribers, request_id="req_pic_test")


def _claim_again(app, url: str = URL):
    idem = app.extensions["idempotency"]
    return idem.claim(
        ACCOUNT_ID, "brand_extraction", {"url": url}, explicit=None, basis=url, deadline=0
    )


def test_a_queued_id_is_told_apart_from_pi_job_ids():
    assert is_queued_id(new_intent_id())
    assert not is_queued_id(str(uuid.uuid4()))
    assert not is_queued_id("pcq_" + "g" * 32)
    assert not is_queued_id(None)


def test_an_accepted_intent_is_leased_sealed_and_found_by_a_retry_of_the_request(app, redis_client):
    with app.app_context():
        intents = get_intents()
        secret_sub = Subscriber("manychat_push", None, {"subscriber_id": "7"}, secret="mc-secret")
        intent = _intent(app, subscribers=[secret_sub])
        sealed = intents.accept(intent, KEY)

        again = _claim_again(app)
        assert again.outcome == "intent" and again.intent_id == intent.intent_id
        loaded, stored_key = intents.load(ACCOUNT_ID, intent.intent_id)
        assert loaded.state == PENDING and stored_key == sealed
        assert loaded.subscribers == [secret_sub]
        assert loaded.claim.token == intent.claim.token
        lapse = redis_client.zscore(intents.leases_key(), intent.member)
        assert lapse > time.time() + intents.lease - 5
        # Before Pi gives a job id, the id answers a queued view.
        found = find_job(ACCOUNT_ID, intent.intent_id)
        assert found.job_id == intent.intent_id and found.status == JobStatus.QUEUED
        assert find_job(account_id_for("another key"), intent.intent_id) is None
    # The API key and the subscriber's secret are only ever stored sealed.
    dump = b"".join(
        json.dumps({k.decode(): v.decode() for k, v in redis_client.hgetall(k).items()}).encode()
        for k in redis_client.scan_iter()
        if redis_client.type(k) == b"hash"
    )
    assert KEY.encode() not in dump and b"mc-secret" not in dump


def test_an_intent_whose_claim_another_request_holds_now_writes_nothing(app, redis_client):
    with app.app_context():
        intents = get_intents()
        intent = _intent(app)
        intents.idem.release(intent.claim)
        assert _claim_again(app).outcome == "claimed"  # another request has it now
        with pytest.raises(ServiceUnavailable):
            intents.accept(intent, KEY)
        assert intents.load(ACCOUNT_ID, intent.intent_id) is None
        assert intents.pending_count() == 0


def test_a_claim_lost_in_a_failover_is_taken_again_and_a_blip_is_waited_out(
    app, redis_client, monkeypatch
):
    import redis

    with app.app_context():
        intents = get_intents()
        intent = _intent(app)
        redis_client.delete(intent.claim.redis_key)  # the new primary never got the claim
        real = intents._accept
        calls = {"n": 0}

        def flaky(**kwargs):
            calls["n"] += 1
            if calls["n"] == 1:
                raise redis.ConnectionError("primary went away")
            return real(**kwargs)

        monkeypatch.setattr(intents, "_accept", flaky)
        intents.accept(intent, KEY, time.monotonic() + 5)
        assert calls["n"] == 2
        assert _claim_again(app).intent_id == intent.intent_id


def test_binding_records_the_job_once_and_the_queued_id_resolves_to_it(app, redis_client):
    with app.app_context():
        intents = get_intents()
        sub = Subscriber("webhook", "https://receiver.example/done")
        intent = _intent(app, subscribers=[sub])
        sealed = intents.accept(intent, KEY)
        job_id = str(uuid.uuid4())
        record = intents.bind(intent, sealed, job_id, time.monotonic() + 5)

        assert record.job_id == job_id and intent.state == BOUND
        ledger = get_ledger()
        assert ledger.get(ACCOUNT_ID, job_id).origin == "manychat"
        assert ledger.get_field(ACCOUNT_ID, job_id, "api_key") == sealed
        assert any(job_id in "|".join(pair) for pair in ledger.inflight())
        assert app.extensions["subscriptions"].get(ACCOUNT_ID, job_id, sub.id) == sub
        assert intents.pending_count() == 0
        assert find_job(ACCOUNT_ID, intent.intent_id).job_id == job_id
        # The request's key now names the job itself.
        assert _claim_again(app).job_id == job_id
        # A second binding (a sender whose lease lapsed) changes nothing: the first job stays.
        other = intents.bind(intent, sealed, str(uuid.uuid4()), time.monotonic() + 5)
        assert other.job_id == job_id
        # The create's material is gone once bound.
        assert redis_client.hget(intents.key(ACCOUNT_ID, intent.intent_id), "api_key") is None


def test_a_failed_intent_ends_as_a_failed_job_under_its_own_id_and_is_delivered(app):
    with app.app_context():
        intents = get_intents()
        sub = Subscriber("webhook", "https://receiver.example/failed")
        intent = _intent(app, subscribers=[sub])
        intents.accept(intent, KEY)
        record = intents.fail(intent, "Pi said no", time.monotonic() + 5)

        assert record.job_id == intent.intent_id
        assert record.status == JobStatus.FAILED and record.error == "Pi said no"
        assert intent.state == FAILED and intents.pending_count() == 0
        found = find_job(ACCOUNT_ID, intent.intent_id)
        assert found.status == JobStatus.FAILED
        ledger = get_ledger()
        assert not any(intent.intent_id in "|".join(pair) for pair in ledger.inflight())
        # Its subscriber's delivery is queued like any job's end.
        subs = app.extensions["subscriptions"]
        assert not subs.mark_queued(ACCOUNT_ID, intent.intent_id, next(iter(subs.targets(record))))
        # The derived key never reuses a failed job: asking again submits anew.
        assert _claim_again(app).outcome == "claimed"


def test_discarding_an_intent_leaves_nothing_and_frees_the_key(app, redis_client):
    with app.app_context():
        intents = get_intents()
        intent = _intent(app)
        intents.accept(intent, KEY)
        intents.discard(intent)
        assert intents.load(ACCOUNT_ID, intent.intent_id) is None
        assert intents.pending_count() == 0
        assert _claim_again(app).outcome == "claimed"


def test_only_lapsed_leases_are_taken_and_a_postponed_intent_waits(app, redis_client):
    with app.app_context():
        intents = get_intents()
        intent = _intent(app)
        intents.accept(intent, KEY)
        assert intents.take_lapsed(10) == []
        redis_client.zadd(intents.leases_key(), {intent.member: time.time() - 1})
        assert intents.take_lapsed(10) == [(ACCOUNT_ID, intent.intent_id)]
        assert intents.take_lapsed(10) == []  # taken: leased again
        intents.postpone(intent, 0)
        assert intents.take_lapsed(10) == [(ACCOUNT_ID, intent.intent_id)]
        assert intents.load(ACCOUNT_ID, intent.intent_id)[0].attempts == 1


def test_a_retry_attaches_its_subscribers_to_the_intent_then_to_its_job(app):
    with app.app_context():
        intents = get_intents()
        intent = _intent(app)
        sealed = intents.accept(intent, KEY)
        early = Subscriber("webhook", "https://receiver.example/early")
        intents.attach(ACCOUNT_ID, intent.intent_id, [early])
        # The sender's copy of the intent predates the retry: the binding reads what is stored.
        record = intents.bind(intent, sealed, str(uuid.uuid4()), time.monotonic() + 5)
        late = Subscriber("webhook", "https://receiver.example/late")
        intents.attach(ACCOUNT_ID, intent.intent_id, [late])
        subs = app.extensions["subscriptions"]
        assert subs.get(ACCOUNT_ID, record.job_id, early.id) == early
        assert subs.get(ACCOUNT_ID, record.job_id, late.id) == late
