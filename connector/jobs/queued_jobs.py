"""Find the job an id names, whether Pi's job id or the `pcq_…` id of a request answered queued."""

from __future__ import annotations

import json
import time

from connector.jobs.intents import BOUND, FAILED, get_intents
from connector.ledger import JobRecord, JobStatus, get_ledger, is_queued_id

RESOLVE_PAUSE = 0.1  # how often a waiter re-reads an intent that has no job yet


def find_job(account_id: str, job_id: str) -> JobRecord | None:
    """Return the account's job for a job id or queued id (a queued view before Pi's id)."""
    ledger = get_ledger()
    if not is_queued_id(job_id):
        return ledger.get(account_id, job_id)
    raw = ledger.redis.hmget(
        get_intents().key(account_id, job_id),
        "state",
        "job_id",
        "kind",
        "input",
        "origin",
        "created_at",
    )
    state, bound, kind, stored_input, origin, created = (
        v.decode() if v is not None else None for v in raw
    )
    if state is None:
        return None  # unknown, expired, or another account's
    if state in (BOUND, FAILED) and bound:
        return ledger.get(account_id, bound)
    created_at = float(created or time.time())
    return JobRecord(
        job_id=job_id,
        account_id=account_id,
        kind=kind or "brand_extraction",
        input=json.loads(stored_input or "{}"),
        origin=origin or "api",
        status=JobStatus.QUEUED,
        created_at=created_at,
        updated_at=created_at,
    )


def resolve_job(account_id: str, job_id: str, *, deadline: float) -> JobRecord | None:
    """Return the job as `find_job` does, waiting until the deadline for a queued id to bind."""
    record = find_job(account_id, job_id)
    while record is not None and is_queued_id(record.job_id) and not record.is_terminal:
        if time.monotonic() + RESOLVE_PAUSE > deadline:
            break
        time.sleep(RESOLVE_PAUSE)
        record = find_job(account_id, job_id)
    return record
