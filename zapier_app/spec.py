"""The OpenAPI operations and components Zapier adds: its endpoints, answers and input rules."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, fields

from connector.web import openapi
from connector.web.bodies import PLACEHOLDER
from connector.web.openapi import STORE, ApiDoc, Operation, array_of, not_null
from connector.web.spec import REFERENCE_IMAGE, TARGET_CHAR, TYPED_WEBSITE, UUID, VISIBLE
from zapier_app import schemas


class ZapierAccount(Schema):
    """GET /zapier/v1/me: the connection label (never the key)."""

    account_id = fields.String(required=True)
    label = fields.String(required=True)


class Hook(Schema):
    """A REST hook subscription."""

    id = fields.String(required=True)
    event = fields.String(required=True)
    target_url = fields.String(required=True)


class DeletedHook(Hook):
    """The answer of DELETE /zapier/v1/hooks/{hook_id}."""

    deleted = fields.Boolean(required=True)


# The targets this document promises (callback_url, target_url): https on a DNS name (a last
# label of letters is no IP literal). Whether an address may be called is the SSRF guard's
# decision at request time (connector.delivery.outbound), which no pattern can make: so the
# document keeps to names, and a deployment that refuses private targets accepts them all
# (tests/zapier_app/test_spec.py proves it).
PUBLIC_HTTPS_TARGET = re.compile(
    r"^[hH][tT][tT][pP][sS]://(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}[A-Za-z0-9._~!$&'()*+,;=%-]*"
    f"(?::[0-9]{{0,4}})?(?:[/?#]{TARGET_CHAR}*)?$"
)
# Values a Zapier field holds when the user mapped nothing: null, empty, a merge field, or a
# list of nothing but those.
_NOTHING: list[dict[str, Any]] = [
    {"type": "null"},
    {"type": "string", "maxLength": 0},
    {"type": "string", "pattern": PLACEHOLDER.pattern},
]
ABSENT: dict[str, Any] = {"anyOf": [*_NOTHING, {"type": "array", "items": {"anyOf": _NOTHING}}]}
BODIES = ("ZapierExtractBrandInput", "ZapierGenerationInput", "ZapierHookInput")
# Query strings whose unmapped optional fields arrive empty or as their literal merge field.
OPTIONAL_QUERIES = ("ZapierBrandSearchQuery", "ZapierBrandsTriggerQuery", "ZapierJobsTriggerQuery")


def _optional(component: dict[str, Any]) -> None:
    """Let every optional field of a Zapier body also be absent in Zapier's ways."""
    required = set(component.get("required", ()))
    for name, schema in list(component["properties"].items()):
        if name in required:
            continue
        not_null(schema)
        if schema.get("type") == "array":
            schema["items"] = {"anyOf": [schema["items"], *_NOTHING]}
        component["properties"][name] = {"anyOf": [schema, ABSENT]}


