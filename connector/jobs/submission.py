"""Submit a Pi job exactly once, record it in the ledger, and start tracking it."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
from flask import current_app, g, has_request_context

from connector.auth import Account
from connector.config import get_settings
from connector.delivery.dispatch import fan_out
from connector.delivery.subscriptions import Subscriber
from connector.errors import ServiceUnavailable
from connector.jobs import handoff
from connector.jobs.account_limits import get_account_limits, remaining_hold
from connector.jobs.idempotency import INTENT_PENDING_TTL, PENDING_TTL, Claim
from connector.jobs.intents import get_intents
from connector.jobs.pi_clients import takes_turns
from connector.jobs.pi_creates import BRAND_INPUT_FIELDS, GENERATION_INPUT_FIELDS, create_on_pi
from connector.ledger import JobKind, JobRecord, JobStatus, get_ledger, is_queued_id
from connector.pi import validation
from connector.runtime.secrets import remember_encrypted_field

WRITE_RETRY_PAUSE = 0.25  # between attempts to record a job Pi already created

__all__ = ["BRAND_INPUT_FIELDS", "GENERATION_INPUT_FIELDS", "Submission", "submit_job"]


@dataclass(frozen=True)
class Submission:
    """The job a request maps to, and whether this request created it.

    A record whose `job_id` is a queued id (`is_queued_id`) stands for a request accepted
    before Pi gave its job id: status `queued`, resolvable later to the job.
    """

    record: JobRecord
    created: bool

    @property
    def queued(self) -> bool:
        """Return True while Pi's job id is not known yet (the id is the connector's own)."""
        return is_queued_id(self.record.job_id)


def normalize(kind: str, payload: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Validate a payload against Pi's limits; return the Pi body and the dedupe basis."""
    if kind not in tuple(JobKind):
        raise validation.PiInputError("kind", f"must be one of {', '.join(JobKind)}")
    if kind == JobKind.BRAND_EXTRACTION:
        args = {k: payload.get(k) for k in BRAND_INPUT_FIELDS if payload.get(k) is not None}
        body = validation.validate_brand_input(**args)
        # Pi upserts brands per domain, so one domain is one job within the window.
        basis = validation.brand_domain(body["url"]) if body.get("url") else None
    else:
        args = {k: payload.get(k) for k in GENERATION_INPUT_FIELDS if payload.get(k) is not None}
        body = validation.validate_generation_input(**args)
        basis = None
    if basis is None:
        basis = hashlib.sha256(repr(sorted(body.items())).encode()).hexdigest()
    return body, basis


def _stored_input(body: dict[str, Any]) -> dict[str, Any]:
    """Return the body to keep in the ledger, with image data replaced by digests."""
    kept = dict(body)
    for name in ("logoBase64", "imagesBase64", "reference_images"):
        value = kept.get(name)
        if isinstance(value, str) and len(value) > 512:
            kept[name] = "sha256:" + hashlib.sha256(value.encode()).hexdigest()
        elif isinstance(value, list):
            kept[name] = [
                v if len(v) <= 512 else "sha256:" + hashlib.sha256(v.encode()).hexdigest()
                for v in value
            ]
    return kept


