"""The tracker: one worker process follows hundreds of in-flight Pi jobs at once.

Every submitted job sits in the ledger's in-flight set until it ends. A tracker claims jobs
from that set with a lease (a score in one sorted set: the time the claim lapses), follows
each on its own thread, renews its leases while it lives and hands them back when it stops.
A tracker that dies simply stops renewing: its jobs are re-adopted when the leases lapse.

Threads, not processes or gevent: following a job is waiting on a socket (the GIL is free
meanwhile), a thread costs ~100 kB here, and RQ, redis-py and requests need no patching.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

import redis
from flask import Flask, current_app

from connector.config import get_settings
from connector.jobs.completion import settle_ended
from connector.jobs.waiting import LEASE_MARGIN, load_followed, wait_in_worker
from connector.ledger import JobRecord, Ledger
from connector.runtime.logs import bound_request_id

log = logging.getLogger(__name__)

# A tracker may hold this much over its even share before it hands jobs back: a little slack
# keeps jobs from moving back and forth as the in-flight count changes.
REBALANCE_SLACK = 0.02
# An ended job still in flight this long after its end was cut short by a crash; before that,
# the process that stored the end may still be queueing its deliveries.
SETTLE_AFTER_SECONDS = 10.0

# Claim up to ARGV[3] in-flight jobs whose lease is missing or lapsed (oldest first), and note
# the claimant (ARGV[4]) so an operator can tell which process follows a job.
_CLAIM_LUA = """
local now, expiry, limit = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local claimed = {}
if limit <= 0 then return claimed end
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local lapse = redis.call('ZSCORE', KEYS[2], member)
  if not lapse or tonumber(lapse) <= now then
    redis.call('ZADD', KEYS[2], expiry, member)
    redis.call('HSET', KEYS[3], member, ARGV[4])
    claimed[#claimed + 1] = member
    if #claimed >= limit then break end
  end
end
return claimed
"""


class Followed(enum.IntEnum):
    """How following a job ended (a follow function may also answer a plain bool)."""

    NOT_DONE = 0  # stopped or handed over: the job is still in flight
    DONE = 1  # nothing more to follow: the tracker drops its lease
    LET_GO = 2  # done, and the ledger already dropped the job with its lease (forget_inflight)


def readoption_bound(lease_seconds: float, scan_seconds: float, poll_seconds: float) -> float:
    """Return the longest a dead tracker's job waits before a live tracker long-polls it again."""
    # The tracker lease lapses, the next scan claims the job, then the dead process's poll
    # lease on Pi (one window plus margin, taken just before it died) has to lapse too.
    return lease_seconds + scan_seconds + poll_seconds + LEASE_MARGIN


def fair_share(in_flight: int, trackers: int, capacity: int) -> int:
    """Return how many jobs one tracker should follow: an even split, within its capacity."""
    return min(capacity, -(-in_flight // max(1, trackers)))


def worth_claiming(in_flight: int, leased: int) -> bool:
    """Return True when some in-flight job may lack a live lease (else a claim finds none)."""
    # Each in-flight job holds at most one lease, and a job leaves the in-flight set with its
    # lease, so as many live leases as in-flight jobs means every one is followed. The claim
    # script reads the whole in-flight set: with 2,000 jobs, 8,000 reads a second per worker.
    return in_flight > leased


def excess(owned: int, share: int, slack: float = REBALANCE_SLACK) -> int:
    """Return how many jobs to hand back: what is held beyond the share and its slack."""
    return max(0, owned - (share + math.ceil(share * slack)))


def renew_interval(lease_seconds: float) -> float:
    """Return how often leases are renewed: three chances before one lapses."""
    return max(0.2, lease_seconds / 3)


class Tracker:
    """Claim in-flight jobs from Redis and follow each on a thread until it ends."""

    def __init__(
        self,
        app: Flask,
        *,
        capacity: int,
        lease_seconds: float,
        scan_seconds: float = 0.25,
        follow=None,
    ) -> None:
        self.app = app
        self.ledger: Ledger = app.extensions["ledger"]
        self.redis = self.ledger.redis
        self.capacity = capacity
        self.lease_seconds = lease_seconds
        self.scan_seconds = scan_seconds
        self.leases_key = self.ledger.tracker_key("leases")
        self.owners_key = self.ledger.tracker_key("owners")
        self.members_key = self.ledger.tracker_key("members")  # live trackers, by lapse time
        self.identity = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._claim = self.redis.register_script(_CLAIM_LUA)
        self._follow_job = follow or _follow_in_worker
        self._owned: dict[str, threading.Thread] = {}
        self._releasing: set[str] = set()  # followed jobs being handed to other trackers
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._closing = False
        self._loops: list[threading.Thread] = []

    @classmethod
    def from_settings(cls, app: Flask) -> Tracker:
        """Build a tracker from the app's settings."""
        settings = get_settings(app)
        return cls(
            app,
            capacity=settings.tracker_capacity,
            lease_seconds=settings.tracker_lease_seconds,
        )

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Tracker:
        """Join the live trackers, then claim, renew and rebalance in the background."""
        self._announce()
        for target, name in ((self._claim_loop, "claim"), (self._renew_loop, "renew")):
            thread = threading.Thread(target=target, name=f"pic-tracker-{name}", daemon=True)
            thread.start()
            self._loops.append(thread)
        return self

    def stop(self) -> int:
        """Stop following and hand every held lease back at once; return how many."""
        with self._lock:
            # Before the followers see the stop (and leave): every held job is in this list.
            self._closing = True
            members = list(self._owned)
        self._stop.set()
        for thread in self._loops:
            thread.join(timeout=2)
        if members:
            # Score 0: lapsed, so another tracker (or this one restarted) adopts them now;
            # if Redis is away they lapse on their own.
            with contextlib.suppress(redis.RedisError):
                self.redis.zadd(self.leases_key, dict.fromkeys(members, 0), xx=True)
        with contextlib.suppress(redis.RedisError):
            self.redis.zrem(self.members_key, self.identity)
        # The followers' long-polls on Pi end with the process: let the next one poll at once.
        self.app.extensions["flights"].release_all()
        return len(members)

    @property
    def following(self) -> int:
        """Return how many jobs this tracker follows now."""
        with self._lock:
            return len(self._owned)

    # -- loops --------------------------------------------------------------------------------

    def claim_once(self, *, fair: bool = True, share: int | None = None) -> list[str]:
        """Claim lapsed or unleased in-flight jobs up to this tracker's share; follow them."""
        if fair and share is None:
            share = self._share()
        # Held throughout, so a stop never misses a job claimed a moment before it.
        with self._lock:
            free = self.capacity - len(self._owned)
            if fair:
                free = min(free, share - len(self._owned))
            if free <= 0 or self._closing:
                return []
            now = time.time()
            raw = self._claim(
                keys=[self.ledger.inflight_key(), self.leases_key, self.owners_key],
                args=[now, now + self.lease_seconds, free, self.identity],
            )
            members = [m.decode() if isinstance(m, bytes) else m for m in raw]
            for member in members:
                thread = threading.Thread(
                    target=self._run, args=(member,), name=f"pic-follow-{member[-12:]}", daemon=True
                )
                self._owned[member] = thread
                thread.start()
        return members

    def follow_all(self) -> int:
        """Claim every claimable job now and follow each to its end (burst runs, tests)."""
        members = self.claim_once(fair=False)
        with self._lock:
            threads = [self._owned[m] for m in members if m in self._owned]
        for thread in threads:
            thread.join()
        return len(members)

    def renew_once(self) -> None:
        """Push the lapse time of every held lease (and of this tracker's membership) forward."""
        self._announce()
        with self._lock:
            members = list(self._owned)
        if members:
            lapse = time.time() + self.lease_seconds
            self.redis.zadd(self.leases_key, dict.fromkeys(members, lapse), xx=True)

    def rebalance_once(self, share: int | None = None) -> int:
        """Hand back what this tracker holds beyond its share; return how many it lets go."""
        if share is None:
            share = self._share()
        with self._lock:
            kept = [m for m in self._owned if m not in self._releasing]
            count = excess(len(kept), share)
            # The newest claims go: their followers have waited least on Pi so far.
            letting_go = kept[len(kept) - count :] if count else []
            self._releasing.update(letting_go)
        return len(letting_go)

    def _announce(self) -> None:
        """Say this tracker is alive until its lease lapses; forget trackers that lapsed."""
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(self.members_key, {self.identity: now + self.lease_seconds})
        pipe.zremrangebyscore(self.members_key, "-inf", now)
        pipe.execute()

    def _share(self) -> int:
        """Return this tracker's even share of the in-flight jobs among the live trackers."""
        return self._read_scan()[0]

    def _read_scan(self) -> tuple[int, bool]:
        """Return this tracker's share and whether some in-flight job may lack a live lease."""
        # One round trip: the scan runs four times a second in every worker process.
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        pipe.zcard(self.ledger.inflight_key())
        pipe.zcount(self.members_key, now, "+inf")  # Ledger.live_trackers
        pipe.zcount(self.leases_key, f"({now}", "+inf")
        in_flight, trackers, leased = pipe.execute()
        share = fair_share(int(in_flight), int(trackers), self.capacity)
        return share, worth_claiming(int(in_flight), int(leased))

    def scan_once(self) -> list[str]:
        """Claim up to this tracker's share, then hand back what it holds beyond it."""
        share, claimable = self._read_scan()  # one reading serves the claim and the rebalance
        claimed = self.claim_once(share=share) if claimable else []
        self.rebalance_once(share)
        return claimed

    def _claim_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.scan_once()
            except redis.RedisError as exc:
                log.warning("tracker cannot claim jobs: %s", type(exc).__name__)
            self._stop.wait(self.scan_seconds)

    def _renew_loop(self) -> None:
        while not self._stop.wait(renew_interval(self.lease_seconds)):
            try:
                self.renew_once()
            except redis.RedisError as exc:
                log.warning("tracker cannot renew leases: %s", type(exc).__name__)

    def _run(self, member: str) -> None:
        """Follow one job; drop its lease when it ended, lapse it when handed over."""
        account_id, _, job_id = member.partition("|")
        done = Followed.NOT_DONE

        def should_stop() -> bool:
            return self._stop.is_set() or member in self._releasing

        try:
            with self.app.app_context():
                done = self._follow_job(account_id, job_id, should_stop)
        except Exception as exc:  # a bug on one job must not stop the others
            log.error("following job %s failed: %s", job_id, type(exc).__name__)
        finally:
            with self._lock:
                self._owned.pop(member, None)
                handed_over = member in self._releasing and not self._stop.is_set()
                self._releasing.discard(member)
            with contextlib.suppress(redis.RedisError):
                pipe = self.redis.pipeline()
                if done == Followed.DONE:
                    # On failure the claim script still skips it: it is no longer in flight.
                    pipe.zrem(self.leases_key, member)
                    pipe.hdel(self.owners_key, member)
                elif not done and handed_over:
                    # Our follower has left (so no job is followed twice): lapse it now.
                    pipe.zadd(self.leases_key, {member: 0}, xx=True)
                if pipe.command_stack:
                    pipe.execute()


def _follow_in_worker(account_id: str, job_id: str, should_stop) -> Followed:
    """Follow one job to its end inside an app context; say whether it needs more following."""
    ledger: Ledger = current_app.extensions["ledger"]
    # The record, the key and the poll lease for the first long-poll, in one round trip.
    lead_for = get_settings().tracker_poll_seconds + LEASE_MARGIN
    loaded = load_followed(account_id, job_id, lead_seconds=lead_for)
    record = loaded.record
    if record is None:
        # Erased (e.g. a shop's redact) or expired: nothing left to follow.
        ledger.forget_inflight(account_id, job_id)
        return Followed.LET_GO
    if record.is_terminal:
        # Ended but still in flight: a crash came between storing the end and its fan-out,
        # or another process is finishing it right now.
        return _settle_when_due(ledger, record, should_stop)
    with bound_request_id(record.request_id):  # log lines follow the submitting request
        record = wait_in_worker(account_id, job_id, should_stop=should_stop, loaded=loaded)
    # The process that stored the end let the job go once its deliveries were queued; if
    # they could not be confirmed, it stays in flight and this lease lapses for a successor.
    return Followed.LET_GO if record.is_terminal else Followed.NOT_DONE


def _settle_when_due(
    ledger: Ledger, record: JobRecord, should_stop: Callable[[], bool]
) -> Followed:
    """Settle an ended job left in flight once no other process can still be finishing it."""
    while time.time() - (record.finished_at or 0.0) < SETTLE_AFTER_SECONDS:
        if should_stop():
            return Followed.NOT_DONE
        time.sleep(0.5)
    member = f"{record.account_id}|{record.job_id}"
    if ledger.redis.zscore(ledger.inflight_key(), member) is None:
        return Followed.DONE  # the process that stored the end finished it meanwhile
    with bound_request_id(record.request_id):
        settle_ended(record)  # it lets the job go
    return Followed.LET_GO
