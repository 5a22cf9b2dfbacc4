"""The OpenAPI operations and components the core adds: ops endpoints and the /v1 API.

Also the schema fragments platforms share for inputs the core validates (a brand website, a
reference image): the validators in `connector.pi.validation` check them with code, which
apispec cannot see, so the refinements lay them over the generated components.
"""

from __future__ import annotations

import re
from typing import Any

from connector.delivery.delivery_log import STATES
from connector.pi import validation
from connector.web import answers, bodies
from connector.web.api_v1 import MAX_LIMIT, JobCreateSchema
from connector.web.openapi import (
    IDEMPOTENCY_KEY,
    JOB_ID,
    PI,
    PI_KEY,
    STORE,
    ApiDoc,
    Operation,
    array_of,
    padded,
    param,
    ref,
)

# What connector.pi.validation accepts as a brand URL (it trims first), and the bare domain
# ManyChat and Zapier users may type instead.
WEBSITE = {
    "type": "string",
    "maxLength": validation.MAX_URL_CHARS,
    "pattern": padded(validation.HTTP_URL_RE),
}
TYPED_WEBSITE = {
    "type": "string",
    "anyOf": [
        WEBSITE,
        {
            "pattern": bodies.BARE_DOMAIN.pattern,
            "maxLength": validation.MAX_URL_CHARS - len("https://"),
        },
    ],
}
VISIBLE = {"pattern": validation.VISIBLE_RE.pattern}
NON_BLANK = {"type": "string", **VISIBLE}
REFERENCE_IMAGE = {
    "type": "string",
    "allOf": [VISIBLE, {"pattern": validation.REFERENCE_IMAGE_RE.pattern}],
}
UUID = {"pattern": validation.UUID_RE.pattern}
# outbound refuses a target URL with a space or a control character anywhere.
TARGET_CHAR = f"[^{validation.SPACE}\\x00-\\x20\\x7f]"
# The callback URLs this document promises: a part of what marshmallow's Url field accepts (its
# regex is Python-only: IGNORECASE, \Z, Unicode \d), on a DNS name whose last label starts with
# a letter. Whether an address may be called is the SSRF guard's decision at request time
# (connector.delivery.outbound), which no pattern can make: so the document keeps to names,
# and a deployment that refuses private targets accepts them all (tests/connector/web prove it).
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
PUBLIC_CALLBACK = re.compile(
    f"^[hH][tT][tT][pP][sS]?://(?:{_LABEL}\\.)*[A-Za-z](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])"
    f"(?::[0-9]{{1,4}})?(?:/|[/?]{TARGET_CHAR}+)?$"
)
PROMETHEUS_TEXT = {"text/plain": {"schema": {"type": "string"}}}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _brand_input(brand: dict[str, Any]) -> None:
    """Describe a /v1 brand extraction input as connector.pi.validation checks it."""
    brand.pop("additionalProperties", None)  # other keys are ignored
    brand["properties"] = {
        "url": _nullable(WEBSITE),
        "logo_base64": _nullable(NON_BLANK),
        "images_base64": _nullable({"type": "array", "items": NON_BLANK}),
        "location": _nullable(
            {
                "type": "object",
                "required": ["country"],
                "properties": {
                    "country": {"type": "string", "pattern": validation.COUNTRY_RE.pattern},
                    "languages": {
                        "type": "array",
                        "items": {"type": "string", "pattern": validation.LANGUAGE_RE.pattern},
                    },
                },
            }
        ),
    }
    brand["anyOf"] = [
        {"required": ["url"], "properties": {"url": WEBSITE}},
        {"required": ["logo_base64"], "properties": {"logo_base64": NON_BLANK}},
        {
            "required": ["images_base64"],
            "properties": {"images_base64": {"type": "array", "minItems": 1}},
        },
    ]


