"""Short waits: hand the job to a live tracker and listen, or long-poll Pi when none follows it."""

from __future__ import annotations

import json
import threading
import time

from connector import create_app
from connector.auth import account_id_for
from connector.jobs.submission import submit_job
from connector.jobs.waiting import HANDOFF_SECONDS, wait_short
from connector.ledger import JobStatus, get_ledger
from connector.pi import Job
from tests.support.jobs import stored_job
from tests.support.round_trips import RoundTrips

KEY = "pi_test_waiting_account_1"
JOB_READS = "GET /api/v1/jobs/:id"


def _announce_tracker(app, *, lease_job: str | None = None) -> None:
    """Make a tracker look alive (and holding one job's lease), as a worker process would."""
    ledger = app.extensions["ledger"]
    lapse = time.time() + 30
    ledger.redis.zadd(ledger.tracker_key("members"), {"host:1:abc": lapse})
    if lease_job:
        member = f"{account_id_for(KEY)}|{lease_job}"
        ledger.redis.zadd(ledger.tracker_key("leases"), {member: lapse})


def _submit(app, url: str):
    from connector.auth import Account

    with app.app_context():
        account = Account(account_id_for(KEY), KEY)
        return submit_job(account, "brand_extraction", {"url": url}, origin="api").record


def test_a_pi_rate_limit_holds_only_that_accounts_followers(app_config, pisim):
    from connector.jobs.account_limits import get_account_limits
    from connector.jobs.waiting import wait_in_worker

    app = create_app({**app_config, "PI_BASE_URL": pisim.base_url})
    pisim.configure(job_seconds=1)
    held = _submit(app, "https://cooling-a.example")
    with app.app_context():
        from connector.auth import Account

        other_key = "pi_test_waiting_account_2"
        other = submit_job(
            Account(account_id_for(other_key), other_key),
            "brand_extraction",
            {"url": "https://cooling-b.example"},
            origin="api",
        ).record
        # Pi answered 429 to account A a moment ago: A's followers wait it out.
        get_account_limits().note_pi_rate_limit(held.account_id, 30)
        reads = pisim.count(JOB_READS)
        stop_at = time.monotonic() + 2.5
        a = wait_in_worker(
            held.account_id, held.job_id, should_stop=lambda: time.monotonic() > stop_at
        )
        assert not a.is_terminal and pisim.count(JOB_READS) == reads  # A never asked Pi
        b = wait_in_worker(other.account_id, other.job_id)
        assert b.status == JobStatus.COMPLETED  # B was followed as usual


def test_a_request_listens_while_a_tracker_follows_the_job(app_config, pisim):
    app = create_app({**app_config, "PI_BASE_URL": pisim.base_url})
    record = _submit(app, "https://secs30-listen.example")
    _announce_tracker(app, lease_job=record.job_id)

    def tracker_finishes() -> None:
        time.sleep(1.5)
        with app.app_context():
            done = get_ledger().get(record.account_id, record.job_id)
            done.status, done.brand_id = JobStatus.COMPLETED, "b-1"
            get_ledger().finish(done)

    threading.Thread(target=tracker_finishes).start()
    with app.app_context():
        result = wait_short(KEY, record, deadline=time.monotonic() + 6)
    assert result.status == "completed" and result.brand_id == "b-1"
    assert pisim.count(JOB_READS) == 0  # the tracker's long-poll is the only one


def test_a_request_asks_pi_itself_when_no_tracker_claims_the_job_in_time(app_config, pisim):
    app = create_app({**app_config, "PI_BASE_URL": pisim.base_url})
    record = _submit(app, "https://secs1-unclaimed.example")
    _announce_tracker(app)  # alive, but busy: it never claims this job
    started = time.monotonic()
    with app.app_context():
        result = wait_short(KEY, record, deadline=time.monotonic() + 6)
    assert result.status == "completed"
    assert pisim.count(JOB_READS) >= 1
    assert time.monotonic() - started >= HANDOFF_SECONDS


