"""The generic API (/v1): jobs, their delivery log and redelivery, and the signed webhook kind."""

from __future__ import annotations

import uuid

from flask import Blueprint, Flask, current_app, jsonify, request, url_for
from marshmallow import Schema, fields, validate

from connector.auth import current_account
from connector.config import get_settings
from connector.delivery import outbound
from connector.delivery import signing as webhook_signing
from connector.delivery.delivery_log import STATES, get_delivery_log, public_view
from connector.delivery.dispatch import Redelivery, redeliver, register_delivery_kind
from connector.delivery.outcomes import Outcome, Target, post_outcome
from connector.delivery.subscriptions import Subscriber
from connector.delivery.webhook_secrets import (
    AccountSecrets,
    SigningSecretsRead,
    WebhookSecrets,
    get_webhook_secrets,
)
from connector.errors import BadRequest, Conflict, NotFound
from connector.jobs.queued_jobs import resolve_job
from connector.jobs.submission import submit_job
from connector.jobs.waiting import wait_short
from connector.ledger import JobKind, JobRecord, is_queued_id, iso
from connector.web.bodies import json_object, load, wait_seconds
from connector.web.budget import request_budget
from connector.web.key_check import checked_account

bp = Blueprint("api_v1", __name__, url_prefix="/v1")

MAX_WAIT_SECONDS = 25.0


class JobCreateSchema(Schema):
    """Body of POST /v1/jobs."""

    kind = fields.String(required=True, validate=validate.OneOf(list(JobKind)))
    input = fields.Dict(required=True, keys=fields.String())
    callback_url = fields.Url(schemes={"http", "https"}, require_tld=False, load_default=None)


def check_callback_url(url: str) -> None:
    """Refuse a callback target that is not a public http(s) address (outside the dev allowance)."""
    try:
        outbound.screen_target_url(url, allow_private=get_settings().allow_private_targets)
    except outbound.TargetRefused as exc:
        raise BadRequest(
            f"callback_url refused: {exc}",
            code="invalid_callback_url",
            details={"callback_url": [str(exc)]},
        ) from None


@bp.post("/jobs")
def create_job():
    """Submit a job (idempotently) and answer 202 with its ledger view."""
    account = current_account()
    body = load(JobCreateSchema(), json_object())
    subscribers = []
    if body["callback_url"]:
        if not get_settings().webhook_secret:
            raise BadRequest(
                "callback_url is unavailable: the server has no CONNECTOR_WEBHOOK_SECRET",
                code="callback_unavailable",
            )
        check_callback_url(body["callback_url"])
        subscribers.append(Subscriber("webhook", body["callback_url"]))
    submission = submit_job(
        account,
        body["kind"],
        body["input"],
        origin="api",
        idempotency_key=request.headers.get("Idempotency-Key") or None,
        subscribers=subscribers,
    )
    response = jsonify(submission.record.view())
    response.status_code = 202 if submission.created else 200
    response.headers["Location"] = url_for("api_v1.get_job", job_id=submission.record.job_id)
    return response


@bp.get("/jobs/<job_id>")
def get_job(job_id: str):
    """Return the ledger view of a job, waiting up to ?wait=N seconds for it to end."""
    account = current_account()
    budget = request_budget(wait_seconds("wait", default=0.0, maximum=MAX_WAIT_SECONDS))
    record = record_or_404(account.account_id, job_id, deadline=budget.deadline)
    if budget.seconds > 0:
        record = wait_short(account.api_key, record, deadline=budget.deadline)
    return jsonify(record.view())


def record_or_404(account_id: str, job_id: str, *, deadline: float = 0.0) -> JobRecord:
    """Return the account's job, or raise a 404 (for a malformed id as well).

    A queued id is the job once Pi's id is known (waited for until the deadline), else its
    `queued` view.
    """
    if not is_queued_id(job_id):
        try:
            uuid.UUID(job_id)
        except ValueError:
            raise NotFound("no such job", code="job_not_found") from None
    record = resolve_job(account_id, job_id, deadline=deadline)
    if record is None:
        raise NotFound("no such job", code="job_not_found")
    return record


