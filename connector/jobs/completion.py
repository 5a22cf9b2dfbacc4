"""What happens when a job ends: Pi's state goes into the ledger once, then deliveries fan out."""

from __future__ import annotations

import logging
import time

import redis

from connector.delivery.dispatch import fan_out
from connector.ledger import JobKind, JobRecord, JobStatus, bare_host, get_ledger
from connector.pi import Job
from connector.runtime import metrics
from connector.runtime.script_trips import ScriptCall

log = logging.getLogger(__name__)

FAN_OUT_CONFIRM_SECONDS = 10.0  # long enough to outlast a Sentinel failover


def brand_summary(brand: dict | None, submitted_url: str | None = None) -> dict | None:
    """Flatten Pi's brand object into the connector's brand fields (domain as a bare host)."""
    if not brand:
        return None
    return {
        "brand_id": brand.get("id"),
        "brand_name": brand.get("name"),
        "domain": bare_host(brand.get("domain")) or bare_host(submitted_url),
        "primary_hex": brand.get("primary_hex"),
        "secondary_hex": brand.get("secondary_hex"),
        "logo_url": brand.get("logo_url"),
    }


def apply_pi_job(
    record: JobRecord,
    job: Job,
    *,
    fetch_brand=None,
    progress_to: list[ScriptCall] | None = None,
) -> JobRecord:
    """Record what Pi says about the job; on its end, finish the record and fan out once.

    `progress_to`: leave a progress write there for the caller's next round trip instead.
    """
    if not job.is_terminal:
        if job.status != record.status or job.phase != record.phase:
            ledger = get_ledger()
            call = ledger.progress_call(record.account_id, record.job_id, job.status, job.phase)
            if progress_to is None:
                call.run()
            else:
                progress_to.append(call)
            record.status, record.phase = JobStatus(job.status), job.phase
        return record
    record.status = JobStatus(job.status)
    record.phase = job.phase
    if job.succeeded:
        record.brand_id = job.brand_id
        record.image_url = job.image_url
        brand = job.brand
        if record.kind == JobKind.BRAND_EXTRACTION and job.brand_id and not brand and fetch_brand:
            try:
                brand = fetch_brand(job.brand_id)
            except Exception as exc:  # the id is what matters; the summary is a bonus
                log.warning(
                    "brand summary unavailable for job %s: %s", record.job_id, type(exc).__name__
                )
        record.brand = brand_summary(brand, record.input.get("url"))
        record.error = None
    else:
        record.error = job.error_log or "the Pi job failed"
    return _finish(record)


def fail_record(record: JobRecord, message: str) -> JobRecord:
    """End a record as failed for a connector-side reason (e.g. the tracking deadline)."""
    record.status, record.error = JobStatus.FAILED, message
    return _finish(record)


def _finish(record: JobRecord) -> JobRecord:
    """Store the end once; the call that made the transition counts it and fans out."""
    ledger = get_ledger()
    if not ledger.finish(record, leave_inflight=False):
        # Another caller stored the end first: theirs is the result.
        return ledger.get(record.account_id, record.job_id) or record
    metrics.record_finished(record.kind, record.status, record.created_at, record.finished_at)
    if _fan_out_replicated(record):
        # Only now: a crash before this leaves the job in flight, and a tracker settles it.
        ledger.leave_inflight(record)
    return record  # what was just stored: reading it back would cost a round trip per job


def _fan_out_replicated(record: JobRecord) -> bool:
    """Queue the job's deliveries and see them reach a replica, queueing again after a failover.

    A failover can keep the end (so the job is never followed again) yet lose the deliveries
    queued a moment later. Fanning out again is safe: each delivery is queued once per job, so
    on a primary that kept them nothing is added and on one that lost them they are re-queued.
    Return False when they could not be confirmed (the job stays in flight for a tracker).
    """
    ledger = get_ledger()
    witness = ledger.job_key(record.account_id, record.job_id)
    give_up = time.monotonic() + FAN_OUT_CONFIRM_SECONDS
    delay = 0.1
    retrying = False
    while True:
        try:
            # A retry recovers: Redis may have kept a delivery's "queued" mark but not the
            # enqueue that followed it (SIGKILL between the two, even with AOF `always`).
            fan_out(record, recover=retrying)
            ledger.store.confirm_replicated(witness)
            return True
        except redis.RedisError as exc:
            retrying = True
            if time.monotonic() + delay > give_up:
                # The tracker's in-flight set or RQ's retries cover what is left (RELIABILITY.md).
                log.warning(
                    "deliveries of job %s not confirmed: %s", record.job_id, type(exc).__name__
                )
                return False
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def settle_ended(record: JobRecord) -> int:
    """Finish an end a crash interrupted (index, deliveries, in-flight set); return new deliveries.

    Repeats only what is safe to repeat: the indexes, and deliveries that were marked but
    never reached their queue (`fan_out(recover=True)`).
    """
    assert record.is_terminal
    ledger = get_ledger()
    ledger.record_end(record)
    queued = fan_out(record, recover=True)
    ledger.leave_inflight(record)
    log.warning(
        "settled job %s after an interrupted end: %s deliveries queued", record.job_id, queued
    )
    return queued
