"""Answer a request within its budget whatever Pi's create latency: the create runs beside it.

The request makes its intent durable, then a thread (a greenlet under gunicorn's gevent
worker) sends the create and binds the job; the request waits for that thread until its
budget's create deadline. In time, it answers with the job as before; otherwise it answers
`queued` with the intent's id and leaves the thread to finish. When the process dies first,
a worker takes the intent over once its lease lapses (`Resubmitter`) and submits it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import redis
from flask import Flask, current_app

from connector.auth import Account
from connector.delivery.subscriptions import Subscriber
from connector.errors import ServiceUnavailable, pi_error_to_api
from connector.jobs.account_limits import Reservation, get_account_limits
from connector.jobs.answer_times import wait_spread
from connector.jobs.completion import fail_record, settle_ended
from connector.jobs.intents import (
    BOUND,
    FAILED,
    LEASE_MARGIN,
    PENDING,
    Intent,
    get_intents,
    new_intent_id,
)
from connector.jobs.pi_clients import end_turn
from connector.jobs.pi_creates import NoCreateSlot, create_fields, create_on_pi
from connector.jobs.queued_jobs import find_job, resolve_job
from connector.ledger import JobKind, JobRecord, get_ledger
from connector.pi import PiAPIError, PiConnectionError, PiError, PiInputError, PiRateLimited
from connector.pi.retry import not_sent
from connector.runtime.backoff import BackoffPolicy, Jitter, backoff_delay
from connector.runtime.logs import bound_request_id
from connector.runtime.secrets import get_secrets

log = logging.getLogger(__name__)

# Between attempts of a queued create that Pi refused for now (5xx, 429, no slot, Pi away).
RESUBMIT_BACKOFF = BackoffPolicy(base=2.0, cap=60.0, jitter=Jitter.EQUAL, first_attempt=1)
OUTCOME_GRACE = 30.0  # a sender that took the outcome hands it over within this

_running = 0  # creates in flight on this process's threads (greenlets)
_senders_done = threading.Condition()


class Handoff:
    """Where a waiting request and the thread sending its create meet."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._abandoned = False
        self._taken = False
        self.record: JobRecord | None = None
        self.error: BaseException | None = None

    def take(self) -> bool:
        """Claim the right to answer the request; False once it was answered `queued`."""
        with self._lock:
            if self._abandoned:
                return False
            self._taken = True
            return True

    def finish(self, record: JobRecord | None = None, error: BaseException | None = None) -> None:
        """Give the taken outcome to the request."""
        self.record, self.error = record, error
        self._done.set()

    def wait(self, deadline: float) -> bool:
        """Wait for the outcome until the deadline; False when the request answers `queued`."""
        # A burst's answers are spread over the last stretch (answer_times).
        wait_spread(lambda until: self._done.wait(max(0.0, until - time.monotonic())), deadline)
        with self._lock:
            if not self._taken:
                self._abandoned = True
                return False
        # Taken: the sender is handing over an outcome it already has.
        return self._done.wait(OUTCOME_GRACE)


def submit_in_budget(
    account: Account,
    kind: str,
    payload: dict[str, Any],
    stored_input: dict[str, Any],
    claim,
    subscribers: Sequence[Subscriber],
    *,
    origin: str,
    origin_ref: str | None,
    request_id: str | None,
    deadline: float,
    reservation: Reservation | None = None,
) -> tuple[JobRecord, bool]:
    """Submit a claimed request: its job if Pi creates it by the deadline, else its queued view.

    Return the record and whether it is the job itself (False: queued, the id is the intent's).
    The account's reservation is settled when the job is bound, released when the create fails
    (a Pi 429 starts the account's cooldown) and otherwise lapses on its own.
    """
    intents = get_intents()
    intent = Intent(
        intent_id=new_intent_id(),
        account_id=account.account_id,
        kind=kind,
        payload=create_fields(kind, payload),
        input=stored_input,
        origin=origin,
        origin_ref=origin_ref,
        request_id=request_id,
        created_at=time.time(),
        claim=claim,
        subscribers=list(subscribers),
    )
    try:
        # Durable before Pi hears of it: a crash from here on is taken over, never lost.
        sealed = intents.accept(intent, account.api_key, deadline)
    except BaseException as exc:
        with contextlib.suppress(redis.RedisError):
            intents.idem.release(claim)
            if reservation is not None:
                get_account_limits().release(reservation, exc)
        raise
    handoff = Handoff()
    lease_end = time.monotonic() + intents.lease - LEASE_MARGIN
    app = current_app._get_current_object()
    _start_sender(app, intent, account.api_key, sealed, handoff, lease_end, reservation)
    # The work is done; what is left is waiting for Pi (the sender's create takes its own,
    # per-account slot): another submission may have the turn meanwhile.
    end_turn()
    ledger = get_ledger()
    if handoff.wait(deadline):
        if handoff.error is not None:
            raise handoff.error
        assert handoff.record is not None
        record = handoff.record
        ledger.store.confirm_replicated(ledger.job_key(record.account_id, record.job_id))
        return record, True
    # Answering `queued` acknowledges the intent: only once the replicas hold it.
    ledger.store.confirm_replicated(intents.key(intent.account_id, intent.intent_id))
    record = find_job(intent.account_id, intent.intent_id)
    return record or intent.record(intent.intent_id), False