def test_without_a_tracker_a_request_long_polls_pi(app_config, pisim):
    app = create_app({**app_config, "PI_BASE_URL": pisim.base_url})
    record = _submit(app, "https://secs1-alone.example")
    with app.app_context():
        result = wait_short(KEY, record, deadline=time.monotonic() + 6)
    assert result.status == "completed"
    assert pisim.count(JOB_READS) == 1


def test_a_wait_that_loses_redis_answers_with_the_job_not_an_error(app_config, pisim, monkeypatch):
    # Redis SIGKILLed while ManyChat requests waited on jobs already stored: they answered
    # 503 although their job was safe and later delivered. Now they answer "still running".
    import redis

    from connector.jobs.single_flight import Flights

    app = create_app({**app_config, "PI_BASE_URL": pisim.base_url})
    record = _submit(app, "https://secs30-redis-gone.example")
    _announce_tracker(app, lease_job=record.job_id)

    def redis_gone(self, *args, **kwargs):
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(Flights, "wait_for_end", redis_gone)
    with app.app_context():
        result = wait_short(KEY, record, deadline=time.monotonic() + 3)
    assert result.job_id == record.job_id and not result.is_terminal


def test_a_listener_reads_the_ledger_on_the_notice_or_every_recheck_not_every_second(
    app_config, pisim, monkeypatch
):
    from connector.jobs.waiting import listen
    from connector.ledger.redis_ledger import Ledger

    app = create_app({**app_config, "PI_BASE_URL": pisim.base_url})
    record = _submit(app, "https://secs30-quiet.example")
    reads = []
    real_get = Ledger.get
    monkeypatch.setattr(Ledger, "get", lambda self, *a: reads.append(a) or real_get(self, *a))
    started = time.monotonic()
    with app.app_context():
        result = listen(record, deadline=time.monotonic() + 2.0, recheck=3.0)
    # No notice came: one read when the deadline came, where a read a second made two.
    assert len(reads) == 1
    assert result.status != "completed"
    assert time.monotonic() - started >= 1.9


def test_a_burst_of_requests_asks_redis_for_live_trackers_once_a_second(app, monkeypatch):
    with app.app_context():
        ledger = get_ledger()
        asked = []
        real = type(ledger.redis).zcount
        monkeypatch.setattr(
            type(ledger.redis), "zcount", lambda self, *a: asked.append(a) or real(self, *a)
        )
        assert ledger.live_trackers(max_age=1.0) == 0
        _announce_tracker(app)
        assert ledger.live_trackers(max_age=1.0) == 0  # this process's recent count
        assert ledger.live_trackers() == 1  # asked afresh
        assert len(asked) == 2
        assert ledger.live_trackers(max_age=1.0) == 1 and len(asked) == 2


def test_a_handed_off_request_reads_its_job_and_lease_in_one_trip(app_config, pisim, monkeypatch):
    from connector.ledger.redis_ledger import Ledger

    app = create_app({**app_config, "PI_BASE_URL": pisim.base_url})
    record = _submit(app, "https://secs30-one-trip.example")
    _announce_tracker(app, lease_job=record.job_id)
    calls = []
    for name in ("get", "is_tracked", "get_tracked"):
        real = getattr(Ledger, name)
        monkeypatch.setattr(
            Ledger, name, lambda self, *a, _n=name, _r=real: calls.append(_n) or _r(self, *a)
        )
    with app.app_context():
        result = wait_short(KEY, record, deadline=time.monotonic() + HANDOFF_SECONDS + 0.5)
    assert not result.is_terminal
    assert calls[0] == "get_tracked" and "is_tracked" not in calls
    assert pisim.count(JOB_READS) == 0  # tracked: the request only listened


def _pi_job(job_id: str, phase: str) -> Job:
    """Return Pi's view of a job still running, in the given phase."""
    return Job(
        job_id=job_id,
        type="brand_extraction",
        status="processing",
        payload={},
        result_url=None,
        error_log=None,
        created_at=0,
        updated_at=0,
        brand_id=None,
        image_url=None,
        brand=None,
        request_id=None,
        phase=phase,
    )


