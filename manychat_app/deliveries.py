"""The ManyChat push delivery kind: set the contact's fields, send the image, then send a flow."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from flask import Flask

from connector.delivery.dispatch import register_delivery_kind
from connector.delivery.outcomes import DELIVERED, FAILED, Outcome, Target
from connector.delivery.subscriptions import Subscriber
from connector.ledger import BRAND_FIELDS, JobKind, JobRecord, JobStatus, get_ledger
from connector.runtime.patience import write_patiently
from manychat_app.client import MAX_FIELDS, ManyChatClient, client_from_settings
from manychat_app.dynamic_block import MESSENGER, block
from manychat_app.replies import image_messages

PUSH_KIND = "manychat_push"
# Brand extractions (design §8).
PUSH_FIELDS = ("job_id", "status", *BRAND_FIELDS)
# Image and campaign jobs: `job_status`, not `status`, so a contact's image flow never
# overwrites the status field its brand flow reads.
IMAGE_PUSH_FIELDS = ("job_id", "job_status", "image_url")
# Progress of one push, one hash field per step: a retry repeats none that succeeded.
FIELDS_SET, CONTENT_SENT, FLOW_SENT = "fields_set", "content_sent", "flow_sent"


def push_subscriber(
    subscriber_id: str,
    api_key: str,
    flow_ns: str | None,
    *,
    send_image: bool = False,
    channel: str = MESSENGER,
) -> Subscriber:
    """Return the subscriber that pushes a job to one ManyChat contact (key kept as a secret)."""
    data: dict[str, Any] = {"subscriber_id": subscriber_id, "flow_ns": flow_ns}
    # Only set when asked, so a brand push keeps the subscriber id (and dedupe) it always had.
    if send_image:
        data["send_image"] = True
        if channel != MESSENGER:
            data["channel"] = channel
    return Subscriber(PUSH_KIND, None, data, secret=api_key)


def push_fields(record: JobRecord) -> list[dict[str, Any]]:
    """Return setCustomFields' `fields`: the job's fields that are known."""
    if record.kind == JobKind.BRAND_EXTRACTION:
        names = PUSH_FIELDS
        values = {**record.brand_fields(), "job_id": record.job_id, "status": record.status}
    else:
        names = IMAGE_PUSH_FIELDS
        values = {
            "job_id": record.job_id,
            "job_status": record.status,
            "image_url": record.image_url,
        }
    # ManyChat cannot store null; an unknown value is left out rather than sent empty.
    fields = [
        {"field_name": name, "field_value": values[name]}
        for name in names
        if values.get(name) is not None
    ]
    return fields[:MAX_FIELDS]


def image_content(record: JobRecord, channel: str) -> dict[str, Any] | None:
    """Return the Dynamic Block sendContent delivers: the finished image (None without one)."""
    if record.status != JobStatus.COMPLETED or not record.image_url:
        return None
    return block(image_messages(record.image_url, record.kind, channel), [], channel)


def _progress_key(record: JobRecord, target: Target) -> str:
    return get_ledger().account_key(
        record.account_id, "job", record.job_id, "mcpush", str(target.ref)
    )


def steps_done(record: JobRecord, target: Target) -> set[str]:
    """Return the steps an earlier attempt of this push already completed."""
    done = get_ledger().redis.hkeys(_progress_key(record, target))
    return {name.decode() if isinstance(name, bytes) else name for name in done}


def _mark_done(record: JobRecord, target: Target, step: str) -> None:
    ledger = get_ledger()
    key = _progress_key(record, target)

    def write() -> None:
        pipe = ledger.redis.pipeline()
        pipe.hset(key, step, repr(time.time()))
        pipe.expire(key, ledger.retention)
        pipe.execute()

    # ManyChat has done the step: a retry repeating it would show the contact a flow twice.
    write_patiently(write)


def _steps(
    record: JobRecord, target: Target, client: ManyChatClient, subscriber_id: str
) -> list[tuple[str, Callable[[], Outcome]]]:
    """Return the push's steps in order: fields, then the image when asked, then the flow."""
    steps = [(FIELDS_SET, lambda: client.set_custom_fields(subscriber_id, push_fields(record)))]
    content = None
    if target.data.get("send_image"):
        content = image_content(record, str(target.data.get("channel") or MESSENGER))
    if content is not None:
        steps.append((CONTENT_SENT, lambda: client.send_content(subscriber_id, content)))
    flow_ns = target.data.get("flow_ns")
    if flow_ns:
        steps.append((FLOW_SENT, lambda: client.send_flow(subscriber_id, str(flow_ns))))
    return steps


def deliver_push(record: JobRecord, target: Target) -> Outcome:
    """Delivery handler: do each step of the push once, stopping at the first that fails."""
    if not target.secret:
        return Outcome(FAILED, "the ManyChat API key is no longer stored")
    subscriber_id = str(target.data.get("subscriber_id") or "")
    if not subscriber_id:
        return Outcome(FAILED, "no ManyChat subscriber_id")
    client = client_from_settings(target.secret)
    # A retry after a later step failed must not repeat the earlier ones (and burn the rate
    # limit, or show the contact the image twice).
    done = steps_done(record, target)
    details = []
    last = Outcome(DELIVERED)
    for step, call in _steps(record, target, client, subscriber_id):
        if step in done:
            continue
        last = call()
        if last.result != DELIVERED:
            return last  # its detail names the step
        _mark_done(record, target, step)
        details.append(last.detail)
    # The last call's host and status stand for the push in the delivery log.
    return replace(last, result=DELIVERED, detail="; ".join(details) or "already delivered")


def init_app(app: Flask) -> None:
    """Register the ManyChat push delivery kind."""
    register_delivery_kind(app, PUSH_KIND, deliver_push)
