"""Wait for Pi jobs: a short budget for platform requests, a long loop in the tracker.

Both go through `follow`: the waiter holding the job's poll lease long-polls Pi, the others
listen for the job's end, so Pi sees one long-poll per job however many wait on it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from connector.config import get_settings
from connector.jobs.completion import apply_pi_job, fail_record
from connector.jobs.pi_clients import pi_client
from connector.jobs.single_flight import get_flights
from connector.ledger import JobRecord, get_ledger, is_queued_id
from connector.pi import PiAPIError, PiConnectionError, PiError
from connector.runtime.secrets import get_secrets

log = logging.getLogger(__name__)

MIN_USEFUL_WAIT = 0.25  # below this, asking Pi again cannot change the answer in time
LEASE_MARGIN = 5.0  # a long-poll answers within its window plus Pi's read margin
RECHECK_SECONDS = 1.0  # a listener re-reads the ledger this often even without a notice
# A waiter that just polled listens before it polls again: an early answer from Pi (one that
# did not hold the long-poll) never turns into a busy loop.
MIN_LEAD_GAP = 1.0
ERROR_PAUSE = 1.0  # after a Pi error the client already retried: breathe before the next poll
# How long a waiting request gives a live tracker to claim a new job before asking Pi itself
# (trackers scan for new jobs four times a second).
HANDOFF_SECONDS = 1.0

# One lease term: given the record and a monotonic deadline, ask Pi and return
# (the record now, whether to go on waiting).
Poll = Callable[[JobRecord, float], tuple[JobRecord, bool]]


def remaining(deadline: float, now: float | None = None) -> float:
    """Return the seconds left before a monotonic deadline (never negative)."""
    return max(0.0, deadline - (time.monotonic() if now is None else now))


def lease_span(left: float, window: float) -> float:
    """Return how long the next lease term polls Pi: one window, cut to the time left."""
    return max(0.0, min(window, left))


def long_poll_seconds(left: float, window: int) -> int:
    """Return Pi's timeout_seconds for one long-poll: the time left, within 1..window."""
    return max(1, min(int(window), int(left)))


def follow(
    record: JobRecord,
    *,
    deadline: float,
    window: float,
    poll: Poll,
    should_stop: Callable[[], bool] = lambda: False,
    lead_once: bool = False,
    tracker: bool = False,
) -> JobRecord:
    """Wait until the job ends or the deadline: poll Pi while leading, else listen for its end.

    With lead_once, a waiter whose one lease term used its whole window only listens after it.
    The tracker may poll right after another waiter's term; other waiters let a term's
    cool-down pass, so however many wait, Pi sees about one call per window.
    """
    flights, ledger = get_flights(), get_ledger()
    next_lead = 0.0  # one lease term per second at most, whatever Pi answers
    while not record.is_terminal and not should_stop():
        left = remaining(deadline)
        if left < MIN_USEFUL_WAIT:
            break
        now = time.monotonic()
        token = None
        term = lease_span(left, window)
        if now >= next_lead:
            token = flights.try_lead(
                record.account_id, record.job_id, term + LEASE_MARGIN, skip_cooldown=tracker
            )
        if token is not None:
            next_lead = deadline if lead_once else now + MIN_LEAD_GAP
            try:
                record, go_on = poll(record, now + term)
            finally:
                flights.release(record.account_id, record.job_id, token)
            if not go_on:
                break
            continue
        # Someone else polls Pi (or we just did): listen for the job's end instead.
        pause = next_lead - now if now < next_lead else RECHECK_SECONDS
        flights.wait_for_end(record.account_id, record.job_id, min(left, pause, RECHECK_SECONDS))
        record = ledger.get(record.account_id, record.job_id) or record
    return record