def _generation_input(generation: dict[str, Any]) -> None:
    """Describe a /v1 image or campaign input as connector.pi.validation checks it."""
    generation.pop("additionalProperties", None)  # other keys are ignored
    props = generation["properties"]
    props["prompt"].update(VISIBLE, maxLength=validation.MAX_PROMPT_CHARS)
    for name in ("brand_id", "aspect_ratio", "resolution", "thinking_intensity"):
        props[name] = _nullable(props[name])
    props["brand_id"]["anyOf"][0].update(UUID)
    props["reference_images"] = _nullable(
        {"type": "array", "maxItems": validation.MAX_REFERENCE_IMAGES, "items": REFERENCE_IMAGE}
    )
    props["brand_identity_json"] = _nullable({"type": "object"})
    props["client_reference_id"] = _nullable(
        {**NON_BLANK, "maxLength": validation.MAX_CLIENT_REFERENCE_ID_CHARS}
    )
    props["metadata"] = _nullable(
        {
            "type": "object",
            "maxProperties": validation.MAX_METADATA_KEYS,
            "additionalProperties": {
                "type": "string",
                "maxLength": validation.MAX_METADATA_VALUE_CHARS,
            },
        }
    )


def refine(components: dict[str, dict[str, Any]]) -> None:
    """Describe /v1 job inputs as connector.pi.validation checks them, tied to their kind."""
    _brand_input(components["BrandJobInput"])
    _generation_input(components["GenerationJobInput"])
    create = components["JobCreate"]
    create["properties"]["callback_url"].update(pattern=PUBLIC_CALLBACK.pattern)
    create["properties"]["input"] = {"type": "object"}
    create["allOf"] = [
        {
            "if": {"properties": {"kind": {"const": "brand_extraction"}}},
            "then": {"properties": {"input": {"$ref": "#/components/schemas/BrandJobInput"}}},
            "else": {"properties": {"input": {"$ref": "#/components/schemas/GenerationJobInput"}}},
        }
    ]


OPERATIONS: tuple[Operation, ...] = (
    Operation("get", "/healthz", "Answer when the process serves requests", "ops", {200: "Health"}),
    Operation(
        "get",
        "/readyz",
        "Answer 200 when Redis and Pi answer, else 503 with the reasons",
        "ops",
        {200: "Ready", 503: "NotReady"},
    ),
    Operation("get", "/openapi.json", "This document", "ops", {200: {"type": "object"}}),
    Operation(
        "get",
        "/metrics",
        "Prometheus metrics (no auth: keep it off the public internet)",
        "ops",
        {
            200: {
                "description": "Prometheus text exposition format 0.0.4",
                "content": PROMETHEUS_TEXT,
            }
        },
    ),
    Operation(
        "post",
        "/v1/jobs",
        "Submit a job once; 202 when created, 200 when replayed",
        "api",
        {200: "JobView", 202: "JobView"},
        (400, 401, 422, *PI),
        PI_KEY,
        body="JobCreate",
        parameters=[IDEMPOTENCY_KEY],
    ),
    Operation(
        "get",
        "/v1/jobs/{job_id}",
        "Return a job's ledger view, waiting up to ?wait seconds for it to end",
        "api",
        {200: "JobView"},
        (400, 401, 404, *STORE),
        PI_KEY,
        parameters=[
            JOB_ID,
            param("wait", "query", {"type": "number", "minimum": 0}, description="≤ 25 s"),
        ],
    ),
)

