"""Deliver a finished job to one subscriber or hook, with retries, backoff and an SSRF guard."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import replace
from datetime import timedelta
from enum import StrEnum
from typing import Any

from flask import Flask, current_app
from rq import Retry
from rq.job import Job

from connector.config import get_settings
from connector.delivery.delivery_log import (
    AttemptEntry,
    DeliveryState,
    get_delivery_log,
    host_of,
    sanitize_message,
)
from connector.delivery.outcomes import (
    DELIVERED,
    FAILED,
    GONE,
    RETRY,
    SKIPPED,
    Handler,
    Outcome,
    Prefetch,
    Target,
)
from connector.delivery.subscriptions import DeliveryRef, PipeCommands
from connector.ledger import JobRecord, Ledger, get_ledger
from connector.runtime import metrics
from connector.runtime.backoff import (
    DELIVERY_BACKOFF,
    backoff_delay,
)
from connector.runtime.logs import bound_request_id
from connector.runtime.patience import write_patiently
from connector.runtime.queues import DELIVER, get_queue

log = logging.getLogger(__name__)

ABANDONED_RETRIES = 3  # runs of a delivery whose worker died mid-task

JOB_TIMEOUT = 120  # seconds an attempt may run before RQ gives up on it
# A delivery counts as in flight from its enqueueing until its attempt ends, plus this slack.
BUSY_SLACK = JOB_TIMEOUT + 60


def register_delivery_kind(
    app: Flask, kind: str, handler: Handler, *, prefetch: Prefetch | None = None
) -> None:
    """Let a platform package handle a kind of delivery (`prefetch`: read with its target)."""
    app.extensions.setdefault("delivery_kinds", {})[kind] = handler
    if prefetch is not None:
        app.extensions.setdefault("delivery_prefetches", {})[kind] = prefetch


def _load_target(
    account_id: str, job_id: str, ref: DeliveryRef, before: PipeCommands | None = None
) -> Target | None:
    """Read a delivery's target and, in the same round trip, what its kind prefetches."""
    prefetches: dict[str, Prefetch] = current_app.extensions.get("delivery_prefetches", {})
    replies: dict[str, Any] = {}

    def extras(pipe) -> Any:
        take = before(pipe) if before is not None else None
        queued = len(pipe)
        for prefetch in prefetches.values():
            prefetch.queue(pipe, account_id)

        def keep(found: list[Any]) -> None:
            if take is not None:
                take(found[:queued])
            replies.update(zip(prefetches, found[queued:], strict=True))

        return keep

    subs = current_app.extensions["subscriptions"]
    if ref.subscriber_id is not None:
        sub = subs.get(account_id, job_id, ref.subscriber_id, before=extras)
        if sub is None:
            return None
        target = Target(ref, sub.kind, sub.target, sub.data, sub.secret)
    else:
        hook = subs.get_hook(account_id, ref.hook_id, before=extras)
        if hook is None:
            return None
        target = Target(ref, hook.kind, hook.target_url, {}, None, ref.event, hook.id)
    if target.kind not in replies:
        return target
    try:
        # Parsed for the target's own kind only: the other kinds' replies are dropped unread.
        prefetched = prefetches[target.kind].parse(account_id, replies[target.kind])
    except Exception as exc:  # the handler reads it itself, where a failure is an outcome
        log.warning("prefetch for delivery kind %s failed: %s", target.kind, type(exc).__name__)
        return target
    return replace(target, prefetched=prefetched)


def _state_key(account_id: str, job_id: str, ref: DeliveryRef) -> str:
    return get_ledger().account_key(account_id, "job", job_id, "dlv", str(ref))


def delivery_state(account_id: str, job_id: str, ref: DeliveryRef | str) -> dict[str, str]:
    """Return the recorded state of one delivery."""
    ref = ref if isinstance(ref, DeliveryRef) else DeliveryRef.parse(ref)
    raw = get_ledger().redis.hgetall(_state_key(account_id, job_id, ref))
    return {k.decode(): v.decode() for k, v in raw.items()}


def first_attempt_id(account_id: str, job_id: str, ref: DeliveryRef) -> str:
    """Return the RQ id of a delivery's first attempt: it tells whether it ever reached a queue."""
    digest = hashlib.sha256(f"{account_id}|{job_id}|{ref}".encode()).hexdigest()[:32]
    return f"pic-dlv-{digest}"


