"""Wait for Pi jobs: a short budget for platform requests, a long loop in the worker."""

from __future__ import annotations

import logging
import time

from connector.ledger import JobRecord, get_ledger
from connector.pi import PiAPIError, PiConnectionError, PiError
from connector.pi_access import pi_client
from connector.secrets import get_secrets
from connector.tracking import apply_pi_job, fail_record

log = logging.getLogger("connector.waiting")

WORKER_POLL_SECONDS = 20
MIN_USEFUL_WAIT = 0.25  # below this, asking Pi again cannot change the answer in time


def remaining(deadline: float, now: float | None = None) -> float:
    """Return the seconds left before a monotonic deadline (never negative)."""
    return max(0.0, deadline - (time.monotonic() if now is None else now))


def wait_short(api_key: str, record: JobRecord, *, deadline: float) -> JobRecord:
    """Wait for the job until the deadline; return its state then, finished or not."""
    if record.is_terminal or remaining(deadline) < MIN_USEFUL_WAIT:
        return record
    client = pi_client(api_key)
    try:
        job = client.wait_for_job(record.job_id, deadline=deadline, expand="brand")
    except PiError as exc:
        # The job is submitted and tracked; a Pi hiccup only means "not yet".
        log.warning("short wait on job %s ended early: %s", record.job_id, type(exc).__name__)
        return get_ledger().get(record.account_id, record.job_id) or record
    finally:
        client.close()
    return apply_pi_job(
        record, job, fetch_brand=lambda brand_id: pi_client(api_key).get_brand(brand_id)
    )


def wait_in_worker(
    account_id: str, job_id: str, *, deadline_seconds: float | None = None
) -> JobRecord:
    """Loop on Pi's long-poll until the job ends or its tracking deadline passes."""
    from flask import current_app

    ledger = get_ledger()
    record = ledger.get(account_id, job_id)
    if record is None:
        raise LookupError(f"job {job_id} is not in the ledger")
    if record.is_terminal:
        return record
    sealed = ledger.get_field(account_id, job_id, "api_key")
    if sealed is None:
        return fail_record(record, "the connector lost the key needed to follow this job")
    api_key = get_secrets().decrypt(sealed)
    if deadline_seconds is None:
        deadline_seconds = float(current_app.config["CONNECTOR_WORKER_DEADLINE_SECONDS"])
    # The deadline counts from submission, so a resumed task does not start the clock again.
    left = record.created_at + deadline_seconds - time.time()
    deadline = time.monotonic() + max(0.0, left)
    client = pi_client(api_key)
    try:
        while remaining(deadline) > 0:
            window = min(WORKER_POLL_SECONDS, deadline - time.monotonic())
            try:
                job = client.wait_for_job(
                    job_id,
                    deadline=time.monotonic() + window,
                    poll_timeout=WORKER_POLL_SECONDS,
                    expand="brand",
                )
            except PiConnectionError:
                # The client already backed off; pause briefly and keep following.
                time.sleep(min(1.0, remaining(deadline)))
                continue
            except PiAPIError as exc:
                if exc.status in (401, 403, 404):
                    return fail_record(
                        record, f"Pi no longer knows this job ({exc.code or exc.status})"
                    )
                time.sleep(min(1.0, remaining(deadline)))
                continue
            record = apply_pi_job(record, job, fetch_brand=client.get_brand)
            if record.is_terminal:
                return record
    finally:
        client.close()
    return fail_record(record, "Pi did not finish the job before the tracking deadline")


def track_job(account_id: str, job_id: str) -> str:
    """RQ task: follow one job to its end (safe to run again after a crash)."""
    return wait_in_worker(account_id, job_id).status
