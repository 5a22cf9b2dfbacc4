"""Stored jobs for tests: an in-flight record with its subscribers, as a submission leaves it."""

from __future__ import annotations

from connector.delivery.subscriptions import Subscriber
from connector.ledger import JobRecord, get_ledger


def stored_job(app, account_id: str, job_id: str, *subscribers: Subscriber) -> JobRecord:
    """Store an in-flight brand extraction with its subscribers, in one transaction."""
    with app.app_context():
        ledger = get_ledger()
        record = JobRecord(
            job_id=job_id, account_id=account_id, kind="brand_extraction", input={}, origin="api"
        )
        pipe = ledger.redis.pipeline()
        ledger.create(record, pipe)
        for subscriber in subscribers:
            app.extensions["subscriptions"].add(pipe, account_id, job_id, subscriber)
        pipe.execute()
        return record
