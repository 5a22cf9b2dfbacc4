"""The tracker: claims in-flight jobs with leases, follows many at once, hands leases back."""

from __future__ import annotations

import threading
import time

from connector.auth import Account, account_id_for
from connector.jobs.submission import submit_job
from connector.jobs.tracker import (
    Tracker,
    excess,
    fair_share,
    readoption_bound,
    renew_interval,
    worth_claiming,
)
from connector.ledger import JobRecord, get_ledger
from tests.support.round_trips import RoundTrips

KEY = "pi_test_tracker_account"


class Follower:
    """Stand in for following a job: hold it until released, then end it as the ledger would."""

    def __init__(self, app=None) -> None:
        self.app = app
        self.release = threading.Event()
        self.followed: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, account_id: str, job_id: str, should_stop) -> bool:
        with self._lock:
            self.followed.append(job_id)
        while not self.release.wait(0.02):
            if should_stop():
                return False
        if self.app is not None:
            ledger = self.app.extensions["ledger"]
            ledger.redis.zrem(ledger.inflight_key(), f"{account_id}|{job_id}")
        return True


def _in_flight(app, count: int) -> list[str]:
    with app.app_context():
        ledger = get_ledger()
        for n in range(count):
            ledger.create(JobRecord(job_id=f"job-{n}", account_id="acct",
                                    kind="brand_extraction", input={}, origin="api"))  # fmt: skip
    return [f"job-{n}" for n in range(count)]


def _finish(*pairs) -> None:
    """Release every follower and wait for its tracker to let go (no thread outlives a test)."""
    for follower, _ in pairs:
        follower.release.set()
    for _, tracker in pairs:
        _wait_for(lambda tracker=tracker: tracker.following == 0)


def _wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


def test_a_tracker_claims_in_flight_jobs_up_to_its_capacity(app):
    _in_flight(app, 5)
    follower = Follower(app)
    tracker = Tracker(app, capacity=3, lease_seconds=30, follow=follower)
    try:
        assert len(tracker.claim_once()) == 3
        assert tracker.claim_once() == []  # full
        _wait_for(lambda: len(follower.followed) == 3)
        assert tracker.following == 3
    finally:
        follower.release.set()
    _wait_for(lambda: tracker.following == 0)
    assert len(tracker.claim_once()) == 2  # the rest, now that there is room
    _wait_for(lambda: tracker.following == 0)


def test_a_leased_job_is_not_claimed_twice_until_the_lease_lapses(app):
    _in_flight(app, 4)
    first, second = Follower(), Follower()
    holder = Tracker(app, capacity=10, lease_seconds=0.5, follow=first)
    other = Tracker(app, capacity=10, lease_seconds=30, follow=second)
    try:
        assert len(holder.claim_once()) == 4
        assert other.claim_once() == []
        time.sleep(0.6)  # the holder died (no renewal): its leases lapse
        assert sorted(other.claim_once()) == sorted(f"acct|job-{n}" for n in range(4))
    finally:
        _finish((first, holder), (second, other))


def test_renewed_leases_keep_other_trackers_away(app):
    _in_flight(app, 2)
    follower = Follower()
    holder = Tracker(app, capacity=10, lease_seconds=2, follow=follower)
    idle = Follower()
    other = Tracker(app, capacity=10, lease_seconds=30, follow=idle)
    try:
        assert len(holder.claim_once()) == 2
        started = time.monotonic()
        while time.monotonic() - started < 3:  # past the first lease's end
            holder.renew_once()
            assert other.claim_once() == []
            time.sleep(0.5)
    finally:
        _finish((follower, holder), (idle, other))


def test_stopping_hands_every_lease_back_for_immediate_adoption(app):
    _in_flight(app, 3)
    follower = Follower()
    leaving = Tracker(app, capacity=10, lease_seconds=30, follow=follower).start()
    _wait_for(lambda: leaving.following == 3)
    assert leaving.stop() == 3
    next_follower = Follower()
    successor = Tracker(app, capacity=10, lease_seconds=30, follow=next_follower)
    assert len(successor.claim_once()) == 3
    _finish((follower, leaving), (next_follower, successor))


def test_the_claimant_is_recorded_for_operators_and_cleared_when_the_job_ends(app):
    _in_flight(app, 1)
    follower = Follower(app)
    tracker = Tracker(app, capacity=10, lease_seconds=30, follow=follower)
    tracker.claim_once()
    owners = tracker.redis.hgetall(tracker.owners_key)
    assert owners == {b"acct|job-0": tracker.identity.encode()}
    follower.release.set()
    _wait_for(lambda: tracker.following == 0)
    assert tracker.redis.hgetall(tracker.owners_key) == {}
    assert tracker.redis.zcard(tracker.leases_key) == 0


def test_a_job_erased_from_the_ledger_leaves_the_in_flight_set(app):
    with app.app_context():
        ledger = get_ledger()
        ledger.redis.zadd(ledger.inflight_key(), {"acct|gone-job": time.time()})
    assert Tracker(app, capacity=10, lease_seconds=30).follow_all() == 1
    assert ledger.redis.zcard(ledger.inflight_key()) == 0


