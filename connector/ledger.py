"""The job ledger: one Redis record per submitted Pi job, with per-account indexes."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from flask import current_app

from connector.pi.validation import PiInputError, brand_domain
from connector.runtime.redis_store import RedisStore


class JobKind(StrEnum):
    """What a job makes (design §8)."""

    BRAND_EXTRACTION = "brand_extraction"
    IMAGE_GENERATION = "image_generation"
    CAMPAIGN_RENDER = "campaign_render"


class JobStatus(StrEnum):
    """Where a job is; the last two are terminal."""

    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class JobEvent(StrEnum):
    """What a finished job announces to account hooks."""

    BRAND_EXTRACTED = "brand.extracted"
    JOB_COMPLETED = "job.completed"
    JOB_FAILED = "job.failed"


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED})
DOMAIN_SEARCH_DEPTH = 1000  # how many recent brands a search by domain looks through
BRAND_FIELDS = ("brand_id", "brand_name", "domain", "primary_hex", "secondary_hex", "logo_url")

# Set fields only while the job is not terminal; answer 1 when written.
_UPDATE_LUA = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'completed' or status == 'failed' then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""


def bare_host(value: str | None) -> str | None:
    """Return the host a domain or URL names as Pi files brands ("https://www.A.com" -> "a.com")."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        return brand_domain(text if "://" in text else "https://" + text)
    except PiInputError:
        return None


def iso(ts: float | None) -> str | None:
    """Format epoch seconds as ISO 8601 UTC."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class JobRecord:
    """What the connector knows about one Pi job."""

    job_id: str
    account_id: str
    kind: JobKind
    input: dict[str, Any]
    origin: str
    status: JobStatus = JobStatus.QUEUED
    origin_ref: str | None = None
    brand_id: str | None = None
    brand: dict[str, Any] | None = None
    image_url: str | None = None
    error: str | None = None
    phase: str | None = None
    request_id: str | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    def __post_init__(self) -> None:
        self.kind = JobKind(self.kind)
        self.status = JobStatus(self.status)

    @property
    def is_terminal(self) -> bool:
        """Return True once the job completed or failed."""
        return self.status in TERMINAL

    @property
    def domain(self) -> str | None:
        """Return the brand's bare host: Pi's word for it, else the host of the submitted URL."""
        # Records written before domains were stored bare may hold a URL: read it as its host.
        stored = bare_host((self.brand or {}).get("domain"))
        if stored or self.kind != JobKind.BRAND_EXTRACTION:
            return stored
        return bare_host(self.input.get("url"))

    @property
    def events(self) -> tuple[JobEvent, ...]:
        """Return the hook events this job raises once it has ended (none before)."""
        if self.status == JobStatus.FAILED:
            return (JobEvent.JOB_FAILED,)
        if self.status != JobStatus.COMPLETED:
            return ()
        if self.kind == JobKind.BRAND_EXTRACTION:
            return (JobEvent.JOB_COMPLETED, JobEvent.BRAND_EXTRACTED)
        return (JobEvent.JOB_COMPLETED,)

    def brand_fields(self) -> dict[str, Any]:
        """Return the flattened brand fields, every key present (None when unknown)."""
        fields = dict.fromkeys(BRAND_FIELDS)
        fields.update({k: v for k, v in (self.brand or {}).items() if k in fields})
        fields["brand_id"] = self.brand_id or fields["brand_id"]
        return fields

    def view(self) -> dict[str, Any]:
        """Return the public ledger view (design §8)."""
        return {
            "job_id": self.job_id,
            "kind": self.kind,
            "status": self.status,
            "brand_id": self.brand_id,
            "image_url": self.image_url,
            "brand": self.brand_fields() if self.kind == JobKind.BRAND_EXTRACTION else None,
            "error": self.error,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }

    def to_hash(self) -> dict[str, str]:
        """Return the Redis hash form (None values omitted)."""
        raw = {
            "job_id": self.job_id,
            "account_id": self.account_id,
            "kind": self.kind,
            "input": json.dumps(self.input, sort_keys=True),
            "origin": self.origin,
            "origin_ref": self.origin_ref,
            "status": self.status,
            "brand_id": self.brand_id,
            "brand": json.dumps(self.brand) if self.brand is not None else None,
            "image_url": self.image_url,
            "error": self.error,
            "phase": self.phase,
            "request_id": self.request_id,
            "created_at": repr(self.created_at),
            "updated_at": repr(self.updated_at),
            "finished_at": repr(self.finished_at) if self.finished_at is not None else None,
        }
        return {k: v for k, v in raw.items() if v is not None}

    @classmethod
    def from_hash(cls, raw: dict[bytes, bytes]) -> JobRecord:
        """Build a record from its Redis hash."""
        d = {k.decode(): v.decode() for k, v in raw.items()}
        return cls(
            job_id=d["job_id"],
            account_id=d["account_id"],
            kind=d["kind"],
            input=json.loads(d.get("input", "{}")),
            origin=d.get("origin", "api"),
            origin_ref=d.get("origin_ref"),
            status=d.get("status", "queued"),
            brand_id=d.get("brand_id"),
            brand=json.loads(d["brand"]) if d.get("brand") else None,
            image_url=d.get("image_url"),
            error=d.get("error"),
            phase=d.get("phase"),
            request_id=d.get("request_id"),
            created_at=float(d.get("created_at", 0)),
            updated_at=float(d.get("updated_at", 0)),
            finished_at=float(d["finished_at"]) if d.get("finished_at") else None,
        )


class Ledger:
    """Read and write job records and their indexes in Redis."""

    def __init__(self, store: RedisStore, retention_days: float = 30) -> None:
        self.store = store
        self.redis = store.redis
        self.retention = int(retention_days * 86400)
        self._update = self.redis.register_script(_UPDATE_LUA)

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
        pipe.zadd(self.inflight_key(), {f"{record.account_id}|{record.job_id}": record.created_at})
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
        args = ["status", status, "updated_at", repr(time.time())]
        if phase:
            args += ["phase", phase]
        return bool(self._update(keys=[self.job_key(account_id, job_id)], args=args))

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
        args = [item for pair in fields.items() for item in pair]
        key = self.job_key(record.account_id, record.job_id)
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
        now = time.time()
        key = self.job_key(record.account_id, record.job_id)
        finished_at = record.finished_at or now
        pipe = self.redis.pipeline()
        pipe.hdel(key, "api_key")  # the tracker no longer needs the caller's key
        member = f"{record.account_id}|{record.job_id}"
        pipe.publish(self.ended_channel(), member)  # wakes waiters that are not polling Pi
        finished = self.account_key(record.account_id, "finished")
        pipe.zadd(finished, {record.job_id: finished_at})
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
        pipe.execute()

    def leave_inflight(self, record: JobRecord) -> None:
        """Take an ended job out of the in-flight set, once everything its end owes is queued."""
        self.redis.zrem(self.inflight_key(), f"{record.account_id}|{record.job_id}")

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
            pipe.delete(self.account_key(account_id, "job", job_id, "queued"))
            for index in ("jobs", "finished"):
                pipe.zrem(self.account_key(account_id, index), job_id)
            pipe.zrem(self.inflight_key(), f"{account_id}|{job_id}")
        for record in records:
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