def rejoin(account: Account, intent_id: str, subscribers, deadline: float) -> JobRecord:
    """Answer a retry of a queued request: its job once bound (waiting until the deadline)."""
    intents = get_intents()
    intents.attach(account.account_id, intent_id, subscribers)
    record = resolve_job(account.account_id, intent_id, deadline=deadline)
    if record is None:
        # Gone between the claim and now (discarded after an error): the retry may submit.
        raise ServiceUnavailable(
            "an identical request was just refused; retry in a moment",
            code="duplicate_in_progress",
            headers={"Retry-After": "1"},
        )
    store = get_ledger().store
    if record.job_id == intent_id:
        store.confirm_replicated(intents.key(account.account_id, intent_id))
    else:
        store.confirm_replicated(get_ledger().job_key(account.account_id, record.job_id))
    return record


def _start_sender(
    app: Flask,
    intent: Intent,
    api_key: str,
    sealed: str,
    handoff: Handoff,
    deadline: float,
    reservation: Reservation | None,
) -> None:
    """Send the create on a thread of its own (a bare greenlet under gevent)."""
    global _running
    args = (app, intent, api_key, sealed, handoff, deadline, reservation)
    with _senders_done:
        _running += 1
    try:
        if _gevent_threads():
            # What a patched Thread adds (its locks, its name, waiting until it started)
            # was a few per cent of a submission's CPU; a greenlet is what it runs on anyway.
            sys.modules["gevent"].spawn(_send_counted, *args)
        else:
            name = f"pic-submit-{intent.intent_id[-8:]}"
            threading.Thread(target=_send_counted, args=args, name=name, daemon=True).start()
    except BaseException:
        _sender_ended()
        raise


def _gevent_threads() -> bool:
    """Tell whether gevent patched threading (the gevent worker): threads are greenlets."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("threading")


def _send_counted(*args: Any) -> None:
    """Run `_send_beside`, counted among the creates in flight that `drain` waits for."""
    try:
        _send_beside(*args)
    finally:
        _sender_ended()


def _sender_ended() -> None:
    global _running
    with _senders_done:
        _running -= 1
        _senders_done.notify_all()


def _send_beside(
    app: Flask,
    intent: Intent,
    api_key: str,
    sealed: str,
    handoff: Handoff,
    deadline: float,
    reservation: Reservation | None = None,
) -> None:
    """Create and bind the job; give the outcome to the request, or settle it alone."""
    try:
        with app.app_context(), bound_request_id(intent.request_id):
            try:
                record = send_and_bind(intent, api_key, sealed, deadline, reservation)
            except Exception as exc:
                if reservation is not None:
                    with contextlib.suppress(redis.RedisError):
                        get_account_limits().release(reservation, exc)
                if handoff.take():
                    # The request answers this error: leave nothing behind for a retry.
                    with contextlib.suppress(redis.RedisError):
                        get_intents().discard(intent)
                    handoff.finish(error=exc)
                else:
                    after_failure(intent, exc)
                return
            if handoff.take():
                handoff.finish(record=record)
    except Exception as exc:  # a bug here must not be silent: the lease hands it over
        log.error("queued submission %s failed: %s", intent.intent_id, type(exc).__name__)


def drain(timeout: float) -> int:
    """Wait up to `timeout` for this process's creates in flight; return how many still run."""
    with _senders_done:
        _senders_done.wait_for(lambda: _running == 0, timeout)
        return _running


