"""Submitting within a budget: in time the job, else `queued`; what a late failure becomes."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import redis
import requests

from connector import create_app
from connector.auth import Account, account_id_for
from connector.jobs.handoff import (
    after_failure,
    drain,
    resume,
)
from connector.jobs.intents import BOUND, FAILED, PENDING, Intent, get_intents, new_intent_id
from connector.jobs.pi_creates import NoCreateSlot
from connector.jobs.queued_jobs import find_job
from connector.jobs.submission import submit_job
from connector.ledger import JobStatus, get_ledger, is_queued_id
from connector.pi import PiServerError, PiTimeout
from connector.pi.exceptions import PiBadRequest

KEY = "pi_test_handoff_account"
ACCOUNT = Account(account_id_for(KEY), KEY)
BRAND_CREATE = "POST /api/v1/brands/extract"
IMAGE_CREATE = "POST /api/v1/images/generations"


def _submit(app, kind="brand_extraction", payload=None, seconds=5.0, **kw):
    payload = payload or {"url": "https://handoff.example"}
    with app.test_request_context():
        return submit_job(
            ACCOUNT, kind, payload, origin="api", deadline=time.monotonic() + seconds, **kw
        )


def test_a_create_in_time_answers_the_job_and_binds_the_intent(sim_app, pisim, redis_client):
    submission = _submit(sim_app)
    assert submission.created and not submission.queued
    [job] = pisim.jobs()
    assert submission.record.job_id == job["id"]
    with sim_app.app_context():
        assert get_intents().pending_count() == 0
        assert get_ledger().get(ACCOUNT.account_id, job["id"]) is not None


def test_a_slow_create_answers_queued_then_binds_once_pi_answers(sim_app, pisim):
    pisim.configure(create_seconds=3)
    try:
        submission = _submit(sim_app, seconds=0.5)
        assert submission.queued and submission.created
        assert submission.record.status == JobStatus.QUEUED
        # The same request while the create is still on its way: the same queued id.
        again = _submit(sim_app, seconds=0.3)
        assert again.record.job_id == submission.record.job_id and not again.created
        assert drain(15) == 0
    finally:
        pisim.configure(create_seconds=0)
    [job] = pisim.jobs()
    with sim_app.app_context():
        assert find_job(ACCOUNT.account_id, submission.record.job_id).job_id == job["id"]
    assert _submit(sim_app).record.job_id == job["id"]
    assert pisim.count(BRAND_CREATE) == 1


def test_an_error_within_the_budget_is_answered_and_leaves_nothing(sim_app, pisim):
    pisim.configure(fail_next=[{"status": 500, "route": BRAND_CREATE, "count": 1}])
    with pytest.raises(PiServerError):
        _submit(sim_app)
    with sim_app.app_context():
        assert get_intents().pending_count() == 0
        assert get_ledger().list_jobs(ACCOUNT.account_id) == []
    # Nothing half-written: the retry submits.
    assert _submit(sim_app).created
    assert pisim.count(BRAND_CREATE) == 2


def test_redis_down_when_the_intent_is_written_is_a_503_with_nothing_sent_or_kept(
    sim_app, pisim, monkeypatch
):
    from connector.jobs.intents import Intents

    def refuse(self, intent, api_key, deadline=None):
        raise redis.ConnectionError("Redis went away")

    monkeypatch.setattr(Intents, "accept", refuse)
    response = sim_app.test_client().post(
        "/manychat/v1/brands/extract",
        json={"url": "https://redis-down.example"},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "redis_unavailable"
    assert pisim.count(BRAND_CREATE) == 0
    monkeypatch.undo()
    with sim_app.app_context():
        assert get_intents().pending_count() == 0
        assert get_ledger().list_jobs(ACCOUNT.account_id) == []
    # The claim was given back: the retry goes through at once.
    retried = sim_app.test_client().post(
        "/manychat/v1/brands/extract",
        json={"url": "https://redis-down.example"},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert retried.status_code == 200, retried.text
    assert pisim.count(BRAND_CREATE) == 1


def _accepted(app, kind="brand_extraction", payload=None) -> Intent:
    payload = payload or {"url": f"https://late-{uuid.uuid4().hex[:8]}.example"}
    intents = get_intents()
    basis = payload.get("url") or payload.get("prompt")
    claim = intents.idem.claim(ACCOUNT.account_id, kind, payload, explicit=None, basis=basis)
    intent = Intent(
        intent_id=new_intent_id(),
        account_id=ACCOUNT.account_id,
        kind=kind,
        payload=payload,
        input=payload,
        origin="api",
        origin_ref=None,
        request_id=None,
        created_at=time.time(),
        claim=claim,
    )
    intents.accept(intent, KEY)
    return intent


def _state(intent: Intent) -> str:
    return get_intents().load(intent.account_id, intent.intent_id)[0].state


def _sent_timeout() -> PiTimeout:
    error = PiTimeout("Pi request POST failed: ReadTimeout", code="timeout")
    error.__cause__ = requests.exceptions.ReadTimeout()
    return error


def test_a_brand_create_that_may_be_running_on_pi_is_never_sent_again(app):
    with app.app_context():
        intent = _accepted(app)
        after_failure(intent, _sent_timeout())
        assert _state(intent) == FAILED
        record = find_job(ACCOUNT.account_id, intent.intent_id)
        assert record.status == JobStatus.FAILED and "ask again" in record.error


def test_creates_pi_can_replay_or_never_received_are_tried_again_later(app):
    with app.app_context():
        image = _accepted(app, "image_generation", {"prompt": "a kite"})
        after_failure(image, _sent_timeout())  # Pi replays it for the same Idempotency-Key
        brand = _accepted(app)
        after_failure(brand, NoCreateSlot("no slot"))  # never sent
        other = _accepted(app)
        after_failure(other, PiServerError("boom", status=503))  # Pi answered: no job runs
        for intent in (image, brand, other):
            loaded = get_intents().load(intent.account_id, intent.intent_id)[0]
            assert loaded.state == PENDING and loaded.attempts == 1


def test_input_pi_refuses_or_a_give_up_ends_the_queued_request_failed(app):
    with app.app_context():
        refused = _accepted(app, "image_generation", {"prompt": "a kite"})
        after_failure(refused, PiBadRequest("no", status=400))
        assert _state(refused) == FAILED
        stale = _accepted(app, "image_generation", {"prompt": "an old kite"})
        stale.created_at -= get_intents().give_up + 1
        after_failure(stale, PiServerError("boom", status=503))
        assert _state(stale) == FAILED


def test_a_taken_over_intent_is_submitted_once_with_the_same_pi_key(sim_app, pisim):
    with sim_app.app_context():
        intent = _accepted(sim_app, "image_generation", {"prompt": "a kite for resume"})
        assert resume(intent.account_id, intent.intent_id) == BOUND
        record = find_job(intent.account_id, intent.intent_id)
        assert not is_queued_id(record.job_id)
        # Taking it over again (a lease that lapsed twice) sends nothing more.
        assert resume(intent.account_id, intent.intent_id) == BOUND
    assert pisim.count(IMAGE_CREATE) == 1
    [job] = pisim.jobs()
    assert job["id"] == record.job_id


def test_a_request_waiting_for_its_slow_create_gives_its_submission_turn_back(app_config, pisim):
    app = create_app({**app_config, "PI_BASE_URL": pisim.base_url,
                      "CONNECTOR_PI_CREATE_CONCURRENCY": 1})  # fmt: skip
    gate = app.extensions["pi_clients"].submit_gate  # 2 turns per create slot
    pisim.configure(create_seconds=2)
    try:
        answers = []
        waiter = threading.Thread(
            target=lambda: answers.append(_submit(app, payload={"url": "https://slow.example"}))
        )
        waiter.start()
        time.sleep(0.5)  # accepted; now waiting for Pi's slow create
        # Both turns are free again: the waiting request holds none.
        assert gate.acquire(ACCOUNT.account_id, 0.1) and gate.acquire(ACCOUNT.account_id, 0.1)
        gate.release()
        gate.release()
        waiter.join(10)
        assert answers and answers[0].record.job_id == pisim.jobs()[0]["id"]
    finally:
        pisim.configure(create_seconds=0)
        assert drain(10) == 0


@pytest.mark.parametrize("on_greenlets", [False, True], ids=["threads", "gevent"])
def test_drain_waits_for_every_sender_however_it_was_started(monkeypatch, on_greenlets):
    import sys
    import threading
    import types

    from connector.jobs import handoff

    spawned = []

    def spawn(target, *args):
        spawned.append(threading.Thread(target=target, args=args))
        spawned[-1].start()

    monkeypatch.setitem(sys.modules, "gevent", types.SimpleNamespace(spawn=spawn))
    monkeypatch.setattr(handoff, "_gevent_threads", lambda: on_greenlets)
    release = threading.Event()
    monkeypatch.setattr(handoff, "_send_beside", lambda *args: release.wait(5))
    intent = types.SimpleNamespace(intent_id="pcq_" + "0" * 32)
    handoff._start_sender(None, intent, "key", "sealed", None, 0.0, None)
    assert drain(0.1) == 1
    release.set()
    assert drain(5) == 0
    assert len(spawned) == (1 if on_greenlets else 0)
