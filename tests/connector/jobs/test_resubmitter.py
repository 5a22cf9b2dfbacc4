"""The worker takes over intents whose lease lapsed, and only those."""

from __future__ import annotations

import time

from connector.auth import Account, account_id_for
from connector.jobs.intents import get_intents
from connector.jobs.queued_jobs import find_job
from connector.jobs.resubmitter import Resubmitter
from connector.jobs.submission import submit_job
from connector.ledger import is_queued_id

KEY = "pi_test_resubmitter_account"
ACCOUNT = Account(account_id_for(KEY), KEY)
CREATE = "POST /api/v1/brands/extract"


def test_an_intent_is_taken_over_only_once_its_lease_lapsed(sim_app, pisim, redis_client):
    pisim.configure(create_seconds=2)
    try:
        with sim_app.test_request_context():
            queued = submit_job(
                ACCOUNT,
                "brand_extraction",
                {"url": "https://taken-over.example"},
                origin="api",
                deadline=time.monotonic() + 0.2,
            )
    finally:
        pisim.configure(create_seconds=0)
    assert queued.queued
    with sim_app.app_context():
        intents = get_intents()
        resubmitter = Resubmitter(sim_app)
        # Its sender (this process) holds the lease: nothing to take over.
        assert resubmitter.run_until_idle() == 0
        # As if the sender had died: its lease lapses, and the worker submits it once.
        member = f"{ACCOUNT.account_id}|{queued.record.job_id}"
        from connector.jobs.handoff import drain

        assert drain(10) == 0  # the sender bound it meanwhile
        assert intents.pending_count() == 0
        redis_client.zadd(intents.leases_key(), {member: time.time() - 1})
        assert resubmitter.run_until_idle() == 1  # taken, found bound, nothing sent
        record = find_job(ACCOUNT.account_id, queued.record.job_id)
        assert not is_queued_id(record.job_id)
    assert pisim.count(CREATE) == 1


def test_a_lapsed_intent_whose_sender_died_is_submitted_by_the_worker(sim_app, pisim, monkeypatch):
    from connector.jobs import handoff

    # The web process "dies" after the intent is durable and before any create is sent.
    monkeypatch.setattr(handoff, "_start_sender", lambda *args, **kwargs: None)
    with sim_app.test_request_context():
        queued = submit_job(
            ACCOUNT,
            "brand_extraction",
            {"url": "https://died-before-create.example"},
            origin="api",
            deadline=time.monotonic() + 0.2,
        )
    assert queued.queued and pisim.count(CREATE) == 0
    with sim_app.app_context():
        intents = get_intents()
        member = f"{ACCOUNT.account_id}|{queued.record.job_id}"
        intents.redis.zadd(intents.leases_key(), {member: time.time() - 1})
        assert Resubmitter(sim_app).run_until_idle() == 1
        record = find_job(ACCOUNT.account_id, queued.record.job_id)
    [job] = pisim.jobs()
    assert record.job_id == job["id"]
    assert pisim.count(CREATE) == 1
