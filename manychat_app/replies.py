"""ManyChat reply formats: the flat object for JSONPath mapping, and the Dynamic Block v2."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from connector.errors import BadRequest
from connector.ledger import JobRecord

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


def flat_object(record: JobRecord) -> dict[str, Any]:
    """Return the flat reply: every key of FLAT_KEYS, null when unknown."""
    brand = {**record.brand_fields(), "domain": record.domain}
    values = {**brand, "status": record.status, "job_id": record.job_id, "error": record.error}
    return {key: values.get(key) for key in FLAT_KEYS}


def _message_text(flat: dict[str, Any]) -> str:
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
            "messages": [{"type": "text", "text": _message_text(flat)}],
            "actions": actions,
            "quick_replies": [],
        },
    }


def reply_format() -> str:
    """Read ?format= (json by default) or raise a 400 naming it."""
    wanted = request.args.get("format") or "json"
    if wanted not in FORMATS:
        raise BadRequest(
            "format must be json or dynamic_block",
            code="invalid_query",
            details={"format": [f"must be one of {', '.join(FORMATS)}"]},
        )
    return wanted


def reply(record: JobRecord, wanted: str):
    """Answer the job in the wanted format."""
    flat = flat_object(record)
    return jsonify(dynamic_block(flat) if wanted == "dynamic_block" else flat)
