"""Turn ledger records into the flat objects Zapier sees, and find them for an account."""

from __future__ import annotations

from typing import Any

from connector.ledger import JobRecord, Ledger, iso
from zapier_app.schemas import ZapierBrandObject, ZapierEventObject, ZapierObject

_OBJECT = ZapierObject()
_EVENT_OBJECT = ZapierEventObject()
_BRAND_OBJECT = ZapierBrandObject()

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


def brand_label(item: dict[str, Any]) -> str:
    """Return what a Brand dropdown shows: `Name (domain)`, or whichever of them is known."""
    name, domain = item.get("brand_name"), item.get("domain")
    if name and domain:
        return f"{name} ({domain})"
    return name or domain or item.get("brand_id") or ""


def brand_object(record: JobRecord) -> dict[str, Any]:
    """Return a brand as the brands trigger and the brand search list it: `id = brand_id`."""
    item = zapier_object(record, id_field="brand_id")
    return _BRAND_OBJECT.dump({**item, "label": brand_label(item)})


def event_object(record: JobRecord, event: str) -> dict[str, Any]:
    """Return the object a REST hook delivers and the job_finished trigger lists."""
    return _EVENT_OBJECT.dump({**zapier_object(record), "event": event})


def finished_jobs(
    ledger: Ledger,
    account_id: str,
    *,
    limit: int,
    event: str | None,
    kind: str | None = None,
) -> list[dict[str, Any]]:
    """Return event objects of the account's finished jobs (one event, one kind), newest first."""
    # A filter may skip some records: read a bounded window so the answer stays cheap.
    window = limit if event is None and kind is None else limit * EVENT_FILTER_FACTOR
    items = []
    for record in ledger.list_jobs(account_id, limit=window, finished=True):
        events = [e for e in record.events if event is None or e == event]
        if events and (kind is None or record.kind == kind):
            items.append(event_object(record, events[0]))
    return items[:limit]
