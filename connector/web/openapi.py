"""OpenAPI 3 document of every endpoint, built with apispec from the marshmallow schemas."""

from __future__ import annotations

import functools
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, jsonify

from connector.web import answers
from connector.web import openapi_refine as refine
from connector.web.openapi_operations import ERRORS, OPERATIONS, Operation

OPENAPI_VERSION = "3.1.0"
bp = Blueprint("openapi", __name__)

SECURITY_SCHEMES = {
    "piApiKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "Authorization: Bearer <Pi API key>; the key is passed through to Pi",
    },
    "shopifySessionToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "an App Bridge session token signed with the app's secret",
    },
    "shopifyWebhookHmac": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Shopify-Hmac-SHA256",
        "description": "base64 HMAC-SHA256 of the raw body with the app's secret",
    },
    "shopifyOAuthHmac": {
        "type": "apiKey",
        "in": "query",
        "name": "hmac",
        "description": "hex HMAC-SHA256 of the sorted query with the app's secret",
    },
}


def _components() -> dict[str, Any]:
    """Return every marshmallow schema the spec names, by component name."""
    from connector.web.api_v1 import JobCreateSchema
    from manychat_app.schemas import ExtractInput
    from zapier_app import schemas as zapier

    return {
        "Error": answers.Error,
        "Health": answers.Health,
        "Ready": answers.Ready,
        "NotReady": answers.NotReady,
        "JobCreate": JobCreateSchema,
        "BrandJobInput": answers.BrandJobInput,
        "GenerationJobInput": answers.GenerationJobInput,
        "JobView": answers.JobView,
        "ManyChatExtractInput": ExtractInput,
        "ManyChatReply": answers.ManyChatReply,
        "DynamicBlock": answers.DynamicBlock,
        "ZapierExtractBrandInput": zapier.ExtractBrandInput,
        "ZapierGenerationInput": zapier.GenerationInput,
        "ZapierHookInput": zapier.HookInput,
        "ZapierJobSearchQuery": zapier.JobSearchQuery,
        "ZapierBrandSearchQuery": zapier.BrandSearchQuery,
        "ZapierTriggerQuery": zapier.TriggerQuery,
        "ZapierJobsTriggerQuery": zapier.JobsTriggerQuery,
        "ZapierObject": zapier.ZapierObject,
        "ZapierEventObject": zapier.ZapierEventObject,
        "ZapierAccount": answers.ZapierAccount,
        "Hook": answers.Hook,
        "DeletedHook": answers.DeletedHook,
        "ShopBrand": answers.ShopBrand,
        "ShopSession": answers.ShopSession,
        "WebhookReceipt": answers.WebhookReceipt,
    }


QUERY_SCHEMAS = {
    "ZapierJobSearchQuery",
    "ZapierBrandSearchQuery",
    "ZapierTriggerQuery",
    "ZapierJobsTriggerQuery",
}


def _content(schema: Any) -> dict[str, Any]:
    if isinstance(schema, str):
        schema = {"$ref": f"#/components/schemas/{schema}"}
    return {"application/json": {"schema": schema}}


def _responses(op: Operation) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, schema in op.ok.items():
        if isinstance(schema, dict) and "description" in schema:
            responses[str(status)] = schema
        else:
            responses[str(status)] = {"description": "success", "content": _content(schema)}
    for status in sorted({*op.errors, 405, 413}):
        if str(status) in responses:
            continue
        described = {"description": ERRORS.get(status, "error"), "content": _content("Error")}
        if status == 429:
            described["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
        if status == 405:
            described["description"] = "method not allowed (Allow lists the methods)"
        if status == 413:
            described["description"] = "request body too large"
        responses[str(status)] = described
    return responses


def _operation(op: Operation, query_schemas: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "operationId": f"{op.method}_{op.path.strip('/').replace('/', '_')}",
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": list(op.parameters),
        "responses": _responses(op),
        "security": op.security if op.security is not None else [],
    }
    if op.query:
        doc["parameters"].append({"in": "query", "schema": query_schemas[op.query]})
    if op.body:
        doc["requestBody"] = {"required": True, "content": _content(op.body)}
    return doc


def build_spec(server_url: str | None = None) -> dict[str, Any]:
    """Return the OpenAPI document as a dict."""
    spec = APISpec(
        title="Pi Connector",
        version="1.0.0",
        openapi_version=OPENAPI_VERSION,
        plugins=[MarshmallowPlugin()],
        info={
            "description": "Bridges the asynchronous Pi API to Zapier, ManyChat and Shopify. "
            'Every error answers {"error": {"code", "message", "details"?}}.'
        },
        servers=[{"url": server_url}] if server_url else [],
    )
    components = _components()
    for name, schema in components.items():
        if name not in QUERY_SCHEMAS:
            spec.components.schema(name, schema=schema)
    spec.components.schema(
        "ShopifyWebhookPayload", {"type": "object", "description": "the topic's payload"}
    )
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    queries = {name: components[name] for name in QUERY_SCHEMAS}
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op, queries)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    doc = spec.to_dict()
    found = doc["components"]["schemas"]
    refine.manychat_extract(found["ManyChatExtractInput"])
    refine.zapier_inputs(found)
    refine.v1_inputs(found)
    refine.query_parameters(doc)
    return doc


@functools.lru_cache(maxsize=4)
def cached_spec(server_url: str | None) -> dict[str, Any]:
    """Return the document for a server URL, built once per process."""
    return build_spec(server_url)


@bp.get("/openapi.json")
def openapi_json():
    """Serve the OpenAPI document."""
    return jsonify(cached_spec(None))


def init_app(app: Flask) -> None:
    """Serve GET /openapi.json."""
    app.register_blueprint(bp)
