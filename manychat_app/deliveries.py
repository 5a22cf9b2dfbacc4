"""The ManyChat push delivery kind: set the contact's custom fields, then send a flow."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask

from connector.delivery.dispatch import DELIVERED, FAILED, Outcome, Target, register_delivery_kind
from connector.delivery.subscriptions import Subscriber
from connector.ledger import BRAND_FIELDS, JobRecord, get_ledger
from manychat_app.client import MAX_FIELDS, client_from_settings

PUSH_KIND = "manychat_push"
PUSH_FIELDS = ("job_id", "status", *BRAND_FIELDS)


def push_subscriber(subscriber_id: str, api_key: str, flow_ns: str | None) -> Subscriber:
    """Return the subscriber that pushes a job to one ManyChat contact (key kept as a secret)."""
    return Subscriber(
        PUSH_KIND, None, {"subscriber_id": subscriber_id, "flow_ns": flow_ns}, secret=api_key
    )


def push_fields(record: JobRecord) -> list[dict[str, Any]]:
    """Return setCustomFields' `fields`: job_id, status and the brand fields that are known."""
    values = {**record.brand_fields(), "job_id": record.job_id, "status": record.status}
    # ManyChat cannot store null; an unknown value is left out rather than sent empty.
    fields = [
        {"field_name": name, "field_value": values[name]}
        for name in PUSH_FIELDS
        if values.get(name) is not None
    ]
    return fields[:MAX_FIELDS]


def _progress_key(record: JobRecord, target: Target) -> str:
    return get_ledger().account_key(
        record.account_id, "job", record.job_id, "mcpush", str(target.ref)
    )


def fields_already_set(record: JobRecord, target: Target) -> bool:
    """Return True when an earlier attempt already set this contact's fields."""
    return bool(get_ledger().redis.hexists(_progress_key(record, target), "fields_set"))


def _mark_fields_set(record: JobRecord, target: Target) -> None:
    ledger = get_ledger()
    key = _progress_key(record, target)
    pipe = ledger.redis.pipeline()
    pipe.hset(key, "fields_set", repr(time.time()))
    pipe.expire(key, ledger.retention)
    pipe.execute()


def deliver_push(record: JobRecord, target: Target) -> Outcome:
    """Delivery handler: set the contact's fields once, then send the flow when one is given."""
    if not target.secret:
        return Outcome(FAILED, "the ManyChat API key is no longer stored")
    subscriber_id = str(target.data.get("subscriber_id") or "")
    if not subscriber_id:
        return Outcome(FAILED, "no ManyChat subscriber_id")
    flow_ns = target.data.get("flow_ns")
    client = client_from_settings(target.secret)
    # A retry after sendFlow failed must not set the fields again (and burn the rate limit).
    if not fields_already_set(record, target):
        outcome = client.set_custom_fields(subscriber_id, push_fields(record))
        if outcome.result != DELIVERED:
            return outcome
        _mark_fields_set(record, target)
    if not flow_ns:
        return Outcome(DELIVERED, "setCustomFields: ok")
    outcome = client.send_flow(subscriber_id, str(flow_ns))
    if outcome.result != DELIVERED:
        return outcome
    return Outcome(DELIVERED, "setCustomFields: ok; sendFlow: ok")


def init_app(app: Flask) -> None:
    """Register the ManyChat push delivery kind."""
    register_delivery_kind(app, PUSH_KIND, deliver_push)
