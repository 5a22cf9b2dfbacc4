"""Deliver finished jobs to Zapier: REST hook targets and `performResume` callback URLs."""

from __future__ import annotations

from flask import Flask, current_app

from connector.delivery.dispatch import register_delivery_kind
from connector.delivery.outcomes import Outcome, Target, post_outcome
from connector.ledger import JobRecord
from zapier_app import objects

HOOK_KIND = "zapier_hook"
CALLBACK_KIND = "zapier_callback"


def callback_body(record: JobRecord) -> dict:
    """Return the callback body: the same object the action returns when it waits itself."""
    return objects.zapier_object(record)


def hook_body(record: JobRecord, event: str) -> dict:
    """Return the REST hook body: the job object plus the event that fired."""
    return objects.event_object(record, event)


def _encode(body: dict) -> bytes:
    # Bytes, as the /v1 webhooks send them: the outbound client posts them unchanged.
    return current_app.json.dumps(body).encode()


def deliver_callback(record: JobRecord, target: Target) -> Outcome:
    """POST the final object to the Zapier callback URL (it becomes `bundle.cleanedRequest`)."""
    body = _encode(callback_body(record))
    return post_outcome(target.url, body, {"Content-Type": "application/json"})


def deliver_hook(record: JobRecord, target: Target) -> Outcome:
    """POST the event object to a REST hook target (410 removes the hook, 429 backs off)."""
    event = target.event or record.events[0]
    headers = {"Content-Type": "application/json", "X-Pi-Connector-Event": event}
    return post_outcome(target.url, _encode(hook_body(record, event)), headers)


def init_app(app: Flask) -> None:
    """Register the Zapier delivery kinds."""
    register_delivery_kind(app, HOOK_KIND, deliver_hook)
    register_delivery_kind(app, CALLBACK_KIND, deliver_callback)
