"""The endpoints the Zapier integration calls (`/zapier/v1`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from marshmallow import Schema

from connector.auth import Account, current_account
from connector.config import get_settings
from connector.delivery import outbound
from connector.delivery.subscriptions import Subscriber
from connector.errors import BadRequest, NotFound
from connector.jobs.pi_clients import pi_client
from connector.jobs.queued_jobs import find_job
from connector.jobs.submission import submit_job
from connector.jobs.waiting import wait_short
from connector.ledger import bare_host, get_ledger, is_queued_id
from connector.pi.validation import UUID_RE
from connector.web.bodies import json_object, load
from connector.web.budget import request_budget
from connector.web.key_check import checked_account
from zapier_app import objects
from zapier_app.deliveries import CALLBACK_KIND, HOOK_KIND
from zapier_app.schemas import (
    BrandSearchQuery,
    BrandsTriggerQuery,
    ExtractBrandInput,
    GenerationInput,
    HookInput,
    JobSearchQuery,
    JobsTriggerQuery,
)

bp = Blueprint("zapier", __name__, url_prefix="/zapier/v1")

ACTIONS: dict[str, tuple[str, type[Schema]]] = {
    "extract_brand": ("brand_extraction", ExtractBrandInput),
    "generate_image": ("image_generation", GenerationInput),
    "render_campaign": ("campaign_render", GenerationInput),
}


def _query(schema: type[Schema]) -> dict[str, Any]:
    """Validate the query string (a ValidationError becomes a 400 naming the fields)."""
    return load(schema(), request.args.to_dict())


def _allow_private() -> bool:
    return get_settings().allow_private_targets


def check_target(url: str, field: str) -> None:
    """Refuse a URL we would POST to unless it is public https (outside the dev allowance)."""
    allow_private = _allow_private()
    if not allow_private and not url.lower().startswith("https://"):
        raise BadRequest(
            f"{field} must be an https URL",
            code=f"invalid_{field}",
            details={field: ["must be an https URL"]},
        )
    try:
        outbound.screen_target_url(url, allow_private=allow_private)
    except outbound.TargetRefused as exc:
        raise BadRequest(
            f"{field} refused: {exc}", code=f"invalid_{field}", details={field: [str(exc)]}
        ) from None


@bp.get("/me")
def me():
    """Check the key against Pi and return a connection label that never shows the key."""
    account = current_account()
    client = pi_client(account.api_key)
    try:
        client.list_brands(limit=1)  # Pi's 401/403 becomes our 401 (Zapier: reconnect)
    finally:
        client.close()
    return jsonify(
        {
            "account_id": account.account_id,
            "label": f"Pi account …{account.account_id[-4:]}",
        }
    )


@bp.post("/actions/<action>")
def run_action(action: str):
    """Submit a job once; wait briefly for it, or answer at once when Zapier gives a callback."""
    budget = request_budget(get_settings().zapier_wait_seconds)
    if action not in ACTIONS:
        raise NotFound("no such action", code="unknown_action")
    kind, schema = ACTIONS[action]
    account = current_account()
    body = load(schema(), json_object())
    callback_url = body.pop("callback_url", None)
    subscribers = []
    if callback_url:
        check_target(callback_url, "callback_url")
        subscribers.append(Subscriber(CALLBACK_KIND, callback_url))
    submission = submit_job(
        account,
        kind,
        {k: v for k, v in body.items() if v is not None},
        origin="zapier",
        idempotency_key=request.headers.get("Idempotency-Key") or None,
        subscribers=subscribers,
        # The create counts against Zapier's 30 s too, also when a callback answers later.
        deadline=budget.create_deadline,
    )
    record = submission.record
    if not callback_url:
        record = wait_short(account.api_key, record, deadline=budget.deadline)
    return jsonify(objects.zapier_object(record))


@bp.get("/searches/job")
def search_job():
    """Return `[job]`, or `[]` for an unknown or another account's job."""
    account = checked_account()
    job_id = _query(JobSearchQuery)["job_id"].strip()
    if not UUID_RE.match(job_id) and not is_queued_id(job_id):
        return jsonify([])
    # A queued id finds the job once Pi's id is known, and a `queued` object before.
    record = find_job(account.account_id, job_id)
    return jsonify([objects.zapier_object(record)] if record else [])


@bp.get("/searches/brand")
def search_brand():
    """Return `[brand]` found by brand id or domain, or `[]`."""
    account = checked_account()
    query = _query(BrandSearchQuery)
    ledger = get_ledger()
    record = None
    if query["brand_id"]:
        brand_id = query["brand_id"].strip()
        if UUID_RE.match(brand_id):
            record = ledger.find_brand(account.account_id, brand_id)
    elif query["domain"]:
        domain = bare_host(query["domain"])
        if domain:
            record = ledger.find_brand_by_domain(account.account_id, domain)
    return jsonify([objects.brand_object(record)] if record else [])


@bp.get("/triggers/brands")
def trigger_brands():
    """List one page of the account's brands, newest first, `id = brand_id`, with a label."""
    account = checked_account()
    query = _query(BrandsTriggerQuery)
    records = get_ledger().list_brands(
        account.account_id, limit=query["limit"], offset=query["page"] * query["limit"]
    )
    return jsonify([objects.brand_object(r) for r in records])


@bp.get("/triggers/jobs")
def trigger_jobs():
    """List the account's finished jobs, newest first, `id = job_id` (one event, one kind)."""
    account = checked_account()
    query = _query(JobsTriggerQuery)
    items = objects.finished_jobs(
        get_ledger(),
        account.account_id,
        limit=query["limit"],
        event=query["event"],
        kind=query["kind"],
    )
    return jsonify(items)


def _subscriptions():
    return current_app.extensions["subscriptions"]


def _hook_view(hook) -> dict[str, Any]:
    return {"id": hook.id, "event": hook.event, "target_url": hook.target_url}


@bp.post("/hooks")
def subscribe():
    """Store a REST hook subscription for one event of this account."""
    account = checked_account()
    body = load(HookInput(), json_object())
    check_target(body["target_url"], "target_url")
    hook = _subscriptions().create_hook(
        account.account_id, HOOK_KIND, body["target_url"], body["event"]
    )
    return jsonify(_hook_view(hook)), 201


@bp.delete("/hooks/<hook_id>")
def unsubscribe(hook_id: str):
    """Remove one of this account's hooks (404 for an unknown or another account's hook)."""
    account = current_account()
    hook = _owned_hook(account, hook_id)
    _subscriptions().delete_hook(account.account_id, hook.id)
    return jsonify({**_hook_view(hook), "deleted": True})


def _owned_hook(account: Account, hook_id: str):
    hook = _subscriptions().get_hook(account.account_id, hook_id)
    if hook is None:
        raise NotFound("no such hook", code="hook_not_found")
    return hook