def _followable(app, job_id: str):
    """Store an in-flight job with its sealed key, as a submission leaves it."""
    record = stored_job(app, account_id_for(KEY), job_id)
    with app.app_context():
        ledger = get_ledger()
        sealed = app.extensions["secrets"].encrypt(KEY)
        ledger.redis.hset(ledger.job_key(record.account_id, job_id), "api_key", sealed)
    return record


def test_the_tracker_reads_the_job_and_takes_its_poll_lease_in_one_round_trip(app, monkeypatch):
    # Issue 12: a round trip fewer per followed job (the first lease was a trip of its own).
    from connector.jobs.single_flight import get_flights
    from connector.jobs.waiting import load_followed

    record = _followable(app, "job-load-and-lead")
    ended = _followable(app, "job-ended-before")
    with app.app_context():
        ended.status, ended.error = JobStatus.FAILED, "Pi failed it"
        get_ledger().finish(ended)
        load_followed(ended.account_id, ended.job_id, lead_seconds=35)  # loads the scripts
        trips = RoundTrips(monkeypatch)

        loaded = load_followed(record.account_id, record.job_id, lead_seconds=35)

        assert trips.count == 1
        assert loaded.record.job_id == record.job_id and loaded.sealed and loaded.token
        flights = get_flights()
        lease = flights.lease_key(record.account_id, record.job_id)
        assert flights.redis.get(lease) == loaded.token.encode()
        assert 30_000 < flights.redis.pttl(lease) <= 35_000
        # Nothing to follow for an ended job: its lease is not kept (it lapses on its own).
        again = load_followed(ended.account_id, ended.job_id, lead_seconds=35)
        assert again.record.is_terminal and again.token is None
        assert flights.release_all() == 1  # only the followed job's lease is this process's


def test_the_trackers_progress_travels_with_its_next_lease_renewal(app, monkeypatch):
    # Issue 12: progress was a round trip of its own after every long-poll.
    from connector.jobs import waiting
    from connector.jobs.completion import apply_pi_job
    from connector.jobs.waiting import follow, load_followed

    monkeypatch.setattr(waiting, "MIN_LEAD_GAP", 0.0)  # terms back to back, as long-polls are
    record = _followable(app, "job-progress")
    polls: list[str] = []

    def poll(current, until):
        polls.append(f"step-{len(polls) + 1}")
        time.sleep(max(0.0, until - time.monotonic()))  # a long-poll lasts its term
        job = _pi_job(current.job_id, polls[-1])
        return apply_pi_job(current, job, progress_to=pending), len(polls) < 3

    with app.app_context():
        flights = app.extensions["flights"]
        # Load every script once (as a worker has long before), then take the lease afresh.
        warm = load_followed(record.account_id, record.job_id, lead_seconds=35)
        get_ledger().update_progress(record.account_id, record.job_id, "processing", None)
        flights.extend(record.account_id, record.job_id, warm.token, 35)
        flights.release(record.account_id, record.job_id, warm.token, cooldown=0)
        loaded = load_followed(record.account_id, record.job_id, lead_seconds=35)
        pending: list = []
        trips = RoundTrips(monkeypatch)

        follow(
            loaded.record,
            deadline=time.monotonic() + 30,
            window=0.05,
            poll=poll,
            tracker=True,
            token=loaded.token,
            pending=pending,
        )

        # Two renewals, each with the last term's progress; after the third term the lease
        # goes back and the last progress goes on its own (before: 3 progress + 2 renewals
        # + the release = 6).
        assert trips.count == 4
        assert not pending
        stored = get_ledger().get(record.account_id, record.job_id)
        assert stored.phase == "step-3"
        history = get_ledger().redis.lrange(
            get_ledger().history_key(record.account_id, record.job_id), 0, -1
        )
        assert [json.loads(entry)["phase"] for entry in history][-3:] == polls
