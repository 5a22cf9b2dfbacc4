"""A job record and the vocabulary every layer shares: kinds, statuses, events, brand fields."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from connector.pi.validation import PiInputError, brand_domain


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
HISTORY_LENGTH = 50  # status changes kept per job (the first and the latest ones)
# Upper bounds (seconds) of the time-to-result histogram the console draws.
RESULT_BUCKETS = (5, 10, 30, 60, 120, 300, 600, 1800)
DOMAIN_SEARCH_DEPTH = 1000  # how many recent brands a search by domain looks through
BRAND_FIELDS = ("brand_id", "brand_name", "domain", "primary_hex", "secondary_hex", "logo_url")
# The connector's own id for a request answered before Pi gave a job id ("queued").
QUEUED_ID_PREFIX = "pcq_"
QUEUED_ID_RE = re.compile(r"^pcq_[0-9a-f]{32}$")


def is_queued_id(value: str | None) -> bool:
    """Return True for an id the connector gave a queued request (not one of Pi's job ids)."""
    return isinstance(value, str) and QUEUED_ID_RE.match(value) is not None


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


def result_bucket(seconds: float) -> str:
    """Return the histogram bucket of a time to result ("5" = up to 5 s, "inf" beyond)."""
    return next((str(b) for b in RESULT_BUCKETS if seconds <= b), "inf")