def test_one_tracker_follows_every_job_to_its_end_on_the_simulator(sim_app, pisim):
    account = Account(api_key=KEY, account_id=account_id_for(KEY))
    with sim_app.app_context():
        records = [
            submit_job(account, "brand_extraction", {"url": f"https://secs2-t{n}.example"},
                       origin="api").record
            for n in range(12)
        ]  # fmt: skip
    tracker = Tracker(sim_app, capacity=100, lease_seconds=30)

    assert tracker.follow_all() == 12

    with sim_app.app_context():
        ledger = get_ledger()
        ended = [ledger.get(account.account_id, r.job_id) for r in records]
        assert [r.status for r in ended] == ["completed"] * 12
        assert all(r.brand_id for r in ended)
        assert ledger.redis.zcard(ledger.inflight_key()) == 0
    assert tracker.redis.zcard(tracker.leases_key) == 0


def test_timing_rules_leave_three_renewals_per_lease_and_bound_re_adoption():
    assert renew_interval(30) == 10
    assert renew_interval(0.3) == 0.2  # never a busy loop
    assert readoption_bound(30, 0.25, 20) == 30 + 0.25 + 20 + 5


class SpanFollower:
    """Hold each job until told to stop; record when following it began and ended."""

    def __init__(self, events: list[tuple[float, str, str]]) -> None:
        self.events = events
        self.release = threading.Event()
        self._lock = threading.Lock()

    def _note(self, job_id: str, what: str) -> None:
        with self._lock:
            self.events.append((time.monotonic(), job_id, what))

    def __call__(self, account_id: str, job_id: str, should_stop) -> bool:
        self._note(job_id, "start")
        try:
            while not self.release.wait(0.02):
                if should_stop():
                    return False
            return False
        finally:
            self._note(job_id, "end")


def test_the_share_is_an_even_split_within_capacity():
    assert fair_share(2000, 2, 5000) == 1000
    assert fair_share(2000, 3, 5000) == 667
    assert fair_share(2000, 1, 1000) == 1000
    assert fair_share(5, 0, 100) == 5  # a tracker that has not announced itself yet
    assert excess(1100, 1000) == 80  # 2 % slack
    assert excess(1000, 1000) == 0


def _split(trackers) -> list[int]:
    return [t.following for t in trackers]


def _settled(trackers, total: int, low: int, high: int) -> bool:
    split = _split(trackers)
    return sum(split) == total and all(low <= n <= high for n in split)


def test_trackers_split_the_jobs_evenly_and_a_newcomer_takes_its_share(app):
    _in_flight(app, 60)
    events: list[tuple[float, str, str]] = []
    follower = SpanFollower(events)
    make = lambda: Tracker(app, capacity=500, lease_seconds=30, scan_seconds=0.05, follow=follower)  # noqa: E731
    first, second, third = make(), make(), make()
    try:
        first.start()
        _wait_for(lambda: first.following == 60)
        second.start()
        # 30 each within 10 % (a tracker keeps 2 % slack over its share before handing back).
        # (A job being handed over belongs to neither for a moment: wait for both to hold.)
        _wait_for(lambda: _settled([first, second], 60, 27, 33), timeout=10)
        third.start()
        _wait_for(lambda: _settled([first, second, third], 60, 18, 22), timeout=10)
        rebalancing = sorted(events)  # stopping below hands every lease back at once, by design
    finally:
        for tracker in (first, second, third):
            tracker.stop()
        follower.release.set()
        for tracker in (first, second, third):
            _wait_for(lambda tracker=tracker: tracker.following == 0)
    # While the trackers rebalanced, no job was followed by two of them at the same time.
    assert sum(what == "end" for _, _, what in rebalancing) >= 30  # jobs changed hands
    following: set[str] = set()
    for _, job_id, what in rebalancing:
        if what == "start":
            assert job_id not in following, f"{job_id} followed twice at once"
            following.add(job_id)
        else:
            following.discard(job_id)


def test_a_claim_is_worth_trying_only_while_some_job_lacks_a_live_lease():
    assert worth_claiming(in_flight=3, leased=2)
    assert not worth_claiming(in_flight=3, leased=3)
    assert not worth_claiming(in_flight=0, leased=0)


def test_a_scan_that_finds_every_job_followed_costs_one_read(app, monkeypatch):
    # Issue 12: the claim script reads the whole in-flight set; four scans a second in every
    # worker sent it even when every job was followed.
    _in_flight(app, 3)
    first, second = Follower(), Follower()
    holder = Tracker(app, capacity=10, lease_seconds=30, follow=first)
    other = Tracker(app, capacity=10, lease_seconds=30, follow=second)
    try:
        assert len(holder.claim_once(fair=False)) == 3
        trips = RoundTrips(monkeypatch)
        assert other.scan_once() == []
        assert trips.count == 1  # the share and the live leases, read together
        ledger = app.extensions["ledger"]
        ledger.redis.zadd(other.leases_key, {"acct|job-1": 0}, xx=True)  # its holder died
        assert other.scan_once() == ["acct|job-1"]
    finally:
        _finish((first, holder), (second, other))
