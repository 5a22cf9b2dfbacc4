"""Binding an intent: one guarded round trip when it is as written, else the watched path."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from connector.auth import account_id_for
from connector.delivery.subscriptions import Subscriber
from connector.jobs import intent_binding
from connector.jobs.account_limits import get_account_limits
from connector.jobs.intents import BOUND, get_intents
from connector.ledger import get_ledger
from tests.support.intents import claimed_intent

KEY = "pi_test_intent_binding_account"
ACCOUNT_ID = account_id_for(KEY)


def _accepted(app, subscribers=(), url: str | None = None):
    """Claim, admit and accept a request the way submit_job does; return it and its key."""
    url = url or f"https://bind-{uuid.uuid4().hex[:8]}.example"
    intent = claimed_intent(app, ACCOUNT_ID, url, subscribers, request_id="req_pic_binding")
    reservation = get_account_limits().admit(ACCOUNT_ID, intent.claim.token, 30)
    sealed = get_intents().accept(intent, KEY)
    return intent, sealed, reservation


def _in_flight(redis_client, reservation) -> set[str]:
    key = get_account_limits().settle_args(reservation, "")[0]
    return {m.decode() for m in redis_client.zrange(key, 0, -1)}


def _watched_path_forbidden(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the guarded bind should have applied the writes")

    monkeypatch.setattr(intent_binding, "_settle_watched", forbidden)


def test_an_untouched_intent_binds_in_one_call_with_its_reservation_settled(
    app, redis_client, monkeypatch
):
    with app.app_context():
        sub = Subscriber("manychat_push", None, {"subscriber_id": "9"}, secret="mc-secret")
        intent, sealed, reservation = _accepted(app, [sub])
        _watched_path_forbidden(monkeypatch)
        job_id = str(uuid.uuid4())
        record = get_intents().bind(intent, sealed, job_id, time.monotonic() + 5, reservation)

        assert record.job_id == job_id and intent.state == BOUND
        ledger = get_ledger()
        assert ledger.get_field(ACCOUNT_ID, job_id, "api_key") == sealed
        assert app.extensions["subscriptions"].get(ACCOUNT_ID, job_id, sub.id) == sub
        assert _in_flight(redis_client, reservation) == {job_id}
        assert get_intents().pending_count() == 0


def test_binding_keeps_the_secrets_the_intent_sealed_instead_of_encrypting_again(app, monkeypatch):
    with app.app_context():
        sub = Subscriber("manychat_push", None, {"subscriber_id": "9"}, secret="mc-secret")
        intent, sealed, reservation = _accepted(app, [sub])

        def no_encryption(plaintext):
            raise AssertionError("the bind encrypted a secret the intent already holds sealed")

        monkeypatch.setattr(app.extensions["secrets"], "encrypt", no_encryption)
        job_id = str(uuid.uuid4())
        get_intents().bind(intent, sealed, job_id, time.monotonic() + 5, reservation)

        assert app.extensions["subscriptions"].get(ACCOUNT_ID, job_id, sub.id) == sub


def test_a_retry_that_attached_the_same_subscriber_with_a_new_secret_is_not_missed(app):
    with app.app_context():
        old = Subscriber("manychat_push", None, {"subscriber_id": "9"}, secret="old-secret")
        intent, sealed, reservation = _accepted(app, [old])
        new = Subscriber("manychat_push", None, {"subscriber_id": "9"}, secret="new-secret")
        assert new.id == old.id  # the same subscriber: the intent's field count is unchanged
        get_intents().attach(ACCOUNT_ID, intent.intent_id, [new])
        job_id = str(uuid.uuid4())
        get_intents().bind(intent, sealed, job_id, time.monotonic() + 5, reservation)

        stored = app.extensions["subscriptions"].get(ACCOUNT_ID, job_id, new.id)
        assert stored.secret == "new-secret"


def test_a_subscriber_added_by_a_process_that_keeps_no_count_is_not_missed(app, redis_client):
    with app.app_context():
        intent, sealed, reservation = _accepted(app)
        late = Subscriber("webhook", "https://receiver.example/late")
        # As a process of the previous release attaches: the field only, no ATTACHED count.
        key = get_intents().key(ACCOUNT_ID, intent.intent_id)
        redis_client.hset(key, f"sub:{late.id}", late.to_json())
        job_id = str(uuid.uuid4())
        get_intents().bind(intent, sealed, job_id, time.monotonic() + 5, reservation)

        assert app.extensions["subscriptions"].get(ACCOUNT_ID, job_id, late.id) == late


def test_an_intent_another_process_bound_keeps_its_job_and_the_reservation_follows_it(
    app, redis_client
):
    with app.app_context():
        intents = get_intents()
        intent, sealed, reservation = _accepted(app)
        other, _ = intents.load(ACCOUNT_ID, intent.intent_id)
        first = str(uuid.uuid4())
        intents.bind(other, sealed, first, time.monotonic() + 5)
        second = str(uuid.uuid4())
        record = intents.bind(intent, sealed, second, time.monotonic() + 5, reservation)

        assert record.job_id == first
        assert get_ledger().get(ACCOUNT_ID, second) is None
        assert _in_flight(redis_client, reservation) == {first}


def test_an_intent_lost_in_a_failover_is_still_recorded(app, redis_client):
    with app.app_context():
        intents = get_intents()
        intent, sealed, reservation = _accepted(app)
        redis_client.delete(intents.key(ACCOUNT_ID, intent.intent_id))
        job_id = str(uuid.uuid4())
        record = intents.bind(intent, sealed, job_id, time.monotonic() + 5, reservation)

        assert record.job_id == job_id
        assert get_ledger().get(ACCOUNT_ID, job_id) is not None
        assert _in_flight(redis_client, reservation) == {job_id}


@pytest.mark.parametrize("applied", [True, False], ids=["reply_lost", "never_arrived"])
def test_a_reconnect_during_the_guarded_bind_records_the_job_once(
    app, redis_client, monkeypatch, applied
):
    with app.app_context():
        intents = get_intents()
        intent, sealed, reservation = _accepted(app)
        real = intents.guarded_bind

        def cut(**kwargs):
            if applied:
                real(**kwargs)
            raise redis.ConnectionError("connection reset")

        monkeypatch.setattr(intents, "guarded_bind", cut)
        job_id = str(uuid.uuid4())
        record = intents.bind(intent, sealed, job_id, time.monotonic() + 5, reservation)

        assert record.job_id == job_id and intent.state == BOUND
        ledger = get_ledger()
        assert ledger.get(ACCOUNT_ID, job_id) is not None
        history = redis_client.lrange(ledger.history_key(ACCOUNT_ID, job_id), 0, -1)
        assert len(history) == 1  # written once, not once per path
        assert _in_flight(redis_client, reservation) == {job_id}


def test_a_failure_binds_in_one_call_and_keeps_its_lease(app, redis_client, monkeypatch):
    with app.app_context():
        intents = get_intents()
        intent, _, _ = _accepted(app)
        _watched_path_forbidden(monkeypatch)
        monkeypatch.setattr(intents, "release_lease", lambda intent: None)
        record = intents.fail(intent, "Pi said no", time.monotonic() + 5)

        assert record.job_id == intent.intent_id and record.error == "Pi said no"
        assert intents.pending_count() == 1  # until its deliveries are queued


def test_the_guarded_bind_writes_text_and_numbers_exactly(app, redis_client, monkeypatch):
    with app.app_context():
        sub = Subscriber(
            "webhook", "https://receiver.example/☕", {"note": "caf\u00e9\x1f\U0001f600"}
        )
        intent, sealed, reservation = _accepted(app, [sub])
        intent.origin_ref = "shop-\u00e9\x1f\U0001f600"
        intent.created_at = time.time() - 1 / 3  # all 17 significant digits
        _watched_path_forbidden(monkeypatch)
        job_id = str(uuid.uuid4())
        get_intents().bind(intent, sealed, job_id, time.monotonic() + 5, reservation)

        ledger = get_ledger()
        stored = ledger.get(ACCOUNT_ID, job_id)
        assert stored.origin_ref == intent.origin_ref
        assert stored.created_at == intent.created_at
        jobs = ledger.account_key(ACCOUNT_ID, "jobs")
        assert redis_client.zscore(jobs, job_id) == intent.created_at
        assert app.extensions["subscriptions"].get(ACCOUNT_ID, job_id, sub.id) == sub
