"""Single flight: one poll lease per job, end announcements, and N waiters costing one Pi call."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from connector.auth import Account, account_id_for
from connector.jobs.single_flight import get_flights
from connector.jobs.submission import submit_job
from connector.jobs.waiting import follow, lease_span, long_poll_seconds, wait_short
from connector.ledger import JobRecord, get_ledger

KEY = "pi_test_single_flight_account"
JOB_READS = "GET /api/v1/jobs/:id"


def _record(job_id: str = "job-1") -> JobRecord:
    return JobRecord(job_id=job_id, account_id="acct", kind="brand_extraction",
                     input={"url": "https://x.example"}, origin="api")  # fmt: skip


def test_a_held_lease_turns_the_next_waiter_into_a_listener(app):
    with app.app_context():
        flights = get_flights()
        token = flights.try_lead("acct", "job-1", 5)
        assert token
        assert flights.try_lead("acct", "job-1", 5) is None
        assert flights.try_lead("acct", "job-1", 5, skip_cooldown=True) is None  # a real term
        assert flights.try_lead("acct", "job-2", 5)  # another job has its own lease
        flights.release("acct", "job-1", token, cooldown=0)
        assert flights.try_lead("acct", "job-1", 5)


def test_after_a_term_only_the_tracker_may_poll_before_the_cool_down_ends(app):
    with app.app_context():
        flights = get_flights()
        token = flights.try_lead("acct", "job-1", 5)
        flights.release("acct", "job-1", token, cooldown=0.3)
        assert flights.try_lead("acct", "job-1", 5) is None  # waiters do not take turns at Pi
        tracker_token = flights.try_lead("acct", "job-1", 5, skip_cooldown=True)
        assert tracker_token
        flights.release("acct", "job-1", tracker_token, cooldown=0.3)
        time.sleep(0.4)
        assert flights.try_lead("acct", "job-1", 5)


def test_the_lease_on_an_ended_job_is_left_to_lapse_without_a_round_trip(app):
    from tests.support.round_trips import counting

    with app.app_context():
        flights = get_flights()
        token = flights.try_lead("acct", "job-1", 5)
        with counting() as trips:
            flights.release("acct", "job-1", token, ended=True)
        assert trips.count == 0
        # Nobody polls Pi for an ended job; the lease lapses on its own, and a stopping
        # process has nothing of it left to hand back.
        assert flights.redis.get(flights.lease_key("acct", "job-1")).decode() == token
        assert 0 < flights.redis.pttl(flights.lease_key("acct", "job-1")) <= 5000
        assert flights.release_all() == 0


def test_a_stopping_process_hands_back_its_leases_without_a_cool_down(app):
    with app.app_context():
        flights = get_flights()
        flights.try_lead("acct", "job-1", 30)
        flights.try_lead("acct", "job-2", 30)
        assert flights.release_all() == 2
        assert flights.try_lead("acct", "job-1", 5) and flights.try_lead("acct", "job-2", 5)


def test_releasing_with_a_stale_token_leaves_the_new_holder_alone(app):
    with app.app_context():
        flights = get_flights()
        flights.try_lead("acct", "job-1", 0.05)
        time.sleep(0.1)  # lapsed
        current = flights.try_lead("acct", "job-1", 5)
        flights.release("acct", "job-1", "stale-token")
        assert flights.redis.get(flights.lease_key("acct", "job-1")).decode() == current


def test_a_finished_job_wakes_its_listeners_at_once(app):
    with app.app_context():
        ledger, flights = get_ledger(), get_flights()
        record = _record()
        ledger.create(record)
        woke: list[bool] = []
        listener = threading.Thread(
            target=lambda: woke.append(flights.wait_for_end("acct", "job-1", 10))
        )
        listener.start()
        deadline = time.monotonic() + 5
        while flights.waiting() < 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.2)  # the listener's subscription is in place
        record.status, record.brand_id = "completed", "b-1"
        assert ledger.finish(record)
        listener.join(timeout=5)
        assert woke == [True]
        assert flights.wait_for_end("acct", "job-other", 0.2) is False
        assert flights.waiting() == 0


def test_the_lease_term_is_one_window_cut_to_the_time_left():
    assert lease_span(left=30, window=20) == 20
    assert lease_span(left=4.5, window=20) == 4.5
    assert lease_span(left=-1, window=20) == 0


def test_follow_polls_only_while_leading_and_listens_otherwise(app):
    polls: list[float] = []

    def poll(record, until):
        polls.append(until)
        return record, True

    with app.app_context():
        get_ledger().create(_record())
        flights = get_flights()
        token = flights.try_lead("acct", "job-1", 30)  # someone else is polling Pi
        started = time.monotonic()
        follow(_record(), deadline=started + 1.5, window=20, poll=poll)
        assert polls == []  # it listened until its deadline
        flights.release("acct", "job-1", token, cooldown=0)
        follow(_record(), deadline=time.monotonic() + 0.6, window=20, poll=poll)
        assert len(polls) >= 1


def test_twenty_waiters_on_one_job_cost_one_pi_long_poll(sim_app, pisim):
    with sim_app.app_context():
        account = Account(api_key=KEY, account_id=account_id_for(KEY))
        record = submit_job(
            account, "brand_extraction", {"url": "https://secs2-flight.example"}, origin="api"
        ).record
    reads_before = pisim.count(JOB_READS)

    def wait(_: int) -> str:
        with sim_app.app_context():
            return wait_short(KEY, record, deadline=time.monotonic() + 8).status

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(wait, range(20)))

    assert statuses == ["completed"] * 20
    # One waiter long-polled Pi (woken at the end); the others heard the ledger's announcement.
    assert pisim.count(JOB_READS) - reads_before == 1


def test_a_tracker_long_poll_asks_pi_for_the_time_left_within_one_window():
    assert long_poll_seconds(25.0, 20) == 20
    assert long_poll_seconds(7.9, 20) == 7
    assert long_poll_seconds(0.3, 20) == 1  # Pi's minimum
    # A full term measured a moment after it began is still a full window (not 19 s).
    assert long_poll_seconds(19.99997, 20) == 20


def test_a_lease_is_extended_only_by_its_holder(app):
    with app.app_context():
        flights = get_flights()
        token = flights.try_lead("acct", "job-1", 5)
        assert flights.extend("acct", "job-1", token, 5)
        assert not flights.extend("acct", "job-1", "someone-else", 5)
        flights.release("acct", "job-1", token, cooldown=0)
        assert not flights.extend("acct", "job-1", token, 5)  # lapsed: lead again instead


def test_the_tracker_keeps_its_lease_from_one_term_to_the_next(app, monkeypatch):
    polls: list[float] = []
    leads: list[str] = []

    def poll(record, until):
        polls.append(until)
        return record, True

    with app.app_context():
        get_ledger().create(_record())
        flights = get_flights()
        real_lead = flights.try_lead
        monkeypatch.setattr(
            flights, "try_lead", lambda *a, **k: leads.append(a[1]) or real_lead(*a, **k)
        )
        monkeypatch.setattr("connector.jobs.waiting.MIN_LEAD_GAP", 0.0)
        follow(_record(), deadline=time.monotonic() + 1.0, window=0.3, poll=poll, tracker=True)
        # Several terms, one lead: each further term renewed the lease it held.
        assert len(polls) >= 3
        assert leads == ["job-1"]
        # Once it stopped following, the lease was handed back (a tracker may lead at once).
        assert flights.try_lead("acct", "job-1", 5, skip_cooldown=True)