def enqueue_delivery(
    account_id: str,
    job_id: str,
    ref: DeliveryRef,
    attempt: int = 1,
    delay: float = 0.0,
    *,
    force: bool = False,
) -> None:
    """Queue one delivery attempt, now or after `delay` seconds (`force`: even if delivered)."""
    queue = get_queue(current_app.extensions["store"], DELIVER)
    args: tuple = (deliver, account_id, job_id, str(ref), attempt)
    if force:
        args += (True,)
    # RQ's own retry is for a task that never finished (its worker died with it): it runs
    # again once RQ counts it abandoned. Failed attempts are retried by _attempt instead.
    options = {
        "job_timeout": JOB_TIMEOUT,
        "result_ttl": 3600,
        "failure_ttl": 7 * 86400,
        "retry": Retry(max=ABANDONED_RETRIES),
    }
    get_delivery_log().mark_busy(account_id, job_id, str(ref), delay + BUSY_SLACK)
    if attempt == 1 and not force:
        # A stable id: a fan-out cut short by a crash can tell whether this one was queued.
        options["job_id"] = first_attempt_id(account_id, job_id, ref)
    if delay > 0:
        queue.enqueue_in(timedelta(seconds=delay), *args, **options)
    else:
        queue.enqueue(*args, **options)


def fan_out(record: JobRecord, *, recover: bool = False) -> int:
    """Start every delivery a finished job owes, each exactly once; return how many were new.

    In a worker process with first attempts (`FirstAttempts`), each new delivery's first
    attempt runs right away on that process's threads and this returns once those attempts
    ended (a retry, or what they could not take, goes to RQ); elsewhere each is queued on RQ.
    With `recover` (a crash cut an earlier fan-out short), a delivery marked queued that never
    reached its queue and never ran is queued now.
    """
    if not record.is_terminal:
        return 0
    marked = current_app.extensions["subscriptions"].mark_targets_queued(record)
    new = [ref for ref, first in marked if first]
    if recover:
        new += [ref for ref, first in marked if not first and _never_queued(record, ref)]
    first_attempts = current_app.extensions.get("first_attempts")
    left = new if recover or first_attempts is None else first_attempts.run(record, new)
    for ref in left:
        enqueue_delivery(record.account_id, record.job_id, ref)
    return len(new)


class Redelivery(StrEnum):
    """What asking for a redelivery did."""

    QUEUED = "queued"
    IN_FLIGHT = "in_flight"  # an attempt is queued, running or waiting for its retry
    NOT_REDELIVERABLE = "not_redeliverable"  # written by a task, not by dispatch (Shopify)
    UNKNOWN = "unknown"  # no such delivery of this account's job


def redeliver(account_id: str, job_id: str, did: str) -> Redelivery:
    """Queue a fresh attempt of a logged delivery now, sending its final payload again."""
    item = get_delivery_log().delivery(account_id, job_id, did)
    if item is None:
        return Redelivery.UNKNOWN
    try:
        ref = DeliveryRef.parse(item["ref"])
    except ValueError:
        return Redelivery.NOT_REDELIVERABLE
    if item["in_flight"] or not get_delivery_log().claim(
        account_id, job_id, item["ref"], BUSY_SLACK
    ):
        return Redelivery.IN_FLIGHT
    enqueue_delivery(account_id, job_id, ref, force=True)
    return Redelivery.QUEUED


def _never_queued(record: JobRecord, ref: DeliveryRef) -> bool:
    """Return True when a delivery has no recorded attempt and its first attempt is no RQ job."""
    if delivery_state(record.account_id, record.job_id, ref):
        return False
    first = first_attempt_id(record.account_id, record.job_id, ref)
    # The enqueue writes the RQ job and its queue entry in one transaction.
    return not Job.exists(
        first, connection=get_queue(current_app.extensions["store"], DELIVER).connection
    )


def deliver(
    account_id: str, job_id: str, ref_text: str, attempt: int = 1, force: bool = False
) -> str:
    """RQ task: make one delivery attempt and schedule the next one if it may help."""
    ref = DeliveryRef.parse(ref_text)
    ledger = get_ledger()
    done = delivery_state(account_id, job_id, ref).get("state") in (DELIVERED, GONE)
    if done and not force:
        get_delivery_log().clear_busy(account_id, job_id, ref_text)
        metrics.record_delivery("unknown", SKIPPED)
        return "already-done"
    return _deliver_to(ledger, ledger.get(account_id, job_id), account_id, job_id, ref, attempt)


def attempt_first(record: JobRecord, ref: DeliveryRef) -> str:
    """Make a new delivery's first attempt in this process, with the ended job's record at hand.

    What the RQ task reads first is known here: the delivery was marked queued a moment ago
    (so it has no state yet) and the record is the one just stored.
    """
    return _deliver_to(
        get_ledger(), record, record.account_id, record.job_id, ref, 1, busy_for=BUSY_SLACK
    )


