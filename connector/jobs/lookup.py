"""Find jobs across accounts (for operators) and put a job's life in order as a timeline."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from connector.delivery.delivery_log import DeliveryLog
from connector.ledger import JobRecord, Ledger, bare_host, iso

MAX_FOUND = 50


@dataclass(frozen=True)
class Found:
    """One job a search found: its account (hashed, as stored) and id."""

    account_id: str
    job_id: str


@dataclass
class TimelineEvent:
    """One moment of a job's life."""

    at: float
    what: str  # submitted | status | finished | attempt
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def when(self) -> str | None:
        """Return the moment as ISO 8601 UTC."""
        return iso(self.at)


def _members(ledger: Ledger, name: str, value: str) -> list[Found]:
    raw = ledger.redis.zrevrange(ledger.index_key(name, value.lower()), 0, MAX_FOUND - 1)
    found = []
    for member in raw:
        account_id, _, job_id = member.decode().partition("|")
        found.append(Found(account_id, job_id))
    return found


def find_jobs(ledger: Ledger, query: str) -> list[Found]:
    """Return the jobs a job id, request id, brand_id or domain names, newest first."""
    text = query.strip()
    if not text or len(text) > 300:
        return []
    found: list[Found] = []
    if _is_uuid(text):
        account_id = ledger.redis.get(ledger.index_key("job", text.lower()))
        if account_id is not None:
            found.append(Found(account_id.decode(), text.lower()))
        found += _members(ledger, "brand", text)
    found += _members(ledger, "request", text)
    domain = bare_host(text)
    if domain and not _is_uuid(text):
        found += _members(ledger, "domain", domain)
    unique = list(dict.fromkeys(found))
    return unique[:MAX_FOUND]


def records(ledger: Ledger, found: list[Found]) -> list[JobRecord]:
    """Return the records of found jobs that still exist, in the same order."""
    pipe = ledger.redis.pipeline(transaction=False)
    for item in found:
        pipe.hgetall(ledger.job_key(item.account_id, item.job_id))
    return [JobRecord.from_hash(raw) for raw in pipe.execute() if raw and b"job_id" in raw]


def history(ledger: Ledger, account_id: str, job_id: str) -> list[dict[str, Any]]:
    """Return the statuses the job went through, oldest first."""
    raw = ledger.redis.lrange(ledger.history_key(account_id, job_id), 0, -1)
    return [json.loads(item) for item in raw]


def timeline(
    ledger: Ledger, log: DeliveryLog, record: JobRecord
) -> tuple[list[TimelineEvent], list[dict[str, Any]]]:
    """Return the job's events in time order, and its deliveries (with their attempts)."""
    origin = record.origin + (f" ({record.origin_ref})" if record.origin_ref else "")
    events = [
        TimelineEvent(
            record.created_at,
            "submitted",
            f"submitted from {origin}",
            {"request_id": record.request_id, "kind": record.kind},
        )
    ]
    for change in history(ledger, record.account_id, record.job_id):
        status = change.get("status")
        if status in ("completed", "failed"):
            continue  # the finished event says it, with the result
        phase = f" ({change['phase']})" if change.get("phase") else ""
        events.append(TimelineEvent(float(change["at"]), "status", f"Pi: {status}{phase}"))
    if record.finished_at is not None:
        result = record.brand_id or record.image_url or record.error or ""
        events.append(
            TimelineEvent(record.finished_at, "finished", f"{record.status} {result}".strip())
        )
    deliveries = log.deliveries(record.account_id, record.job_id)
    for delivery in deliveries:
        for attempt in delivery["attempt_log"]:
            answer = attempt.get("status") or attempt.get("error") or ""
            text = f"{delivery['kind']} → {attempt.get('host') or '-'}: {attempt['result']}"
            events.append(
                TimelineEvent(
                    float(attempt["at"]),
                    "attempt",
                    f"{text} {answer}".strip(),
                    {"delivery_id": delivery["delivery_id"], **attempt},
                )
            )
    events.sort(key=lambda e: e.at)
    return events, deliveries


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
