"""The OpenAPI operations and components ManyChat adds: its endpoints, replies and input rules."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import fields, validate

from connector.ledger import JobStatus
from connector.pi import validation
from connector.web import openapi
from connector.web.answers import FlatBrand, nullable_text
from connector.web.bodies import BLANK, UNFILLED
from connector.web.openapi import ApiDoc, Operation, padded
from connector.web.spec import TYPED_WEBSITE, UUID, VISIBLE
from manychat_app import dynamic_block, schemas


class ManyChatReply(FlatBrand):
    """The flat ManyChat reply: every key always present, null when unknown."""

    status = fields.String(required=True, validate=validate.OneOf(list(JobStatus)))
    job_id = fields.String(required=True)
    error = nullable_text()
    image_url = nullable_text(description="image and campaign jobs, once completed")


# The Dynamic Block v2 as dynamic_block.py builds it (plain JSON Schema: a message is one of
# two shapes, and a channel's content leaves out what the channel lacks).
DYNAMIC_BLOCK_SCHEMAS: dict[str, dict[str, Any]] = {
    "DynamicBlockText": {
        "type": "object",
        "required": ["type", "text"],
        "properties": {
            "type": {"const": "text"},
            "text": {"type": "string", "maxLength": dynamic_block.MAX_TEXT},
        },
    },
    "DynamicBlockImage": {
        "type": "object",
        "required": ["type", "url"],
        "properties": {
            "type": {"const": "image"},
            "url": {"type": "string"},
            "buttons": {"type": "array", "maxItems": 0},
        },
        "description": "JPG, PNG or GIF; no buttons key on WhatsApp and Telegram",
    },
    "DynamicBlockAction": {
        "type": "object",
        "required": ["action", "field_name", "value"],
        "properties": {
            "action": {"const": "set_field_value"},
            "field_name": {"type": "string"},
            "value": {"type": "string"},
        },
    },
    "DynamicBlockContent": {
        "type": "object",
        "required": ["messages", "actions"],
        "properties": {
            "type": {
                "type": "string",
                "enum": [c for c in dynamic_block.CHANNELS if c != dynamic_block.MESSENGER],
                "description": "absent for Messenger",
            },
            "messages": {
                "type": "array",
                "maxItems": dynamic_block.MAX_MESSAGES,
                "items": {
                    "oneOf": [openapi.ref("DynamicBlockText"), openapi.ref("DynamicBlockImage")]
                },
            },
            "actions": {
                "type": "array",
                "maxItems": dynamic_block.MAX_ACTIONS,
                "items": openapi.ref("DynamicBlockAction"),
            },
            "quick_replies": {
                "type": "array",
                "maxItems": dynamic_block.MAX_QUICK_REPLIES,
                "description": "absent on WhatsApp and Telegram",
            },
        },
    },
    "DynamicBlock": {
        "type": "object",
        "required": ["version", "content"],
        "properties": {
            "version": {"const": dynamic_block.VERSION},
            "content": openapi.ref("DynamicBlockContent"),
        },
        "description": "A ManyChat Dynamic Block v2 reply (`?format=dynamic_block`)",
    },
}

# Values ManyChat sends for a field nobody mapped: null, blank, or an unfilled merge field.
_UNMAPPED_TEXT = [
    {"type": "string", "pattern": BLANK.pattern},
    {"type": "string", "pattern": UNFILLED.pattern},
]
ABSENT: dict[str, Any] = {"anyOf": [{"type": "null"}, *_UNMAPPED_TEXT]}
NO_MERGE_FIELD = {"not": {"pattern": UNFILLED.pattern}}


def _filled(regex: re.Pattern[str]) -> dict[str, Any]:
    """Return a ManyChat text value: the validator's pattern once trimmed, no merge field in it."""
    return {"type": "string", "pattern": padded(regex), **NO_MERGE_FIELD}


SUBSCRIBER = {
    "anyOf": [
        _filled(schemas.SUBSCRIBER_ID),
        # ManyChat may send a number field as a JSON number: read as its decimal text.
        {"type": "integer", "minimum": 0, "maximum": 10**schemas.SUBSCRIBER_DIGITS - 1},
    ]
}
API_KEY = _filled(schemas.API_KEY)
FLOW = _filled(schemas.FLOW_NS)
# send_image: JSON true/false or the words schemas.TRUTHY / FALSY hold; 1 and 0 too, which
# Python's sets hold as True and False.
_WORDS = sorted(v for v in schemas.TRUTHY | schemas.FALSY if not isinstance(v, bool))
SEND_IMAGE = {"anyOf": [{"type": "boolean"}, {"enum": [*_WORDS, 1, 0]}]}
SEND_IMAGE_ON = {"enum": [True, *sorted(v for v in schemas.TRUTHY if v is not True), 1]}


def _either(filled: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [filled, ABSENT]}


