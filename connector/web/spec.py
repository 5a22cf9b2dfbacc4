"""The OpenAPI operations and components the core adds: ops endpoints and the /v1 API.

Also the schema fragments platforms share for inputs the core validates (a brand website, a
reference image): the validators in `connector.pi.validation` check them with code, which
apispec cannot see, so the refinements lay them over the generated components.
"""

from __future__ import annotations

from typing import Any

from connector.pi import validation
from connector.web import answers
from connector.web.api_v1 import JobCreateSchema
from connector.web.openapi import (
    IDEMPOTENCY_KEY,
    JOB_ID,
    PI,
    PI_KEY,
    SPACE,
    STORE,
    WS,
    ApiDoc,
    Operation,
    param,
)

UUID_PATTERN = validation.UUID_RE.pattern
_NOT_WS = f"[^{SPACE}]"
# outbound refuses a target URL with a space or a control character anywhere.
TARGET_CHAR = f"[^{SPACE}\\x00-\\x20\\x7f]"
# What connector.pi.validation accepts as a brand URL: http(s), a host, a port Python can read.
_HOST = f"([^/?#@{SPACE}]*@)?" + r"[A-Za-z0-9._~!$&'()*+,;=%-]+(:[0-9]{0,4})?"
HTTP_URL = f"^{WS}*[hH][tT][tT][pP][sS]?://{_HOST}([/?#]{_NOT_WS}*)?{WS}*$"
# ... and the bare domain ManyChat and Zapier users type ("acme.com" reads as https://acme.com).
BARE_DOMAIN = r"^[A-Za-z0-9][A-Za-z0-9.\-]*\.[A-Za-z]{2,}" + f"([/?#]{_NOT_WS}*)?$"
WEBSITE = {"type": "string", "maxLength": validation.MAX_URL_CHARS, "pattern": HTTP_URL}
PLATFORM_WEBSITE = {
    "type": "string",
    "anyOf": [
        WEBSITE,
        {"pattern": BARE_DOMAIN, "maxLength": validation.MAX_URL_CHARS - len("https://")},
    ],
}
# A /v1 callback URL as marshmallow's Url field reads it; the last label holds a letter, so no
# IP literal (the server refuses private addresses).
_LABEL = "[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
CALLBACK_PATTERN = (
    f"^[hH][tT][tT][pP][sS]?://({_LABEL}\\.)*[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]"
    + f"(:[0-9]{{1,4}})?([/?]{TARGET_CHAR}*)?$"
)
NON_BLANK = {"type": "string", "pattern": _NOT_WS}
# A reference image that both we and Pi accept: an https URL with a host, a data:image/ URL,
# or base64 text.
REFERENCE_IMAGE = {
    "type": "string",
    "allOf": [
        {"pattern": _NOT_WS},
        {
            "anyOf": [
                {"pattern": r"^https://[A-Za-z0-9][A-Za-z0-9.\-]*([/?#][^\[\]]*)?$"},
                {"pattern": r"^data:image/[\s\S]*,"},
                {"pattern": f"^[A-Za-z0-9+/_\\-{SPACE}]+={{0,2}}{WS}*$"},
            ]
        },
    ],
}
PROMPT = {"pattern": _NOT_WS}
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
                    "country": {"type": "string", "pattern": "^[A-Za-z]{2}$"},
                    "languages": {
                        "type": "array",
                        "items": {"type": "string", "pattern": f"{_NOT_WS}.*{_NOT_WS}"},
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
    props["prompt"].update(PROMPT, maxLength=validation.MAX_PROMPT_CHARS)
    for name in ("brand_id", "aspect_ratio", "resolution", "thinking_intensity"):
        props[name] = _nullable(props[name])
    props["brand_id"]["anyOf"][0]["pattern"] = UUID_PATTERN
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
    create["properties"]["callback_url"].update(pattern=CALLBACK_PATTERN)
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

API_DOC = ApiDoc(
    operations=OPERATIONS,
    schemas={
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