def send_and_bind(
    intent: Intent,
    api_key: str,
    sealed: str,
    deadline: float,
    reservation: Reservation | None = None,
) -> JobRecord:
    """Send the intent's one create to Pi by the deadline and record the job it names.

    The account's reservation, when given, is settled with the record's write.
    """
    job_id = create_on_pi(
        intent.account_id,
        api_key,
        intent.kind,
        intent.payload,
        intent.claim.token,  # Pi replays image/campaign creates with the same key
        deadline,
        timeout=max(0.001, deadline - time.monotonic()),
    )
    # The write may retry until the lease lapses: after that another process may send again.
    return get_intents().bind(intent, sealed, job_id, deadline + LEASE_MARGIN, reservation)


def _may_have_created(intent: Intent, exc: BaseException) -> bool:
    """Tell whether a failed create may have made a job Pi cannot deduplicate."""
    if intent.kind != JobKind.BRAND_EXTRACTION:
        return False  # Pi replays these for the same Idempotency-Key
    if isinstance(exc, NoCreateSlot | PiAPIError):
        return False  # never sent, or Pi answered with an error (no job is running)
    return isinstance(exc, PiConnectionError) and not not_sent(exc)


def _is_final(exc: BaseException) -> bool:
    """Tell whether asking Pi again cannot help (bad input, a key Pi refuses)."""
    if isinstance(exc, PiInputError | ValueError):
        return True
    status = getattr(exc, "status", None)
    return (
        isinstance(exc, PiAPIError)
        and status is not None
        and 400 <= status < 500
        and (status != 429)
    )


def _message(exc: BaseException) -> str:
    if isinstance(exc, PiError):
        return pi_error_to_api(exc).message
    return str(exc) or type(exc).__name__


def after_failure(intent: Intent, exc: BaseException) -> None:
    """Settle a queued request whose create failed: try again later, or end it failed."""
    intents = get_intents()
    deadline = time.monotonic() + intents.lease
    if _is_final(exc):
        intents.fail(intent, _message(exc), deadline)
    elif _may_have_created(intent, exc):
        # The create may be running on Pi, which cannot deduplicate it: sending it again could
        # make a second job. Say so; a new request submits anew (RELIABILITY.md).
        intents.fail(intent, "Pi did not confirm the brand extraction in time; ask again", deadline)
    elif time.time() > intent.created_at + intents.give_up:
        intents.fail(intent, f"Pi did not accept the job in time: {_message(exc)}", deadline)
    else:
        wait = exc.retry_after if isinstance(exc, PiRateLimited) else None
        delay = backoff_delay(RESUBMIT_BACKOFF, intent.attempts, server_wait=wait)
        name = type(exc).__name__
        log.info("queued create %s: %s; again in %.1fs", intent.intent_id, name, delay)
        intents.postpone(intent, delay)


def resume(account_id: str, intent_id: str) -> str:
    """Take over an intent whose lease lapsed: submit it, or finish what its end left; say what."""
    intents = get_intents()
    loaded = intents.load(account_id, intent_id)
    member = f"{account_id}|{intent_id}"
    if loaded is None:
        intents.redis.zrem(intents.leases_key(), member)
        return "gone"
    intent, sealed = loaded
    if intent.state == BOUND:
        intents.release_lease(intent)
        return BOUND
    if intent.state == FAILED:
        # A crash came between storing the failure and queueing its deliveries.
        record = get_ledger().get(account_id, intent_id)
        if record is not None:
            if record.is_terminal:
                settle_ended(record)
            else:
                fail_record(record, intent.error or "the submission failed")
        intents.release_lease(intent)
        return FAILED
    assert intent.state == PENDING
    with bound_request_id(intent.request_id):
        if time.time() > intent.created_at + intents.give_up:
            intents.fail(intent, "Pi did not accept the job in time", time.monotonic() + 10)
            return FAILED
        deadline = time.monotonic() + intents.lease - LEASE_MARGIN
        try:
            api_key = get_secrets().decrypt(sealed)
            send_and_bind(intent, api_key, sealed, deadline)
        except Exception as exc:
            after_failure(intent, exc)
            return intent.state
    return BOUND
