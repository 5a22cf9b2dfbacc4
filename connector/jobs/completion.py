"""Track jobs to their end: apply Pi's state to the ledger and fan out deliveries once."""

from __future__ import annotations

import logging

from flask import current_app

from connector.ledger import JobRecord, get_ledger
from connector.pi import Job
from connector.runtime import metrics
from connector.runtime.queues import DELIVER, get_queue

log = logging.getLogger(__name__)


def brand_summary(brand: dict | None, domain_hint: str | None = None) -> dict | None:
    """Flatten Pi's brand object into the connector's brand fields."""
    if not brand:
        return None
    return {
        "brand_id": brand.get("id"),
        "brand_name": brand.get("name"),
        "domain": brand.get("domain") or domain_hint,
        "primary_hex": brand.get("primary_hex"),
        "secondary_hex": brand.get("secondary_hex"),
        "logo_url": brand.get("logo_url"),
    }


def apply_pi_job(record: JobRecord, job: Job, *, fetch_brand=None) -> JobRecord:
    """Record what Pi says about the job; on its end, finish the record and fan out once."""
    if not job.is_terminal:
        if job.status != record.status or job.phase != record.phase:
            get_ledger().update_progress(record.account_id, record.job_id, job.status, job.phase)
            record.status, record.phase = job.status, job.phase
        return record
    record.status = job.status
    record.phase = job.phase
    if job.succeeded:
        record.brand_id = job.brand_id
        record.image_url = job.image_url
        brand = job.brand
        if record.kind == "brand_extraction" and job.brand_id and not brand and fetch_brand:
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
    if get_ledger().finish(record):
        metrics.record_finished(record)
        dispatch(record)
    return get_ledger().get(record.account_id, record.job_id) or record


def fail_record(record: JobRecord, message: str) -> JobRecord:
    """End a record as failed for a connector-side reason (e.g. the tracking deadline)."""
    record.status, record.error = "failed", message
    if get_ledger().finish(record):
        metrics.record_finished(record)
        dispatch(record)
    return get_ledger().get(record.account_id, record.job_id) or record


def dispatch(record: JobRecord) -> int:
    """Enqueue one delivery job per subscriber and matching hook; return how many were new."""
    from connector.delivery.dispatch import deliver

    subs = current_app.extensions["subscriptions"]
    queue = get_queue(current_app.extensions["store"], DELIVER)
    count = 0
    for ref in subs.targets(record):
        if subs.mark_queued(record.account_id, record.job_id, ref):
            queue.enqueue(
                deliver,
                record.account_id,
                record.job_id,
                ref,
                1,
                job_timeout=120,
                result_ttl=3600,
                failure_ttl=7 * 86400,
            )
            count += 1
    return count


def dispatch_if_finished(record: JobRecord) -> None:
    """Deliver to late subscribers when the job already ended."""
    if record.is_terminal:
        dispatch(record)
