"""ManyChat reply formats: the flat object for JSONPath mapping, and the Dynamic Block v2."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import jsonify, request

from connector.errors import BadRequest
from connector.ledger import JobKind, JobRecord, JobStatus
from manychat_app import dynamic_block
from manychat_app.dynamic_block import block, image_message, set_field_actions, text_message

# Every key is always present (null when unknown) so a JSONPath mapping such as $.brand_id
# never breaks, whatever the job's kind; `domain` is one of the brand fields every flattened
# brand carries (design §8); `image_url` is what image and campaign jobs make.
FLAT_KEYS = (
    "status", "job_id", "brand_id", "brand_name", "domain", "primary_hex", "secondary_hex",
    "logo_url", "error", "image_url",
)  # fmt: skip
COMPLETED_ACTION_FIELDS = ("brand_id", "brand_name", "primary_hex", "secondary_hex", "logo_url")
PENDING_ACTION_FIELDS = ("job_id", "status")
# Image and campaign jobs set the custom fields their push sets (deliveries.IMAGE_PUSH_FIELDS):
# `job_status`, not `status`, so an image flow never overwrites a brand flow's status field.
IMAGE_ACTION_FIELDS = ("job_id", "job_status", "image_url")
FORMATS = ("json", "dynamic_block")
WHAT_IS_MADE = {JobKind.IMAGE_GENERATION: "image", JobKind.CAMPAIGN_RENDER: "campaign visual"}


@dataclass(frozen=True)
class ReplyFormat:
    """How a request wants its answer: the format, and the channel a Dynamic Block is for."""

    format: str = "json"
    channel: str = dynamic_block.MESSENGER


def flat_object(record: JobRecord) -> dict[str, Any]:
    """Return the flat reply: every key of FLAT_KEYS, null when unknown."""
    brand = {**record.brand_fields(), "domain": record.domain}
    if record.kind != JobKind.BRAND_EXTRACTION:
        # The brand an image was made for is known from the request before Pi says it.
        brand["brand_id"] = brand["brand_id"] or record.input.get("brand_id")
    values = {
        **brand,
        "status": record.status,
        "job_id": record.job_id,
        "error": record.error,
        "image_url": record.image_url,
    }
    return {key: values.get(key) for key in FLAT_KEYS}


def _brand_text(flat: dict[str, Any]) -> str:
    """Return the short message a brand's Dynamic Block shows the contact."""
    if flat["status"] == JobStatus.COMPLETED:
        name = flat["brand_name"] or flat["domain"] or "the brand"
        text = f"Brand ready: {name}"
        colours = ", ".join(c for c in (flat["primary_hex"], flat["secondary_hex"]) if c)
        return text + (f" (colours {colours})" if colours else "")
    if flat["status"] == JobStatus.FAILED:
        return f"Sorry, the brand could not be extracted: {flat['error'] or 'unknown error'}"
    return "Still working on your brand; it will be ready shortly."


def brand_block(flat: dict[str, Any], channel: str) -> dict[str, Any]:
    """Return the Dynamic Block of a brand: its fields once completed, else job_id and status."""
    completed = flat["status"] == JobStatus.COMPLETED
    names = COMPLETED_ACTION_FIELDS if completed else PENDING_ACTION_FIELDS
    return block([text_message(_brand_text(flat))], set_field_actions(flat, names), channel)


def image_caption(kind: str) -> str:
    """Return the caption sent with a finished image."""
    return f"Here is your {WHAT_IS_MADE.get(JobKind(kind), 'image')}."


def image_messages(image_url: str, kind: str, channel: str) -> list[dict[str, Any]]:
    """Return the messages that show a finished image: the image, then its caption."""
    return [image_message(image_url, channel), text_message(image_caption(kind))]


def image_block(flat: dict[str, Any], kind: str, channel: str) -> dict[str, Any]:
    """Return the Dynamic Block of an image job: the image once ready, else where it is."""
    made = WHAT_IS_MADE.get(JobKind(kind), "image")
    if flat["status"] == JobStatus.COMPLETED and flat["image_url"]:
        messages = image_messages(flat["image_url"], kind, channel)
    elif flat["status"] == JobStatus.FAILED:
        error = flat["error"] or "unknown error"
        messages = [text_message(f"Sorry, the {made} could not be made: {error}")]
    else:
        messages = [text_message(f"Your {made} is on its way; it will be ready shortly.")]
    values = {**flat, "job_status": flat["status"]}
    return block(messages, set_field_actions(values, IMAGE_ACTION_FIELDS), channel)


def reply_format() -> ReplyFormat:
    """Read ?format= (json by default) and ?channel=, or raise a 400 naming the parameter."""
    wanted = request.args.get("format") or "json"
    if wanted not in FORMATS:
        raise BadRequest(
            "format must be json or dynamic_block",
            code="invalid_query",
            details={"format": [f"must be one of {', '.join(FORMATS)}"]},
        )
    return ReplyFormat(wanted, dynamic_block.reply_channel())


def reply(record: JobRecord, wanted: ReplyFormat):
    """Answer the job in the wanted format."""
    flat = flat_object(record)
    if wanted.format != "dynamic_block":
        return jsonify(flat)
    if record.kind == JobKind.BRAND_EXTRACTION:
        return jsonify(brand_block(flat, wanted.channel))
    return jsonify(image_block(flat, record.kind, wanted.channel))