def wait_short(api_key: str, record: JobRecord, *, deadline: float) -> JobRecord:
    """Wait for the job until the deadline; return its state then, finished or not.

    While a worker's tracker follows the job, only listen for its end: asking Pi as well would
    cost a long-poll the tracker is making anyway. Without one, long-poll Pi directly.
    """
    if record.is_terminal or remaining(deadline) < MIN_USEFUL_WAIT:
        return record
    if is_queued_id(record.job_id):
        return record  # Pi has no job by this id yet: nothing to ask it
    ledger = get_ledger()
    if ledger.live_trackers():
        handoff = min(deadline, time.monotonic() + HANDOFF_SECONDS)
        record = listen(record, deadline=handoff, until=lambda r: _tracked(ledger, r))
        if record.is_terminal or _tracked(ledger, record):
            return listen(record, deadline=deadline)
    return _lead_short(api_key, record, deadline)


def listen(
    record: JobRecord,
    *,
    deadline: float,
    until: Callable[[JobRecord], bool] = lambda _record: False,
) -> JobRecord:
    """Wait for the ledger to say the job ended (or `until` holds), without asking Pi."""
    flights, ledger = get_flights(), get_ledger()
    while not record.is_terminal and not until(record):
        left = remaining(deadline)
        if left < MIN_USEFUL_WAIT:
            break
        flights.wait_for_end(record.account_id, record.job_id, min(left, RECHECK_SECONDS))
        record = ledger.get(record.account_id, record.job_id) or record
    return record


def _tracked(ledger, record: JobRecord) -> bool:
    return ledger.is_tracked(record.account_id, record.job_id)


def _lead_short(api_key: str, record: JobRecord, deadline: float) -> JobRecord:
    """Long-poll Pi for the job within the deadline (single flight), or listen for its end."""
    client = pi_client(api_key)

    def poll(current: JobRecord, until: float) -> tuple[JobRecord, bool]:
        try:
            job = client.wait_for_job(current.job_id, deadline=until, expand="brand")
        except PiError as exc:
            # The job is submitted and tracked; a Pi hiccup only means "not yet".
            log.warning("short wait on job %s ended early: %s", current.job_id, type(exc).__name__)
            return get_ledger().get(current.account_id, current.job_id) or current, False
        return apply_pi_job(current, job, fetch_brand=client.get_brand), True

    try:
        # One term covers the whole budget (wait_for_job long-polls to its end); after it,
        # only a cheap wait for another poller's news remains worth doing.
        return follow(
            record, deadline=deadline, window=remaining(deadline), poll=poll, lead_once=True
        )
    finally:
        client.close()


def wait_in_worker(
    account_id: str,
    job_id: str,
    *,
    deadline_seconds: float | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> JobRecord:
    """Follow the job on Pi's long-poll until it ends or its tracking deadline passes."""
    ledger, settings = get_ledger(), get_settings()
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
        deadline_seconds = settings.worker_deadline_seconds
    # The deadline counts from submission, so a resumed follower does not start the clock again.
    left = record.created_at + deadline_seconds - time.time()
    deadline = time.monotonic() + max(0.0, left)
    window = settings.tracker_poll_seconds
    client = pi_client(api_key)

    def poll(current: JobRecord, until: float) -> tuple[JobRecord, bool]:
        # One long-poll per lease term: Pi answers at the job's end or after `seconds`.
        seconds = long_poll_seconds(until - time.monotonic(), window)
        try:
            job = client.get_job(job_id, wait=True, timeout_seconds=seconds, expand="brand")
        except PiConnectionError:  # the transport already retried: breathe, then poll again
            time.sleep(min(ERROR_PAUSE, remaining(deadline)))
            return current, True
        except PiAPIError as exc:
            if exc.status in (401, 403, 404):
                failed = fail_record(
                    current, f"Pi no longer knows this job ({exc.code or exc.status})"
                )
                return failed, False
            time.sleep(min(ERROR_PAUSE, remaining(deadline)))
            return current, True
        return apply_pi_job(current, job, fetch_brand=client.get_brand), True

    try:
        record = follow(
            record,
            deadline=deadline,
            window=window,
            poll=poll,
            should_stop=should_stop,
            tracker=True,
        )
    finally:
        client.close()
    if record.is_terminal or should_stop():
        return record
    return fail_record(record, "Pi did not finish the job before the tracking deadline")