@takes_turns
def submit_job(
    account: Account,
    kind: str,
    payload: dict[str, Any],
    *,
    origin: str,
    origin_ref: str | None = None,
    idempotency_key: str | None = None,
    subscribers: Sequence[Subscriber] = (),
    deadline: float | None = None,
) -> Submission:
    """Map the request to exactly one Pi job, submitting it only when no job exists yet.

    `deadline` (monotonic) bounds the whole submission, Pi's create included; without one,
    the create may take PI_TIMEOUT. In a request, a create still running at the deadline
    goes on beside it and the answer is `queued` under the connector's own id
    (`Submission.queued`); outside one (RQ tasks) the create is waited for.
    """
    if deadline is None:
        deadline = time.monotonic() + get_settings().pi_timeout
    body, basis = normalize(kind, payload)
    in_request = has_request_context()  # a request answers `queued`; an RQ task waits
    idem = current_app.extensions["idempotency"]
    limits = get_account_limits()
    # A create answered `queued` may bind after the request: hold its place for the lease.
    hold = get_intents().lease if in_request else remaining_hold(deadline)
    # Only a submission that creates a Pi job counts, never a replay: the claim admits the
    # account's new job in the same step, only when the key is free.
    claim = idem.claim(
        account.account_id,
        kind,
        body,
        explicit=idempotency_key,
        basis=basis,
        deadline=deadline,
        # A request's create follows a durable intent; elsewhere the claim spans the create.
        pending_ttl=INTENT_PENDING_TTL if in_request else PENDING_TTL,
        admit=(limits, hold),
    )
    if claim.outcome == "existing":
        record = get_ledger().get(account.account_id, claim.job_id)
        if record is not None:
            _subscribe_late(record, subscribers)
            # A replay acknowledges the job too: it may be a write the replicas never got.
            ledger = get_ledger()
            ledger.store.confirm_replicated(ledger.job_key(record.account_id, record.job_id))
            return Submission(record, created=False)
    if claim.outcome == "intent":
        # The same request was accepted before and its create may still be on its way.
        assert claim.intent_id is not None
        record = handoff.rejoin(account, claim.intent_id, subscribers, deadline)
        if is_queued_id(record.job_id) and not in_request:
            raise ServiceUnavailable(
                "an identical request is still being submitted; retry in a moment",
                code="duplicate_in_progress",
                headers={"Retry-After": "2"},
            )
        return Submission(record, created=False)
    reservation = claim.reservation
    if reservation is None:
        # A key naming a job whose record is gone is submitted anew: admit it now.
        try:
            reservation = limits.admit(account.account_id, claim.token, hold)
        except BaseException:
            idem.release(claim)
            raise
    request_id = g.get("request_id") if in_request else None
    if in_request:
        record, _ = handoff.submit_in_budget(
            account,
            kind,
            payload,
            _stored_input(body),
            claim,
            subscribers,
            origin=origin,
            origin_ref=origin_ref,
            request_id=request_id,
            deadline=deadline,
            reservation=reservation,
        )
        return Submission(record, created=True)
    try:
        job_id = create_on_pi(
            account.account_id, account.api_key, kind, payload, claim.token, deadline
        )
    except BaseException as exc:
        idem.release(claim)
        limits.release(reservation, exc)
        raise
    now = time.time()
    record = JobRecord(
        job_id=job_id,
        account_id=account.account_id,
        kind=kind,
        input=_stored_input(body),
        origin=origin,
        origin_ref=origin_ref,
        status=JobStatus.QUEUED,
        request_id=request_id,
        created_at=now,
        updated_at=now,
    )
    _record_submitted(record, account, claim, subscribers, deadline)
    limits.settle(reservation, job_id)
    return Submission(record, created=True)


def _subscribe_late(record: JobRecord, subscribers: Sequence[Subscriber]) -> None:
    """Attach subscribers to a job that already exists, delivering at once if it ended."""
    if not subscribers:
        return
    ledger, subs = get_ledger(), current_app.extensions["subscriptions"]
    pipe = ledger.redis.pipeline()
    for subscriber in subscribers:
        subs.add(pipe, record.account_id, record.job_id, subscriber)
    pipe.execute()
    # Re-read: the tracker may have finished (and fanned out) before the add.
    fan_out(ledger.get(record.account_id, record.job_id) or record)


def _record_submitted(
    record: JobRecord,
    account: Account,
    claim: Claim,
    subscribers: Sequence[Subscriber],
    deadline: float,
) -> None:
    """Write the job, its sealed key, its idempotency binding and subscribers in one go."""
    ext = current_app.extensions
    ledger, subs = get_ledger(), ext["subscriptions"]
    sealed = ext["secrets"].encrypt(account.api_key)
    job_key = ledger.job_key(record.account_id, record.job_id)
    pause = WRITE_RETRY_PAUSE
    while True:
        pipe = ledger.redis.pipeline(transaction=True)
        ledger.create(record, pipe, extra={"api_key": sealed, "idem": claim.redis_key})
        remember_encrypted_field(ledger.store, job_key, "api_key", pipe)
        ext["idempotency"].bind(pipe, claim, record.job_id)
        for subscriber in subscribers:
            subs.add(pipe, record.account_id, record.job_id, subscriber)
        try:
            pipe.execute()  # the ledger's in-flight set is what the tracker adopts jobs from
            break
        except (redis.ConnectionError, redis.TimeoutError):
            # Pi holds the job now: a failover or a Redis restart must not orphan it, so keep
            # trying within the budget. The claim stays pending meanwhile, so a retry of the
            # request waits for this write instead of creating a second Pi job.
            if time.monotonic() + pause >= deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, WRITE_RETRY_PAUSE * 4)
    # Acknowledge only what survives a failover. When replicas lag, the caller gets a 503 and
    # the whole write stays on the primary: the retry with the same key replays this job.
    ledger.store.confirm_replicated(job_key)