def _filled_field(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": [name], "properties": {name: schema}}


def _push_fields(component: dict[str, Any], *, send_image: bool = False) -> None:
    """Describe the push fields of a body and the rules that tie them together."""
    props = component["properties"]
    props["subscriber_id"] = _either(SUBSCRIBER)
    props["manychat_api_key"] = _either(API_KEY)
    props["flow_ns"] = _either(FLOW)
    key = _filled_field("manychat_api_key", API_KEY)
    sub = _filled_field("subscriber_id", SUBSCRIBER)
    rules = [
        {"if": key, "then": sub},
        {"if": sub, "then": key},
        {"if": _filled_field("flow_ns", FLOW), "then": {"allOf": [key, sub]}},
    ]
    if send_image:
        props["send_image"] = _either(SEND_IMAGE)
        rules.append(
            {"if": _filled_field("send_image", SEND_IMAGE_ON), "then": {"allOf": [key, sub]}}
        )
    component["allOf"] = rules


def refine(components: dict[str, dict[str, Any]]) -> None:
    """Describe ManyChat's absent values, Pi's limits and the push fields that go together."""
    extract = components["ManyChatExtractInput"]
    extract["properties"]["url"] = TYPED_WEBSITE
    _push_fields(extract)
    extract["description"] = (
        "Null, blank and unfilled '{{...}}' values count as absent. manychat_api_key and "
        "subscriber_id go together (push on completion); flow_ns needs both."
    )
    generate = components["ManyChatGenerateInput"]
    props = generate["properties"]
    # Measured as sent, at least one visible character, and no unfilled merge field in it.
    props["prompt"] = {
        "type": "string",
        "maxLength": validation.MAX_PROMPT_CHARS,
        **VISIBLE,
        **NO_MERGE_FIELD,
    }
    props["brand_id"] = _either({"type": "string", **UUID})
    props["aspect_ratio"] = _either({"type": "string", "enum": list(validation.ASPECT_RATIOS)})
    resolution = {"type": "string", "enum": list(validation.RESOLUTIONS)}
    # A number field holding 512 arrives as a JSON number: read as its decimal text.
    props["resolution"] = {"anyOf": [resolution, {"type": "number", "enum": [512]}, ABSENT]}
    _push_fields(generate, send_image=True)
    generate["description"] = (
        "Null, blank and unfilled '{{...}}' values count as absent (a prompt holding one is "
        "refused). manychat_api_key and subscriber_id go together (push on completion); "
        "flow_ns and send_image need both."
    )


FORMAT = openapi.param(
    "format",
    "query",
    {"type": "string", "enum": ["json", "dynamic_block", ""]},
    description="dynamic_block answers a ManyChat Dynamic Block v2 (blank means json)",
)
CHANNEL = openapi.param(
    "channel",
    "query",
    {"type": "string", "enum": [*dynamic_block.CHANNELS, ""]},
    description="the channel a Dynamic Block is for (blank means messenger)",
)
REPLY = {"oneOf": [openapi.ref("ManyChatReply"), openapi.ref("DynamicBlock")]}
# The views refuse a job id that is blank or holds an unfilled merge field (schemas.is_unfilled).
JOB_ID = openapi.param(
    "job_id",
    "path",
    {"type": "string", "not": {"anyOf": _UNMAPPED_TEXT}},
    required=True,
)
BRAND_ID = openapi.param("brand_id", "path", {"type": "string", **UUID}, required=True)
DOMAIN = openapi.param(
    "domain",
    "query",
    {**TYPED_WEBSITE, **NO_MERGE_FIELD},
    required=True,
    description="the brand's website or bare domain, as extract takes it",
)
GENERATE_ERRORS = (400, 401, 404, 422, *openapi.PI)
LOOKUP_ERRORS = (400, 401, 404, *openapi.STORE)

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "post",
        "/manychat/v1/brands/extract",
        "Submit a brand extraction once and answer within the ManyChat budget",
        "manychat",
        {200: REPLY},
        (400, 401, 422, *openapi.PI),
        openapi.PI_KEY,
        body="ManyChatExtractInput",
        parameters=[FORMAT, CHANNEL, openapi.IDEMPOTENCY_KEY],
    ),
    *(
        Operation(
            "post",
            f"/manychat/v1/{path}",
            f"{title} once (for one of the caller's brands) within the ManyChat budget",
            "manychat",
            {200: REPLY},
            GENERATE_ERRORS,
            openapi.PI_KEY,
            body="ManyChatGenerateInput",
            parameters=[FORMAT, CHANNEL, openapi.IDEMPOTENCY_KEY],
        )
        for path, title in (
            ("images/generate", "Generate an image"),
            ("campaigns/render", "Render a campaign visual"),
        )
    ),
    Operation(
        "get",
        "/manychat/v1/jobs/{job_id}",
        "Answer a job's flat object (or Dynamic Block), waiting briefly",
        "manychat",
        {200: REPLY},
        (400, 401, 404, *openapi.STORE),
        openapi.PI_KEY,
        parameters=[JOB_ID, FORMAT, CHANNEL],
    ),
    Operation(
        "get",
        "/manychat/v1/brands/{brand_id}",
        "Answer one of the caller's brands by id (flat object or Dynamic Block)",
        "manychat",
        {200: REPLY},
        LOOKUP_ERRORS,
        openapi.PI_KEY,
        parameters=[BRAND_ID, FORMAT, CHANNEL],
    ),
    Operation(
        "get",
        "/manychat/v1/brands",
        "Answer the caller's brand for a website's domain (flat object or Dynamic Block)",
        "manychat",
        {200: REPLY},
        LOOKUP_ERRORS,
        openapi.PI_KEY,
        parameters=[DOMAIN, FORMAT, CHANNEL],
    ),
)

API_DOC = ApiDoc(
    operations=OPERATIONS,
    schemas={
        "ManyChatExtractInput": schemas.ExtractInput,
        "ManyChatGenerateInput": schemas.GenerateInput,
        "ManyChatReply": ManyChatReply,
        **DYNAMIC_BLOCK_SCHEMAS,
    },
    refine=refine,
)
