"""The endpoints ManyChat External Requests call (`/manychat/v1`): extract a brand, read a job."""

from __future__ import annotations

import contextlib
import re
import time
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validates_schema

from connector.auth import current_account
from connector.errors import BadRequest, NotFound
from connector.jobs.submission import submit_job
from connector.jobs.waiting import wait_short
from connector.ledger import JobRecord, get_ledger
from connector.pi import validation
from connector.web.bodies import json_object, load
from manychat_app import deliveries as manychat_push

bp = Blueprint("manychat", __name__, url_prefix="/manychat/v1")

# Every key is always present (null when unknown) so a JSONPath mapping such as $.brand_id
# never breaks; `domain` is one of the brand fields every flattened brand carries (design §8).
FLAT_KEYS = (
    "status", "job_id", "brand_id", "brand_name", "domain", "primary_hex", "secondary_hex",
    "logo_url", "error",
)  # fmt: skip
# Dynamic Block v2 caps (ManyChat): 10 messages, 5 actions, 11 quick replies.
MAX_ACTIONS = 5
MAX_TEXT = 320  # short enough for every channel's text bubble (Messenger allows 640)
COMPLETED_ACTION_FIELDS = ("brand_id", "brand_name", "primary_hex", "secondary_hex", "logo_url")
PENDING_ACTION_FIELDS = ("job_id", "status")
FORMATS = ("json", "dynamic_block")
# Seconds kept from the wait budget for the answer's way out: under a burst (500 requests on 2
# cores, bench/bench_web_concurrency.py) a request starts up to ~0.7 s after it arrived.
ANSWER_MARGIN = 0.75

