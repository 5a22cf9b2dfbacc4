"""Wait for Pi jobs: a short budget for platform requests, a long loop in the tracker.

Both go through `follow`: the waiter holding the job's poll lease long-polls Pi, the others
listen for the job's end, so Pi sees one long-poll per job however many wait on it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import NamedTuple

import redis

from connector.config import get_settings
from connector.jobs.account_limits import get_account_limits
from connector.jobs.answer_times import wait_spread
from connector.jobs.completion import apply_pi_job, fail_record
from connector.jobs.pi_clients import pi_client
from connector.jobs.single_flight import get_flights
from connector.ledger import JobRecord, get_ledger, is_queued_id
from connector.pi import PiAPIError, PiConnectionError, PiError
from connector.runtime.script_trips import ScriptCall, execute_scripts, queue_script
from connector.runtime.secrets import get_secrets

log = logging.getLogger(__name__)

MIN_USEFUL_WAIT = 0.25  # below this, asking Pi again cannot change the answer in time
LEASE_MARGIN = 5.0  # a long-poll answers within its window plus Pi's read margin
RECHECK_SECONDS = 1.0  # a listener re-reads the ledger this often even without a notice
# A request that only listens while a tracker follows its job re-reads the ledger this often:
# the end arrives as a notice, so a read is only a safety net (a notice lost while the
# listener reconnects) and a fresher status for the answer; each read is CPU on the web tier.
LISTEN_RECHECK_SECONDS = 3.0
# A waiter that just polled listens before it polls again: an early answer from Pi (one that
# did not hold the long-poll) never turns into a busy loop.
MIN_LEAD_GAP = 1.0
LONG_POLL_SLACK = 0.05  # seconds a long-poll may outlast its term (its lease has 5 s more)
ERROR_PAUSE = 1.0  # after a Pi error the client already retried: breathe before the next poll
# How long a waiting request gives a live tracker to claim a new job before asking Pi itself
# (trackers scan for new jobs four times a second).
HANDOFF_SECONDS = 1.0
# A request may go by this process's count of live trackers when it is this recent.
TRACKERS_SEEN_SECONDS = 1.0
# A follower may go by this process's reading of its account's Pi cooldown when it is this
# recent: a 429 noted by another process holds this one's polls a second later at most (Pi
# would refuse them meanwhile anyway); one noted here holds them at once.
COOLDOWN_SEEN_SECONDS = 1.0

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
    # A term of `window` seconds is a few microseconds short of it by the time it is asked
    # for: flooring that asked Pi for 19 s windows (a fourth long-poll for a 60 s job).
    return max(1, min(int(window), int(left + LONG_POLL_SLACK)))


def follow(
    record: JobRecord,
    *,
    deadline: float,
    window: float,
    poll: Poll,
    should_stop: Callable[[], bool] = lambda: False,
    lead_once: bool = False,
    tracker: bool = False,
    token: str | None = None,
    pending: list[ScriptCall] | None = None,
) -> JobRecord:
    """Wait until the job ends or the deadline: poll Pi while leading, else listen for its end.

    With lead_once, a waiter whose one lease term used its whole window only listens after it.
    The tracker may poll right after another waiter's term; other waiters let a term's
    cool-down pass, so however many wait, Pi sees about one call per window. The tracker
    keeps its lease from one term to the next: one renewal instead of a release and a new
    lead, a Redis call fewer per long-poll.

    `token`: a lease the caller took a moment ago for at least one window plus the margin.
    `pending`: writes the polls leave (the tracker's progress) to go with the next lease call.
    """
    flights, ledger = get_flights(), get_ledger()
    account_id, job_id = record.account_id, record.job_id
    next_lead = 0.0  # one lease term per second at most, whatever Pi answers
    fresh = token is not None  # held for this term already: no renewal before it
    along = pending if pending is not None else []
    try:
        while not record.is_terminal and not should_stop():
            left = remaining(deadline)
            if left < MIN_USEFUL_WAIT:
                break
            now = time.monotonic()
            term = lease_span(left, window)
            if now >= next_lead:
                if (
                    token is not None
                    and not fresh
                    and not flights.extend(
                        account_id, job_id, token, term + LEASE_MARGIN, along=_taken(along)
                    )
                ):
                    token = None  # it lapsed meanwhile: lead again like anyone else
                fresh = False
                if token is None:
                    token = flights.try_lead(
                        account_id,
                        job_id,
                        term + LEASE_MARGIN,
                        skip_cooldown=tracker,
                        along=_taken(along),
                    )
            if token is not None and now >= next_lead:
                next_lead = deadline if lead_once else now + MIN_LEAD_GAP
                try:
                    record, go_on = poll(record, now + term)
                finally:
                    if not tracker:
                        flights.release(account_id, job_id, token, ended=record.is_terminal)
                        token = None
                if not go_on:
                    break
                continue
            # Someone else polls Pi (or we just did): listen for the job's end instead.
            pause = next_lead - now if now < next_lead else RECHECK_SECONDS
            flights.wait_for_end(account_id, job_id, min(left, pause, RECHECK_SECONDS))
            record = ledger.get(account_id, job_id) or record
    finally:
        if token is not None:
            flights.release(account_id, job_id, token, ended=record.is_terminal)
        _send_left(_taken(along), job_id)
    return record


def _taken(pending: list[ScriptCall]) -> list[ScriptCall]:
    """Return the pending writes and empty the list (they go with the caller's next trip)."""
    taken = pending[:]
    pending.clear()
    return taken


def _send_left(calls: list[ScriptCall], job_id: str) -> None:
    """Send writes no lease call took along (the follower stopped or the job ended meanwhile)."""
    try:
        for call in calls:
            call.run()
    except redis.RedisError as exc:  # progress only: the next poll writes it again
        log.warning("progress of job %s not stored: %s", job_id, type(exc).__name__)


def wait_short(api_key: str, record: JobRecord, *, deadline: float) -> JobRecord:
    """Wait for the job until the deadline; return its state then, finished or not.

    While a worker's tracker follows the job, only listen for its end: asking Pi as well would
    cost a long-poll the tracker is making anyway. Without one, long-poll Pi directly.
    """
    if record.is_terminal or remaining(deadline) < MIN_USEFUL_WAIT:
        return record
    if is_queued_id(record.job_id):
        return record  # Pi has no job by this id yet: nothing to ask it
    seen = [record]  # the latest state read, kept if Redis goes away mid-wait

    def noted(current: JobRecord) -> bool:
        seen[0] = current
        return False

    ledger = get_ledger()
    try:
        if ledger.live_trackers(max_age=TRACKERS_SEEN_SECONDS):
            # Trackers scan for new jobs four times a second: one look after the handoff time
            # tells whether one claimed it (a look before it would find nothing yet).
            handoff = min(HANDOFF_SECONDS, remaining(deadline))
            get_flights().wait_for_end(record.account_id, record.job_id, handoff)
            current, tracked = ledger.get_tracked(record.account_id, record.job_id)
            record = current or record
            noted(record)
            if record.is_terminal or tracked:
                return _listen_to_the_answer(record, deadline, noted)
        return _lead_short(api_key, record, deadline)
    except redis.RedisError as exc:
        # The job is stored (and replicated) before anyone waits on it, and its tracker will
        # find it again: losing Redis now only means "not finished yet", never a 503.
        log.warning("short wait on job %s lost Redis: %s", record.job_id, type(exc).__name__)
        return seen[0]


def listen(
    record: JobRecord,
    *,
    deadline: float,
    until: Callable[[JobRecord], bool] = lambda _record: False,
    recheck: float = RECHECK_SECONDS,
) -> JobRecord:
    """Wait for the ledger to say the job ended (or `until` holds), without asking Pi.

    The ledger is read again when the end is announced, else every `recheck` seconds, and
    when the deadline comes, so the answer carries the latest status.
    """
    flights, ledger = get_flights(), get_ledger()
    while not record.is_terminal and not until(record):
        left = remaining(deadline)
        if left < MIN_USEFUL_WAIT:
            break
        # Wait to the deadline rather than leave a sliver too short to wait for.
        pause = left if left < recheck + MIN_USEFUL_WAIT else recheck
        flights.wait_for_end(record.account_id, record.job_id, pause)
        record = ledger.get(record.account_id, record.job_id) or record
    return record


def _listen_to_the_answer(
    record: JobRecord, deadline: float, noted: Callable[[JobRecord], bool]
) -> JobRecord:
    """Listen for the job's end until this request's answer time (a burst's are spread)."""
    latest = [record]

    def wait(until: float) -> bool:
        latest[0] = listen(latest[0], deadline=until, until=noted, recheck=LISTEN_RECHECK_SECONDS)
        return latest[0].is_terminal

    wait_spread(wait, deadline)
    return latest[0]


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


class LoadedJob(NamedTuple):
    """What a follower reads before it follows a job."""

    record: JobRecord | None
    sealed: str | None  # the job's API key, sealed
    token: str | None = None  # the job's poll lease, when it was taken with the read


def load_followed(account_id: str, job_id: str, *, lead_seconds: float = 0.0) -> LoadedJob:
    """Return a job's record and its sealed API key, read in one round trip.

    With `lead_seconds`, the same trip takes the job's poll lease for the tracker (which may
    skip a cool-down): a round trip fewer per followed job. The lease is kept only for a job
    there is something to follow; otherwise it is left to lapse.
    """
    ledger, flights = get_ledger(), get_flights()
    pipe = ledger.redis.pipeline(transaction=False)
    pipe.hgetall(ledger.job_key(account_id, job_id))
    token, calls = None, {}
    if lead_seconds > 0:
        token, call = flights.lead_call(account_id, job_id, lead_seconds, skip_cooldown=True)
        calls[queue_script(pipe, call)] = call
    results = execute_scripts(pipe, calls)
    raw = results[0]
    if not raw or b"job_id" not in raw:
        return LoadedJob(None, None)
    record = JobRecord.from_hash(raw)
    sealed = raw.get(b"api_key")
    sealed_text = sealed.decode() if sealed is not None else None
    followable = not record.is_terminal and sealed_text is not None
    taken = token is not None and bool(results[1]) and followable
    return LoadedJob(
        record, sealed_text, flights.note_lead(account_id, job_id, token) if taken else None
    )


def wait_in_worker(
    account_id: str,
    job_id: str,
    *,
    deadline_seconds: float | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    loaded: LoadedJob | None = None,
) -> JobRecord:
    """Follow the job on Pi's long-poll until it ends or its tracking deadline passes.

    `loaded` is what `load_followed` returned, when the caller has just read it.
    """
    settings = get_settings()
    record, sealed, token = loaded if loaded is not None else load_followed(account_id, job_id)
    if record is None:
        raise LookupError(f"job {job_id} is not in the ledger")
    if record.is_terminal:
        return record
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
    limits = get_account_limits()
    pending: list[ScriptCall] = []  # progress, sent with the next lease renewal

    def poll(current: JobRecord, until: float) -> tuple[JobRecord, bool]:
        # Pi is rate limiting this account: its followers wait it out, nobody else's do.
        cooldown = limits.pi_cooldown(account_id, max_age=COOLDOWN_SEEN_SECONDS)
        if cooldown > 0:  # in short naps: a stopping worker hands the job back meanwhile
            time.sleep(min(cooldown, remaining(until), ERROR_PAUSE))
            return current, True
        # One long-poll per lease term: Pi answers at the job's end or after `seconds`.
        seconds = long_poll_seconds(until - time.monotonic(), window)
        try:
            job = client.get_job(job_id, wait=True, timeout_seconds=seconds, expand="brand")
        except PiConnectionError:  # the transport already retried: breathe, then poll again
            time.sleep(min(ERROR_PAUSE, remaining(deadline)))
            return current, True
        except PiAPIError as exc:
            if exc.status == 429:  # Pi's rate limit for this key: its other followers wait too
                limits.note_pi_rate_limit(account_id, exc.retry_after)
            if exc.status in (401, 403, 404):
                failed = fail_record(
                    current, f"Pi no longer knows this job ({exc.code or exc.status})"
                )
                return failed, False
            time.sleep(min(ERROR_PAUSE, remaining(deadline)))
            return current, True
        applied = apply_pi_job(current, job, fetch_brand=client.get_brand, progress_to=pending)
        return applied, True

    try:
        record = follow(
            record,
            deadline=deadline,
            window=window,
            poll=poll,
            should_stop=should_stop,
            tracker=True,
            token=token,
            pending=pending,
        )
    finally:
        client.close()
    if record.is_terminal or should_stop():
        return record
    return fail_record(record, "Pi did not finish the job before the tracking deadline")
