"""Turn ledger records into the flat objects Zapier sees, and find them for an account."""

from __future__ import annotations

from typing import Any

from connector.ledger import JobRecord, Ledger, iso
from zapier_app.schemas import ZapierEventObject, ZapierObject

_OBJECT = ZapierObject()
_EVENT_OBJECT = ZapierEventObject()

# How far the filtered jobs trigger looks back (bounded: no full scans).
EVENT_FILTER_FACTOR = 4


def zapier_object(record: JobRecord, *, id_field: str = "job_id") -> dict[str, Any]:
    """Return the flat Zapier object of a job; `id` is the job id unless told otherwise."""
    brand = {**record.brand_fields(), "domain": record.domain}
    raw = {
        "id": None,
        "job_id": record.job_id,
        "status": record.status,
        "kind": record.kind,
        **brand,
        "image_url": record.image_url,
        "error": record.error,
        "created_at": iso(record.created_at),
        "finished_at": iso(record.finished_at),
    }
    raw["id"] = raw[id_field]
    return _OBJECT.dump(raw)


def event_object(record: JobRecord, event: str) -> dict[str, Any]:
    """Return the object a REST hook delivers and the job_finished trigger lists."""
    return _EVENT_OBJECT.dump({**zapier_object(record), "event": event})


def finished_jobs(
    ledger: Ledger, account_id: str, *, limit: int, event: str | None
) -> list[dict[str, Any]]:
    """Return event objects of the account's finished jobs, newest first."""
    if event is None:
        records = ledger.list_jobs(account_id, limit=limit, finished=True)
        return [event_object(r, r.events[0]) for r in records if r.events]
    # A filter may skip some records: read a bounded window so the answer stays cheap.
    records = ledger.list_jobs(account_id, limit=limit * EVENT_FILTER_FACTOR, finished=True)
    return [event_object(r, event) for r in records if event in r.events][:limit]
