"""The Redis ledger: job records, their per-account indexes, lookups and status history."""

from __future__ import annotations

import json
import time

from flask import current_app

from connector.ledger.records import (
    DOMAIN_SEARCH_DEPTH,
    HISTORY_LENGTH,
    JobEvent,
    JobRecord,
    bare_host,
    result_bucket,
)
from connector.runtime.redis_store import RedisStore
from connector.runtime.script_trips import ScriptCall
from connector.runtime.staged_writes import APPLY_STAGED_LUA, staged_json

# Apply a job's end (its fields, indexes, history and announcement, staged as ARGV[1]) only
# while the job is not terminal; answer 1 when written. One round trip, not a check and a
# transaction: the worker stores hundreds of ends a second when a burst of jobs ends.
_FINISH_LUA = (
    APPLY_STAGED_LUA
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'completed' or status == 'failed' then return 0 end
apply_staged(ARGV[1])
return 1
"""
)

# Set fields only while the job is not terminal; answer 1 when written (the end, when its
# writes cannot be staged as JSON text; `record_end` follows).
_UPDATE_LUA = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'completed' or status == 'failed' then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""


# A non-terminal state, plus one history entry when the status or the phase changed.
_PROGRESS_LUA = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'completed' or status == 'failed' then return 0 end
local phase = redis.call('HGET', KEYS[1], 'phase') or ''
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
if status ~= ARGV[1] or (ARGV[2] ~= '' and phase ~= ARGV[2]) then
  redis.call('RPUSH', KEYS[2], ARGV[3])
  if redis.call('LLEN', KEYS[2]) > tonumber(ARGV[5]) then
    redis.call('LSET', KEYS[2], 1, '~')
    redis.call('LREM', KEYS[2], 1, '~')
  end
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
end
return 1
"""


class Ledger:
    """Read and write job records and their indexes in Redis."""

    def __init__(self, store: RedisStore, retention_days: float = 30) -> None:
        self.store = store
        self.redis = store.redis
        self.retention = int(retention_days * 86400)
        self._update = self.redis.register_script(_UPDATE_LUA)
        self._finish = self.redis.register_script(_FINISH_LUA)
        self._progress = self.redis.register_script(_PROGRESS_LUA)
        self._trackers_seen = (float("-inf"), 0)  # (monotonic time read, live trackers)

    # Keys carry the account as a hash tag so one account's keys share a cluster slot.
    def account_key(self, account_id: str, *parts: str) -> str:
        """Return a key in the account's keyspace."""
        return self.store.key("{" + account_id + "}", *parts)

    def job_key(self, account_id: str, job_id: str) -> str:
        """Return the key of a job record."""
        return self.account_key(account_id, "job", job_id)

    def inflight_key(self) -> str:
        """Return the key of the global set of jobs not yet terminal."""
        return self.store.key("inflight")

    def tracker_key(self, name: str) -> str:
        """Return a key of the tracker's bookkeeping beside the in-flight set (leases, owners)."""
        return self.store.key("tracker", name)

    def live_trackers(self, max_age: float = 0.0) -> int:
        """Return how many trackers (worker processes following jobs) are alive now.

        With `max_age`, a count this process read at most that many seconds ago will do:
        trackers come and go in seconds, and a burst of requests need not ask each time.
        """
        read_at, count = self._trackers_seen
        if max_age > 0 and time.monotonic() - read_at <= max_age:
            return count
        count = int(self.redis.zcount(self.tracker_key("members"), time.time(), "+inf"))
        self._trackers_seen = (time.monotonic(), count)
        return count

    def is_tracked(self, account_id: str, job_id: str) -> bool:
        """Return True while a live tracker holds the job's lease."""
        lapse = self.redis.zscore(self.tracker_key("leases"), f"{account_id}|{job_id}")
        return lapse is not None and lapse > time.time()

    def get_tracked(self, account_id: str, job_id: str) -> tuple[JobRecord | None, bool]:
        """Return the job's record and whether a live tracker holds its lease, in one trip."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(self.job_key(account_id, job_id))
        pipe.zscore(self.tracker_key("leases"), f"{account_id}|{job_id}")
        raw, lapse = pipe.execute()
        record = JobRecord.from_hash(raw) if raw and b"job_id" in raw else None
        return record, lapse is not None and lapse > time.time()

    def index_key(self, name: str, value: str) -> str:
        """Return a key of the cross-account lookups (job, request_id, domain, brand_id)."""
        return self.store.key("idx", name, value)

    def history_key(self, account_id: str, job_id: str) -> str:
        """Return the key of a job's status changes."""
        return self.account_key(account_id, "job", job_id, "hist")

    def result_times_key(self) -> str:
        """Return the key of the time-to-result histogram (bucket -> jobs)."""
        return self.store.key("stats", "ttr")

    def _index(self, pipe, name: str, value: str | None, member: str, score: float) -> None:
        """Add a job to a bounded cross-account lookup (kept as long as the ledger keeps jobs)."""
        if not value:
            return
        key = self.index_key(name, value.lower())
        pipe.zadd(key, {member: score})
        pipe.zremrangebyscore(key, 0, time.time() - self.retention)
        pipe.zremrangebyrank(key, 0, -1001)  # a hot domain keeps its latest thousand jobs
        pipe.expire(key, self.retention)

    def _history(self, pipe, record: JobRecord, at: float) -> None:
        entry = json.dumps({"status": record.status, "phase": record.phase, "at": at})
        key = self.history_key(record.account_id, record.job_id)
        pipe.rpush(key, entry)
        pipe.expire(key, self.retention)

    def ended_channel(self) -> str:
        """Return the channel on which a job's end is announced (as "account|job")."""
        return self.store.key("jobs", "ended")

    def create(self, record: JobRecord, pipe=None, extra: dict[str, str] | None = None) -> None:
        """Write a new record and index it (in the given pipeline when there is one)."""
        own = pipe is None
        pipe = pipe if pipe is not None else self.redis.pipeline()
        key = self.job_key(record.account_id, record.job_id)
        pipe.hset(key, mapping={**record.to_hash(), **(extra or {})})
        pipe.expire(key, self.retention)
        jobs = self.account_key(record.account_id, "jobs")
        pipe.zadd(jobs, {record.job_id: record.created_at})
        pipe.zremrangebyscore(jobs, 0, time.time() - self.retention)
        pipe.expire(jobs, self.retention)
        if record.origin_ref:
            origin = self.account_key(record.account_id, "origin", record.origin, record.origin_ref)
            pipe.sadd(origin, record.job_id)
            pipe.expire(origin, self.retention)
        member = f"{record.account_id}|{record.job_id}"
        pipe.zadd(self.inflight_key(), {member: record.created_at})
        # Lookups across accounts for the operator console, bounded like the records.
        pipe.set(self.index_key("job", record.job_id), record.account_id, ex=self.retention)
        self._index(pipe, "request", record.request_id, member, record.created_at)
        self._index(pipe, "domain", record.domain, member, record.created_at)
        self._history(pipe, record, record.created_at)
        if own:
            pipe.execute()

    def get(self, account_id: str, job_id: str) -> JobRecord | None:
        """Return the account's record of the job, or None (also for another account's job)."""
        raw = self.redis.hgetall(self.job_key(account_id, job_id))
        return JobRecord.from_hash(raw) if raw and b"job_id" in raw else None

    def get_field(self, account_id: str, job_id: str, name: str) -> str | None:
        """Return one stored field of a record."""
        value = self.redis.hget(self.job_key(account_id, job_id), name)
        return value.decode() if value is not None else None

    def update_progress(self, account_id: str, job_id: str, status: str, phase: str | None) -> bool:
        """Record a non-terminal state; ignored once the job is terminal."""
        return bool(self.progress_call(account_id, job_id, status, phase).run())

    def progress_call(
        self, account_id: str, job_id: str, status: str, phase: str | None
    ) -> ScriptCall:
        """Return the write `update_progress` makes, for a caller to send with its own trip."""
        now = time.time()
        fields = ["status", status, "updated_at", repr(now)]
        if phase:
            fields += ["phase", phase]
        entry = json.dumps({"status": status, "phase": phase, "at": now})
        args = [status, phase or "", entry, self.retention, HISTORY_LENGTH, *fields]
        keys = [self.job_key(account_id, job_id), self.history_key(account_id, job_id)]
        return ScriptCall(self._progress, keys, args)

    def finish(self, record: JobRecord, *, leave_inflight: bool = True) -> bool:
        """Store the terminal state once; return True for the call that made the transition.

        `leave_inflight=False` keeps the job in the in-flight set until the caller has queued
        what the end owes (`leave_inflight` then), so a crash in between is found again.
        """
        assert record.is_terminal
        now = time.time()
        record.finished_at = record.finished_at or now
        record.updated_at = now
        fields = {
            k: v
            for k, v in record.to_hash().items()
            if k
            in (
                "status",
                "brand_id",
                "brand",
                "image_url",
                "error",
                "phase",
                "updated_at",
                "finished_at",
            )
        }
        key = self.job_key(record.account_id, record.job_id)
        staging = self.redis.pipeline(transaction=False)  # never executed: it stages
        staging.hset(key, mapping=fields)
        self._stage_end(staging, record)
        staged = staged_json(staging)
        if staged is not None:
            if not self._finish(keys=[key], args=[staged]):
                return False
        else:
            args = [item for pair in fields.items() for item in pair]
            if not self._update(keys=[key], args=args):
                return False
            self.record_end(record)
        if leave_inflight:
            self.leave_inflight(record)
        return True

    def record_end(self, record: JobRecord) -> None:
        """Index a stored end and wake its waiters; repeatable (a crash may cut it short).

        The job stays in the in-flight set until `leave_inflight`: a tracker that finds an
        ended job there finishes what a crash interrupted (this, then the fan-out).
        """
        pipe = self.redis.pipeline()
        self._stage_end(pipe, record)
        pipe.execute()

    def _stage_end(self, pipe, record: JobRecord) -> None:
        """Stage what `record_end` writes."""
        now = time.time()
        key = self.job_key(record.account_id, record.job_id)
        finished_at = record.finished_at or now
        pipe.hdel(key, "api_key")  # the tracker no longer needs the caller's key
        member = f"{record.account_id}|{record.job_id}"
        pipe.publish(self.ended_channel(), member)  # wakes waiters that are not polling Pi
        finished = self.account_key(record.account_id, "finished")
        pipe.zadd(finished, {record.job_id: finished_at})
        self._history(pipe, record, finished_at)
        self._index(pipe, "brand", record.brand_id, member, finished_at)
        self._index(pipe, "domain", record.domain, member, finished_at)
        pipe.hincrby(self.result_times_key(), result_bucket(finished_at - record.created_at), 1)
        pipe.zremrangebyscore(finished, 0, now - self.retention)
        pipe.expire(finished, self.retention)
        if JobEvent.BRAND_EXTRACTED in record.events and record.brand_id:
            brands = self.account_key(record.account_id, "brands")
            pipe.zadd(brands, {record.brand_id: finished_at})
            pipe.zremrangebyscore(brands, 0, now - self.retention)
            pipe.expire(brands, self.retention)
            brand_jobs = self.account_key(record.account_id, "brandjob")
            pipe.hset(brand_jobs, record.brand_id, record.job_id)
            pipe.expire(brand_jobs, self.retention)

    def leave_inflight(self, record: JobRecord) -> None:
        """Take an ended job out of the in-flight set, once everything its end owes is queued."""
        self.forget_inflight(record.account_id, record.job_id)

    def forget_inflight(self, account_id: str, job_id: str) -> None:
        """Drop a job from the in-flight set and its tracker's lease and owner, in one trip."""
        member = f"{account_id}|{job_id}"
        pipe = self.redis.pipeline(transaction=False)
        pipe.zrem(self.inflight_key(), member)
        # Nothing is left to follow: whichever process ended the job frees the tracker's claim,
        # so the tracker need not make a round trip of its own for it.
        pipe.zrem(self.tracker_key("leases"), member)
        pipe.hdel(self.tracker_key("owners"), member)
        pipe.execute()

    def _records(self, account_id: str, job_ids: list[bytes | str]) -> list[JobRecord]:
        pipe = self.redis.pipeline()
        for job_id in job_ids:
            pipe.hgetall(self.job_key(account_id, _decoded(job_id)))
        return [JobRecord.from_hash(raw) for raw in pipe.execute() if raw and b"job_id" in raw]

    def list_jobs(
        self, account_id: str, *, limit: int = 50, finished: bool = False
    ) -> list[JobRecord]:
        """Return the account's jobs (or finished jobs), newest first."""
        index = self.account_key(account_id, "finished" if finished else "jobs")
        return self._records(account_id, self.redis.zrevrange(index, 0, max(limit, 1) - 1))

    def list_brands(self, account_id: str, *, limit: int = 50, offset: int = 0) -> list[JobRecord]:
        """Return the latest completed extraction of each brand, newest first (one page)."""
        start = max(offset, 0)
        brand_ids = self.redis.zrevrange(
            self.account_key(account_id, "brands"), start, start + max(limit, 1) - 1
        )
        if not brand_ids:
            return []
        job_ids = self.redis.hmget(self.account_key(account_id, "brandjob"), brand_ids)
        return self._records(account_id, [j for j in job_ids if j])

    def find_brand_by_domain(self, account_id: str, domain: str) -> JobRecord | None:
        """Return the latest completed extraction for a domain among the account's recent brands."""
        wanted = bare_host(domain)
        # Brands are indexed by id only; a bounded newest-first read keeps this cheap.
        for record in self.list_brands(account_id, limit=DOMAIN_SEARCH_DEPTH):
            if wanted and record.domain == wanted:
                return record
        return None

    def find_brand(self, account_id: str, brand_id: str) -> JobRecord | None:
        """Return the latest completed extraction of a brand, or None."""
        job_id = self.redis.hget(self.account_key(account_id, "brandjob"), brand_id)
        return self.get(account_id, _decoded(job_id)) if job_id else None

    def inflight(self, limit: int = 1000) -> list[tuple[str, str]]:
        """Return (account_id, job_id) of jobs not yet terminal, oldest first."""
        members = self.redis.zrange(self.inflight_key(), 0, limit - 1)
        return [tuple(_decoded(m).split("|", 1)) for m in members]  # type: ignore[misc]

    def erase_origin(self, account_id: str, origin: str, origin_ref: str) -> int:
        """Delete every record made for one origin reference (e.g. a shop) and its index entries."""
        origin_key = self.account_key(account_id, "origin", origin, origin_ref)
        job_ids = [_decoded(j) for j in self.redis.smembers(origin_key)]
        records = self._records(account_id, job_ids)
        pipe = self.redis.pipeline()
        for job_id in job_ids:
            pipe.delete(self.job_key(account_id, job_id))
            pipe.delete(self.account_key(account_id, "job", job_id, "subs"))
            pipe.delete(self.index_key("job", job_id))
            for part in ("queued", "hist", "dl", "dla", "dlbusy"):  # dl*: the delivery log
                pipe.delete(self.account_key(account_id, "job", job_id, part))
            for index in ("jobs", "finished"):
                pipe.zrem(self.account_key(account_id, index), job_id)
            pipe.zrem(self.inflight_key(), f"{account_id}|{job_id}")
        for record in records:
            member = f"{account_id}|{record.job_id}"
            for name, value in (
                ("request", record.request_id),
                ("domain", record.domain),
                ("brand", record.brand_id),
            ):
                if value:
                    pipe.zrem(self.index_key(name, value.lower()), member)
            if record.brand_id:
                brand_jobs = self.account_key(account_id, "brandjob")
                # Forget the brand only when this origin's job is the one listed for it.
                if _decoded(self.redis.hget(brand_jobs, record.brand_id) or b"") == record.job_id:
                    pipe.hdel(brand_jobs, record.brand_id)
                    pipe.zrem(self.account_key(account_id, "brands"), record.brand_id)
        pipe.delete(origin_key)
        pipe.execute()
        return len(job_ids)

    def init_app(self, app) -> None:
        """Register the ledger on the app."""
        app.extensions["ledger"] = self


def _decoded(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def get_ledger() -> Ledger:
    """Return the ledger of the current app."""
    return current_app.extensions["ledger"]
