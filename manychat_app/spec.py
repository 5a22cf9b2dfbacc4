"""The OpenAPI operations and components ManyChat adds: its endpoints, replies and input rules."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, fields, validate

from connector.ledger import JobStatus
from connector.web import openapi
from connector.web.answers import FlatBrand, nullable_text
from connector.web.bodies import BLANK, UNFILLED
from connector.web.openapi import ApiDoc, Operation, padded
from connector.web.spec import TYPED_WEBSITE
from manychat_app import schemas


class ManyChatReply(FlatBrand):
    """The flat ManyChat reply: every key always present, null when unknown."""

    status = fields.String(required=True, validate=validate.OneOf(list(JobStatus)))
    job_id = fields.String(required=True)
    error = nullable_text()


class DynamicBlockMessage(Schema):
    """A text message of a Dynamic Block."""

    type = fields.String(required=True, validate=validate.OneOf(["text"]))
    text = fields.String(required=True, validate=validate.Length(max=320))


class DynamicBlockAction(Schema):
    """A `set_field_value` action of a Dynamic Block."""

    action = fields.String(required=True, validate=validate.OneOf(["set_field_value"]))
    field_name = fields.String(required=True)
    value = fields.String(required=True)


class DynamicBlockContent(Schema):
    """The content of a Dynamic Block v2 reply."""

    messages = fields.List(fields.Nested(DynamicBlockMessage), required=True)
    actions = fields.List(
        fields.Nested(DynamicBlockAction), required=True, validate=validate.Length(max=5)
    )
    quick_replies = fields.List(fields.Dict(), required=True)


class DynamicBlock(Schema):
    """A ManyChat Dynamic Block v2 reply (`?format=dynamic_block`)."""

    version = fields.String(required=True, validate=validate.OneOf(["v2"]))
    content = fields.Nested(DynamicBlockContent, required=True)


# Values ManyChat sends for a field nobody mapped: null, blank, or an unfilled merge field.
_UNMAPPED_TEXT = [
    {"type": "string", "pattern": BLANK.pattern},
    {"type": "string", "pattern": UNFILLED.pattern},
]
ABSENT: dict[str, Any] = {"anyOf": [{"type": "null"}, *_UNMAPPED_TEXT]}


def _filled(regex: re.Pattern[str]) -> dict[str, Any]:
    """Return a ManyChat text value: the validator's pattern once trimmed, no merge field in it."""
    return {"type": "string", "pattern": padded(regex), "not": {"pattern": UNFILLED.pattern}}


SUBSCRIBER = {
    "anyOf": [
        _filled(schemas.SUBSCRIBER_ID),
        # ManyChat may send a number field as a JSON number: read as its decimal text.
        {"type": "integer", "minimum": 0, "maximum": 10**schemas.SUBSCRIBER_DIGITS - 1},
    ]
}
API_KEY = _filled(schemas.API_KEY)
FLOW = _filled(schemas.FLOW_NS)


def _either(filled: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [filled, ABSENT]}


def _filled_field(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": [name], "properties": {name: schema}}


def refine(components: dict[str, dict[str, Any]]) -> None:
    """Describe ManyChat's absent values and the push fields that go together."""
    component = components["ManyChatExtractInput"]
    props = component["properties"]
    props["url"] = TYPED_WEBSITE
    props["subscriber_id"] = _either(SUBSCRIBER)
    props["manychat_api_key"] = _either(API_KEY)
    props["flow_ns"] = _either(FLOW)
    key = _filled_field("manychat_api_key", API_KEY)
    sub = _filled_field("subscriber_id", SUBSCRIBER)
    flow = _filled_field("flow_ns", FLOW)
    component["allOf"] = [
        {"if": key, "then": sub},
        {"if": sub, "then": key},
        {"if": flow, "then": {"allOf": [key, sub]}},
    ]
    component["description"] = (
        "Null, blank and unfilled '{{...}}' values count as absent. manychat_api_key and "
        "subscriber_id go together (push on completion); flow_ns needs both."
    )


FORMAT = openapi.param(
    "format",
    "query",
    {"type": "string", "enum": ["json", "dynamic_block", ""]},
    description="dynamic_block answers a ManyChat Dynamic Block v2 (blank means json)",
)
REPLY = {"oneOf": [openapi.ref("ManyChatReply"), openapi.ref("DynamicBlock")]}
# The views refuse a job id that is blank or holds an unfilled merge field (schemas.is_unfilled).
JOB_ID = openapi.param(
    "job_id",
    "path",
    {"type": "string", "not": {"anyOf": _UNMAPPED_TEXT}},
    required=True,
)

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
        parameters=[FORMAT, openapi.IDEMPOTENCY_KEY],
    ),
    Operation(
        "get",
        "/manychat/v1/jobs/{job_id}",
        "Answer a job's flat object (or Dynamic Block), waiting briefly",
        "manychat",
        {200: REPLY},
        (400, 401, 404, *openapi.STORE),
        openapi.PI_KEY,
        parameters=[JOB_ID, FORMAT],
    ),
)

API_DOC = ApiDoc(
    operations=OPERATIONS,
    schemas={
        "ManyChatExtractInput": schemas.ExtractInput,
        "ManyChatReply": ManyChatReply,
        "DynamicBlock": DynamicBlock,
    },
    refine=refine,
)