_STR = {"type": ["string", "null"]}
_TIME = {"type": ["string", "null"], "format": "date-time"}
ATTEMPT = {
    "type": "object",
    "required": ["n", "at", "state", "host", "status", "error", "latency_ms", "message"],
    "properties": {
        "n": {"type": "integer", "minimum": 1},
        "at": _TIME,
        "state": {"type": "string", "enum": list(STATES)},
        "host": _STR,
        "status": {"type": ["integer", "null"]},
        "error": _STR,
        "latency_ms": {"type": ["number", "null"]},
        "message": _STR,
        "next_retry_at": _TIME,
    },
}
DELIVERY = {
    "type": "object",
    "required": ["delivery_id", "kind", "host", "state", "attempts", "in_flight", "redeliverable"],
    "properties": {
        "delivery_id": {"type": "string"},
        "job_id": {"type": "string"},
        "kind": _STR,
        "host": _STR,
        "state": {"type": "string", "enum": list(STATES)},
        "attempts": {"type": "integer", "minimum": 0},
        "in_flight": {"type": "boolean"},
        "redeliverable": {"type": "boolean"},
        "status": {"type": ["integer", "null"]},
        "error": _STR,
        "message": _STR,
        "first_at": _TIME,
        "updated_at": _TIME,
        "next_retry_at": _TIME,
        "attempt_log": {"type": "array", "items": ref("DeliveryAttempt")},
    },
}
DELIVERY_ID = param("delivery_id", "path", {"type": "string"}, required=True)
DELIVERY_OPERATIONS = (
    Operation(
        "get",
        "/v1/jobs/{job_id}/deliveries",
        "Return every delivery of a job with its attempts (host, status, latency, message)",
        "api",
        {
            200: {
                "type": "object",
                "required": ["job_id", "deliveries"],
                "properties": {
                    "job_id": {"type": "string"},
                    "deliveries": array_of("Delivery"),
                },
            }
        },
        (400, 401, 404, *PI),
        PI_KEY,
        parameters=[JOB_ID],
    ),
    Operation(
        "post",
        "/v1/jobs/{job_id}/deliveries/{delivery_id}/redeliver",
        "Send a delivery's final payload again now (a webhook keeps its webhook-id)",
        "api",
        {
            202: {
                "type": "object",
                "required": ["job_id", "delivery_id", "status"],
                "properties": {
                    "job_id": {"type": "string"},
                    "delivery_id": {"type": "string"},
                    "status": {"const": "queued"},
                },
            }
        },
        (400, 401, 404, 409, *PI),
        PI_KEY,
        parameters=[JOB_ID, DELIVERY_ID],
    ),
    Operation(
        "get",
        "/v1/deliveries",
        "Return the account's deliveries in one state (default failed), newest first",
        "api",
        {
            200: {
                "type": "object",
                "required": ["deliveries"],
                "properties": {"deliveries": array_of("Delivery")},
            }
        },
        (400, 401, *PI),
        PI_KEY,
        parameters=[
            param("state", "query", {"type": "string", "enum": list(STATES)}),
            param("limit", "query", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
        ],
    ),
)

WEBHOOK_SECRET = {
    "type": "object",
    "required": ["secret", "generation", "previous_valid_until"],
    "properties": {
        "secret": {
            "type": "string",
            "description": "whsec_ + base64; verify callbacks with any Standard Webhooks library",
        },
        "generation": {"type": "integer", "minimum": 0},
        "previous_valid_until": {
            "type": ["string", "null"],
            "description": "until when the replaced secret still signs (ISO 8601 UTC)",
        },
    },
}
SECRET_OPERATIONS = (
    Operation(
        "get",
        "/v1/webhook-secret",
        "Return the secret that signs this account's callbacks",
        "api",
        {200: ref("WebhookSecret")},
        (400, 401, *PI),
        PI_KEY,
    ),
    Operation(
        "post",
        "/v1/webhook-secret/rotate",
        "Start a new signing secret; during the grace, callbacks carry both signatures",
        "api",
        {200: ref("WebhookSecret")},
        (400, 401, *PI),
        PI_KEY,
    ),
)

API_DOC = ApiDoc(
    operations=OPERATIONS + DELIVERY_OPERATIONS + SECRET_OPERATIONS,
    schemas={
        "Delivery": DELIVERY,
        "WebhookSecret": WEBHOOK_SECRET,
        "DeliveryAttempt": ATTEMPT,
        "Error": answers.Error,
        "Health": answers.Health,
        "Ready": answers.Ready,
        "NotReady": answers.NotReady,
        "JobCreate": JobCreateSchema,
        "BrandJobInput": answers.BrandJobInput,
        "GenerationJobInput": answers.GenerationJobInput,
        "JobView": answers.JobView,
    },
    security_schemes={
        "piApiKey": {
            "type": "http",
            "scheme": "bearer",
            "description": "Authorization: Bearer <Pi API key>; the key is passed through to Pi",
        },
    },
    refine=refine,
)
