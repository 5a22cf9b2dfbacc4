"""Short waits: hand the job to a live tracker and listen, or long-poll Pi when none follows it."""

from __future__ import annotations

import threading
import time

from connector import create_app
from connector.auth import account_id_for
from connector.jobs.submission import submit_job
from connector.jobs.waiting import HANDOFF_SECONDS, wait_short
from connector.ledger import JobStatus, get_ledger

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