def _deliver_to(
    ledger: Ledger,
    record: JobRecord | None,
    account_id: str,
    job_id: str,
    ref: DeliveryRef,
    attempt: int,
    *,
    busy_for: float | None = None,
) -> str:
    """Attempt one delivery of a job's record (None: the job is gone) and count the outcome.

    `busy_for`: first mark the delivery busy for that many seconds, in the same round trip as
    reading its target.
    """
    ref_text = str(ref)
    before = None
    if busy_for is not None:

        def before(pipe) -> None:
            get_delivery_log().mark_busy(account_id, job_id, ref_text, busy_for, pipe)

    target = _load_target(account_id, job_id, ref, before)
    if record is None or target is None:
        kind = target.kind if target else "unknown"
        if record is not None:  # a hook deleted meanwhile, a subscriber gone with its job
            entry = AttemptEntry(time.time(), SKIPPED, message="nothing to deliver to any more")
            get_delivery_log().record(
                account_id, job_id, ref_text, kind, entry, SKIPPED, settled=True
            )
        else:
            get_delivery_log().clear_busy(account_id, job_id, ref_text)
        metrics.record_delivery(kind, SKIPPED)
        return "nothing-to-deliver"
    # Log as the HTTP request that created the job, so one id follows it to its delivery.
    with bound_request_id(record.request_id):
        final = _attempt(ledger, record, target, ref, attempt)
    metrics.record_delivery(target.kind, "retrying" if final == RETRY else final)
    return final


def _run_handler(record: JobRecord, target: Target) -> Outcome:
    """Call the kind's handler; a missing handler or a handler bug is an outcome too."""
    handler = current_app.extensions.get("delivery_kinds", {}).get(target.kind)
    if handler is None:
        return Outcome(FAILED, f"no handler for delivery kind {target.kind}")
    try:
        return handler(record, target)
    except Exception as exc:  # a handler bug must not lose the delivery record
        name = type(exc).__name__
        return Outcome(RETRY, f"handler error {name}", error=name)


def _attempt(
    ledger: Ledger, record: JobRecord, target: Target, ref: DeliveryRef, attempt: int
) -> str:
    """Make one delivery attempt, record its state and schedule a retry if it may help."""
    account_id, job_id = record.account_id, record.job_id
    state_key = _state_key(account_id, job_id, ref)
    started = time.perf_counter()
    outcome = _run_handler(record, target)
    latency_ms = (time.perf_counter() - started) * 1000
    max_attempts = get_settings().delivery_max_attempts
    final = outcome.result
    if outcome.result == RETRY and attempt >= max_attempts:
        final = FAILED
    now = time.time()
    delay = None
    if final == RETRY:
        delay = backoff_delay(DELIVERY_BACKOFF, attempt, server_wait=outcome.retry_after)
    state = {
        "state": final if final != RETRY else "retrying",
        "attempts": attempt,
        "detail": outcome.detail[:300],
        "updated_at": repr(now),
        **({"delivered_at": repr(now)} if final == DELIVERED else {}),
    }
    # The target has answered, so wait out a short Redis outage: the state and the log entry
    # in one atomic write, which is safe to repeat.
    entry = _attempt_entry(target, outcome, final, now, latency_ms, delay)
    write_patiently(
        lambda: get_delivery_log().record(
            account_id,
            job_id,
            str(ref),
            target.kind,
            entry,
            entry.result,
            settled=delay is None,  # no attempt follows this one
            state_hash=(state_key, state),
        )
    )
    log.info(
        "delivery %s of job %s: %s (%s)",
        target.kind,
        job_id,
        final,
        outcome.detail,
        extra={"job_id": job_id, "status": final},
    )
    if final == GONE and target.hook_id:
        current_app.extensions["subscriptions"].delete_hook(account_id, target.hook_id)
    if delay is not None:
        enqueue_delivery(account_id, job_id, ref, attempt + 1, delay)
    else:
        if ref.subscriber_id is not None and target.secret and final in (DELIVERED, GONE):
            # Delivered or refused for good: the subscriber's secret is no longer needed. A
            # failed delivery keeps it, so an operator can redeliver once the cause is fixed.
            subs = current_app.extensions["subscriptions"]
            subs.drop_secret(account_id, job_id, ref.subscriber_id)
    return final


def _attempt_entry(
    target: Target,
    outcome: Outcome,
    final: str,
    now: float,
    latency_ms: float,
    delay: float | None,
) -> AttemptEntry:
    """Return what the delivery log keeps of an attempt (host only: never a URL, never a token)."""
    state = DeliveryState.RETRYING if final == RETRY else DeliveryState(final)
    message = outcome.message
    if message is None and final != DELIVERED:
        message = sanitize_message(outcome.detail, target.secret, target.url)
    return AttemptEntry(
        at=now,
        result=state.value,
        host=outcome.host or host_of(target.url),
        status=outcome.status,
        error=outcome.error,
        latency_ms=round(outcome.latency_ms if outcome.latency_ms is not None else latency_ms, 2),
        message=message,
        next_retry_at=now + delay if delay is not None else None,
    )