def refine(components: dict[str, dict[str, Any]]) -> None:
    """Give the Zapier bodies and queries the formats their validators enforce."""
    extract = components["ZapierExtractBrandInput"]["properties"]
    extract["url"] = TYPED_WEBSITE
    for name in ("ZapierExtractBrandInput", "ZapierGenerationInput"):
        callback = components[name]["properties"]["callback_url"]
        callback.update(pattern=PUBLIC_HTTPS_TARGET.pattern)
        callback.pop("maxLength", None)
    generation = components["ZapierGenerationInput"]["properties"]
    generation["brand_id"].update(UUID)
    # One visible character, and not just a merge field.
    generation["prompt"].update(VISIBLE, **{"not": {"pattern": PLACEHOLDER.pattern}})
    generation["reference_images"]["items"] = REFERENCE_IMAGE
    hook = components["ZapierHookInput"]["properties"]
    hook["target_url"] = {"type": "string", "pattern": PUBLIC_HTTPS_TARGET.pattern}
    for name in BODIES:
        _optional(components[name])
    for name in OPTIONAL_QUERIES:
        props = components[name]["properties"]
        for field_name, schema in props.items():
            props[field_name] = {"anyOf": [schema, *_NOTHING[1:]]}
    job_id = components["ZapierJobSearchQuery"]["properties"]["job_id"]
    job_id.update(minLength=1, **{"not": {"pattern": PLACEHOLDER.pattern}})


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "get",
        "/zapier/v1/me",
        "Check the key against Pi; return a connection label",
        "zapier",
        {200: "ZapierAccount"},
        (401, *openapi.PI),
        openapi.PI_KEY,
    ),
    *(
        Operation(
            "post",
            f"/zapier/v1/actions/{action}",
            f"{title}: submit once, wait up to the Zapier budget (or answer at once with "
            "callback_url)",
            "zapier",
            {200: "ZapierObject"},
            (400, 401, 422, *openapi.PI),
            openapi.PI_KEY,
            body=body,
            parameters=[openapi.IDEMPOTENCY_KEY],
        )
        for action, title, body in (
            ("extract_brand", "Extract a brand", "ZapierExtractBrandInput"),
            ("generate_image", "Generate an image", "ZapierGenerationInput"),
            ("render_campaign", "Render a campaign", "ZapierGenerationInput"),
        )
    ),
    Operation(
        "get",
        "/zapier/v1/searches/job",
        "Return [job], or [] for an unknown or another account's job",
        "zapier",
        {200: array_of("ZapierObject")},
        (400, 401, *STORE),
        openapi.PI_KEY,
        query="ZapierJobSearchQuery",
    ),
    Operation(
        "get",
        "/zapier/v1/searches/brand",
        "Return [brand] by brand_id or domain (give one), or []",
        "zapier",
        {200: array_of("ZapierBrandObject")},
        (400, 401, *STORE),
        openapi.PI_KEY,
        query="ZapierBrandSearchQuery",
    ),
    Operation(
        "get",
        "/zapier/v1/triggers/brands",
        "List one page (page × limit onwards) of the brands, newest first, id = brand_id",
        "zapier",
        {200: array_of("ZapierBrandObject")},
        (400, 401, *STORE),
        openapi.PI_KEY,
        query="ZapierBrandsTriggerQuery",
    ),
    Operation(
        "get",
        "/zapier/v1/triggers/jobs",
        "List finished jobs, newest first, id = job_id; event and kind filter",
        "zapier",
        {200: array_of("ZapierEventObject")},
        (400, 401, *STORE),
        openapi.PI_KEY,
        query="ZapierJobsTriggerQuery",
    ),
    Operation(
        "post",
        "/zapier/v1/hooks",
        "Subscribe a REST hook to one event",
        "zapier",
        {201: "Hook"},
        (400, 401, *STORE),
        openapi.PI_KEY,
        body="ZapierHookInput",
    ),
    Operation(
        "delete",
        "/zapier/v1/hooks/{hook_id}",
        "Remove one of this account's hooks",
        "zapier",
        {200: "DeletedHook"},
        (401, 404, *STORE),
        openapi.PI_KEY,
        parameters=[openapi.param("hook_id", "path", {"type": "string"}, required=True)],
    ),
)

API_DOC = ApiDoc(
    operations=OPERATIONS,
    schemas={
        "ZapierExtractBrandInput": schemas.ExtractBrandInput,
        "ZapierGenerationInput": schemas.GenerationInput,
        "ZapierHookInput": schemas.HookInput,
        "ZapierJobSearchQuery": schemas.JobSearchQuery,
        "ZapierBrandSearchQuery": schemas.BrandSearchQuery,
        "ZapierBrandsTriggerQuery": schemas.BrandsTriggerQuery,
        "ZapierJobsTriggerQuery": schemas.JobsTriggerQuery,
        "ZapierObject": schemas.ZapierObject,
        "ZapierEventObject": schemas.ZapierEventObject,
        "ZapierBrandObject": schemas.ZapierBrandObject,
        "ZapierAccount": ZapierAccount,
        "Hook": Hook,
        "DeletedHook": DeletedHook,
    },
    query_schemas=frozenset({"ZapierJobSearchQuery", *OPTIONAL_QUERIES}),
    refine=refine,
)
