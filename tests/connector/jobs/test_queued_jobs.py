"""A queued id resolves to a queued view, then to its job; other accounts never find it."""

from __future__ import annotations

import time
import uuid

from connector.auth import account_id_for
from connector.jobs.intents import get_intents
from connector.jobs.queued_jobs import find_job, resolve_job
from connector.ledger import JobStatus
from tests.connector.jobs.test_intents import ACCOUNT_ID, KEY, _intent


def test_resolve_waits_for_a_binding_until_its_deadline(app):
    with app.app_context():
        intents = get_intents()
        intent = _intent(app)
        intents.accept(intent, KEY)
        record = resolve_job(ACCOUNT_ID, intent.intent_id, deadline=time.monotonic() + 0.3)
        assert record.job_id == intent.intent_id and record.status == JobStatus.QUEUED


def test_a_queued_id_finds_its_job_once_bound_and_nothing_for_another_account(app):
    with app.app_context():
        intents = get_intents()
        intent = _intent(app, url="https://queued-jobs.example")
        sealed = intents.accept(intent, KEY)
        assert find_job(account_id_for("pi_test_someone_else"), intent.intent_id) is None
        assert find_job(ACCOUNT_ID, "pcq_" + "0" * 32) is None
        job_id = str(uuid.uuid4())
        intents.bind(intent, sealed, job_id, time.monotonic() + 5)
        assert find_job(ACCOUNT_ID, intent.intent_id).job_id == job_id
        assert find_job(ACCOUNT_ID, job_id).job_id == job_id
        assert resolve_job(ACCOUNT_ID, intent.intent_id, deadline=0).job_id == job_id