# ManyChat sends an unfilled merge field literally, alone or inside other text.
_UNFILLED = re.compile(r"\{\{[^{}]*\}\}")
_BARE_DOMAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]*\.[A-Za-z]{2,}(?:[/?#]\S*)?$")
_SUBSCRIBER_ID = re.compile(r"^[0-9]{1,24}$")
_API_KEY = re.compile(r"^[\x21-\x7e]{8,512}$")  # printable, no spaces: never echoed back
_FLOW_NS = re.compile(r"^[A-Za-z0-9_\-:.]{1,200}$")

MAP_HINT = "map it in the External Request body"


def is_unfilled(value: Any) -> bool:
    """Return True for a blank value or one holding an unfilled '{{...}}' merge field."""
    if value is None:
        return True
    return isinstance(value, str) and (not value.strip() or bool(_UNFILLED.search(value)))


def _check(pattern: re.Pattern[str], message: str):
    def run(value: str) -> None:
        if not pattern.match(value):
            raise ValidationError(message)

    return run


def _brand_url(value: str) -> None:
    try:
        validation.validate_brand_input(url=value)
    except validation.PiInputError as exc:
        raise ValidationError(exc.message) from None


class ExtractInput(Schema):
    """Body of POST /brands/extract; unfilled placeholders count as missing."""

    class Meta:
        unknown = EXCLUDE  # ManyChat adds fields of its own at times; they are not errors

    url = fields.String(
        required=True,
        validate=_brand_url,
        error_messages={
            "required": "is missing or an unfilled placeholder: "
            f"{MAP_HINT} to the field that holds the website address"
        },
    )
    subscriber_id = fields.String(
        load_default=None,
        validate=_check(_SUBSCRIBER_ID, "must be the contact's numeric id (ManyChat Contact Id)"),
    )
    manychat_api_key = fields.String(
        load_default=None,
        validate=_check(_API_KEY, "must be a ManyChat API key (Settings > API), without spaces"),
    )
    flow_ns = fields.String(
        load_default=None,
        validate=_check(_FLOW_NS, "must be a flow's namespace, e.g. content20240101000000_000000"),
    )

    @pre_load
    def clean(self, data: Any, **_: Any) -> Any:
        """Drop unfilled or blank values; read numbers as text; add https:// to a bare domain."""
        if not isinstance(data, dict):
            return data
        cleaned = {}
        for key, value in data.items():
            if is_unfilled(value):
                continue
            if isinstance(value, int | float) and not isinstance(value, bool):
                value = str(int(value)) if float(value).is_integer() else str(value)
            cleaned[key] = value.strip() if isinstance(value, str) else value
        url = cleaned.get("url")
        if isinstance(url, str) and "://" not in url and _BARE_DOMAIN.match(url):
            cleaned["url"] = "https://" + url  # what a contact types into a chat
        return cleaned

    @validates_schema
    def push_needs_both(self, data: dict[str, Any], **_: Any) -> None:
        """Refuse half a push setup: the API key and the contact id go together."""
        key, sub = data.get("manychat_api_key"), data.get("subscriber_id")
        errors: dict[str, list[str]] = {}
        if key and not sub:
            errors["subscriber_id"] = [
                f"is required with manychat_api_key: {MAP_HINT} to the Contact Id field"
            ]
        if sub and not key:
            errors["manychat_api_key"] = [
                f"is required with subscriber_id: {MAP_HINT} (ManyChat Settings > API)"
            ]
        if data.get("flow_ns") and not (key or sub):
            message = f"is required with flow_ns: {MAP_HINT}"
            errors = {"manychat_api_key": [message], "subscriber_id": [message]}
        if errors:
            raise ValidationError(errors)


def flat_object(record: JobRecord) -> dict[str, Any]:
    """Return the flat reply: every key of FLAT_KEYS, null when unknown."""
    brand = record.brand_fields()
    if record.kind == "brand_extraction" and not brand["domain"] and record.input.get("url"):
        with contextlib.suppress(validation.PiInputError):
            brand["domain"] = validation.brand_domain(record.input["url"])
    values = {**brand, "status": record.status, "job_id": record.job_id, "error": record.error}
    return {key: values.get(key) for key in FLAT_KEYS}


def _text(flat: dict[str, Any]) -> str:
    """Return the short message the Dynamic Block shows the contact."""
    if flat["status"] == "completed":
        name = flat["brand_name"] or flat["domain"] or "the brand"
        text = f"Brand ready: {name}"
        colours = ", ".join(c for c in (flat["primary_hex"], flat["secondary_hex"]) if c)
        if colours:
            text += f" (colours {colours})"
    elif flat["status"] == "failed":
        text = f"Sorry, the brand could not be extracted: {flat['error'] or 'unknown error'}"
    else:
        text = "Still working on your brand; it will be ready shortly."
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def dynamic_block(flat: dict[str, Any]) -> dict[str, Any]:
    """Return a Dynamic Block v2 reply that sets the job's custom fields and says where it is."""
    names = COMPLETED_ACTION_FIELDS if flat["status"] == "completed" else PENDING_ACTION_FIELDS
    # ManyChat cannot set a field to null; an unknown value is left out, not sent empty.
    actions = [
        {"action": "set_field_value", "field_name": name, "value": flat[name]}
        for name in names
        if flat[name] is not None
    ][:MAX_ACTIONS]
    return {
        "version": "v2",
        "content": {
            "messages": [{"type": "text", "text": _text(flat)}],
            "actions": actions,
            "quick_replies": [],
        },
    }


def _reply_format() -> str:
    """Read ?format= (json by default) or raise a 400 naming it."""
    wanted = request.args.get("format") or "json"
    if wanted not in FORMATS:
        raise BadRequest(
            "format must be json or dynamic_block",
            code="invalid_query",
            details={"format": [f"must be one of {', '.join(FORMATS)}"]},
        )
    return wanted


def _reply(record: JobRecord, wanted: str):
    flat = flat_object(record)
    return jsonify(dynamic_block(flat) if wanted == "dynamic_block" else flat)


def _request_started() -> float:
    """Return when the request began, on the monotonic clock (the budget counts from there)."""
    now = time.monotonic()
    began = g.get("request_started")  # perf_counter() taken before any view code ran
    return now - max(0.0, time.perf_counter() - began) if began is not None else now


def _budget_deadline(started: float) -> float:
    budget = float(current_app.config["CONNECTOR_MANYCHAT_WAIT_SECONDS"])
    # Stop waiting a little early: ManyChat's clock runs until the answer's last byte.
    return started + max(0.0, budget - ANSWER_MARGIN)


@bp.post("/brands/extract")
def extract_brand():
    """Submit a brand extraction once, wait up to the ManyChat budget, answer the flat object."""
    started = _request_started()
    account = current_account()
    wanted = _reply_format()
    body = load(ExtractInput(), json_object())
    subscribers = []
    if body["manychat_api_key"]:
        subscribers.append(
            manychat_push.push_subscriber(
                body["subscriber_id"], body["manychat_api_key"], body["flow_ns"]
            )
        )
    submission = submit_job(
        account,
        "brand_extraction",
        {"url": body["url"]},
        origin="manychat",
        idempotency_key=request.headers.get("Idempotency-Key") or None,
        subscribers=subscribers,
        # A hanging Pi must not hold the answer past ManyChat's budget (PI_TIMEOUT is longer).
        create_timeout=max(1.0, _budget_deadline(started) - time.monotonic()),
    )
    record = wait_short(account.api_key, submission.record, deadline=_budget_deadline(started))
    return _reply(record, wanted)


@bp.get("/jobs/<job_id>")
def get_job(job_id: str):
    """Answer a job's flat object (404 for unknown or another account's job), waiting briefly."""
    started = _request_started()
    account = current_account()
    wanted = _reply_format()
    if is_unfilled(job_id):
        raise BadRequest(
            "job_id is an unfilled placeholder: put the custom field that holds the job_id "
            "into the request URL",
            code="invalid_input",
            details={"job_id": ["is an unfilled placeholder"]},
        )
    record = None
    if validation.UUID_RE.match(job_id):
        record = get_ledger().get(account.account_id, job_id)
    if record is None:
        raise NotFound("no such job", code="job_not_found")
    record = wait_short(account.api_key, record, deadline=_budget_deadline(started))
    return _reply(record, wanted)