def deliver_webhook(record: JobRecord, target: Target) -> Outcome:
    """POST the job's view to a callback URL, signed the Standard Webhooks way."""
    # The account's own secret (and, during a rotation's grace, the previous one too): a
    # receiver holding another account's secret can neither verify nor forge these. Dispatch
    # read them with the target (SigningSecretsRead); a caller that did not, reads them now.
    found = target.prefetched
    if not isinstance(found, AccountSecrets):
        found = get_webhook_secrets().secrets(record.account_id)
    secrets = found.signing
    event = record.events[0]  # job.completed or job.failed
    body = current_app.json.dumps({"type": event, "data": record.view()}).encode()
    # A stable id lets receivers drop a redelivery.
    msg_id = f"msg_{record.job_id}_{target.ref.subscriber_id}"
    headers = webhook_signing.signed_headers(secrets, msg_id, body)
    headers["Content-Type"] = "application/json"
    return post_outcome(target.url, body, headers)


# -- webhook secrets ----------------------------------------------------------------------


def _secret_view(found: AccountSecrets) -> dict:
    return {
        "secret": found.current,
        "generation": found.generation,
        "previous_valid_until": iso(found.previous_until),
    }


def _webhook_secrets() -> WebhookSecrets:
    secrets = get_webhook_secrets()
    if not secrets.enabled:
        raise BadRequest(
            "signed callbacks are unavailable: the server has no CONNECTOR_WEBHOOK_SECRET",
            code="callback_unavailable",
        )
    return secrets


@bp.get("/webhook-secret")
def webhook_secret():
    """Return the secret that signs this account's callbacks (Standard Webhooks, whsec_)."""
    account = checked_account()  # a secret is only ever shown to a key Pi accepts
    return jsonify(_secret_view(_webhook_secrets().secrets(account.account_id)))


@bp.post("/webhook-secret/rotate")
def rotate_webhook_secret():
    """Start a new signing secret; the previous one keeps signing for the grace period."""
    account = checked_account()
    return jsonify(_secret_view(_webhook_secrets().rotate(account.account_id)))


# -- the delivery log ---------------------------------------------------------------------

DEFAULT_LIMIT, MAX_LIMIT = 50, 200


@bp.get("/jobs/<job_id>/deliveries")
def job_deliveries(job_id: str):
    """Return every delivery of the caller's job, each with its attempts."""
    account = checked_account()  # these answer from the ledger alone: ask Pi
    record = record_or_404(account.account_id, job_id)
    items = get_delivery_log().deliveries(account.account_id, record.job_id)
    return jsonify({"job_id": record.job_id, "deliveries": [public_view(i) for i in items]})


@bp.post("/jobs/<job_id>/deliveries/<delivery_id>/redeliver")
def redeliver_one(job_id: str, delivery_id: str):
    """Queue a fresh attempt of one delivery now: 202, or 409 while one is in flight."""
    account = checked_account()  # these answer from the ledger alone: ask Pi
    record = record_or_404(account.account_id, job_id)
    result = redeliver(account.account_id, record.job_id, delivery_id)
    if result == Redelivery.UNKNOWN:
        raise NotFound("no such delivery", code="delivery_not_found")
    if result == Redelivery.IN_FLIGHT:
        raise Conflict(
            "an attempt of this delivery is queued or running; try again when it ends",
            code="delivery_in_flight",
        )
    if result == Redelivery.NOT_REDELIVERABLE:
        raise Conflict(
            "this delivery is written by its platform's own task; it cannot be sent again",
            code="delivery_not_redeliverable",
        )
    response = jsonify({"job_id": record.job_id, "delivery_id": delivery_id, "status": "queued"})
    response.status_code = 202
    return response


@bp.get("/deliveries")
def list_deliveries():
    """Return the caller's deliveries in one state (default failed), newest first."""
    account = checked_account()  # these answer from the ledger alone: ask Pi
    state = request.args.get("state") or "failed"
    if state not in STATES:
        raise BadRequest(
            "state must be one of " + ", ".join(STATES),
            code="invalid_query",
            details={"state": ["unknown state"]},
        )
    limit = _limit()
    items = get_delivery_log().by_state(account.account_id, state, limit)
    return jsonify({"deliveries": [public_view(i) for i in items]})


def _limit() -> int:
    raw = request.args.get("limit")
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_LIMIT:
        raise BadRequest(
            f"limit must be an integer from 1 to {MAX_LIMIT}",
            code="invalid_query",
            details={"limit": ["out of range"]},
        )
    return value


def init_app(app: Flask) -> None:
    """Mount the generic API and its delivery kind."""
    app.register_blueprint(bp)
    register_delivery_kind(app, "webhook", deliver_webhook, prefetch=SigningSecretsRead())
