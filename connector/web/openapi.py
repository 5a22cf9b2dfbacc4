"""The OpenAPI core: packages register what they add; GET /openapi.json serves the built document.

The core knows no platform. Each package (the core's own `connector.web.spec`, and every
platform's `spec` module) describes its operations, component schemas, security schemes and
refinements in one `ApiDoc`, and its `init_app` calls `register_api_doc`. The document is built
with apispec from what an app registered, once per app and server URL.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, current_app, jsonify

from connector.pi.validation import SPACE

OPENAPI_VERSION = "3.1.0"
EXTENSION = "openapi"
bp = Blueprint("openapi", __name__)

ERRORS = {
    400: "malformed or invalid input",
    401: "missing or rejected credentials",
    403: "refused (scopes, OAuth state)",
    404: "unknown, or another account's",
    409: "busy, or not possible in its current state",
    422: "the same Idempotency-Key was sent with a different body",
    429: "rate limited (Retry-After says when to retry)",
    502: "Pi or Shopify failed",
    503: "a dependency is down or the Shopify app is not configured",
    504: "Pi did not answer in time",
}
# What may go wrong on every operation that talks to Redis.
STORE = (503,)
# ... and on every one that calls Pi.
PI = (429, 502, 503, 504)
PI_KEY = [{"piApiKey": []}]

Refinement = Callable[[dict[str, dict[str, Any]]], None]


@dataclass(frozen=True)
class Operation:
    """One documented operation."""

    method: str
    path: str
    summary: str
    tag: str
    ok: dict[int, Any]  # status → schema, or a full response object (with "description")
    errors: tuple[int, ...] = ()
    security: list[dict[str, list]] | None = None
    body: str | None = None  # component name of the JSON body
    query: str | None = None  # name of a query schema whose fields are the query
    parameters: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ApiDoc:
    """What one package adds to the OpenAPI document."""

    operations: tuple[Operation, ...]
    # component name → marshmallow schema (class or instance), or a plain JSON Schema dict
    schemas: Mapping[str, Any] = field(default_factory=dict)
    # names in `schemas` that describe a query string: they become parameters, not components
    query_schemas: frozenset[str] = frozenset()
    security_schemes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Lays over the built components (query schemas included, as objects) what JSON Schema can
    # say and marshmallow cannot; it edits in place and touches only this doc's components.
    refine: Refinement | None = None


class ApiDocs:
    """The docs registered on one app, and the documents built from them."""

    def __init__(self) -> None:
        self.docs: list[ApiDoc] = []
        self._built: dict[str | None, dict[str, Any]] = {}

    def add(self, doc: ApiDoc) -> None:
        """Register a doc (once); the next request builds the document again."""
        if not any(known is doc for known in self.docs):
            self.docs.append(doc)
            self._built.clear()

    def spec(self, server_url: str | None = None) -> dict[str, Any]:
        """Return the document built from the registered docs (built once per server URL)."""
        if server_url not in self._built:
            self._built[server_url] = build_spec(self.docs, server_url)
        return self._built[server_url]


def _registry(app: Flask) -> ApiDocs:
    return app.extensions.setdefault(EXTENSION, ApiDocs())


def register_api_doc(app: Flask, doc: ApiDoc) -> None:
    """Add a package's operations, components and refinements to the app's document."""
    _registry(app).add(doc)


def api_docs(app: Flask) -> tuple[ApiDoc, ...]:
    """Return the docs registered on the app, in registration order."""
    return tuple(_registry(app).docs)


def spec_for(app: Flask, server_url: str | None = None) -> dict[str, Any]:
    """Return the app's OpenAPI document (built once per app and server URL)."""
    return _registry(app).spec(server_url)


# -- helpers for the packages that describe operations ------------------------------------


def ref(name: str) -> dict[str, str]:
    """Return a reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def array_of(name: str) -> dict[str, Any]:
    """Return an array-of-component schema."""
    return {"type": "array", "items": ref(name)}


def param(
    name: str, where: str, schema: dict[str, Any], *, required: bool = False, **extra: Any
) -> dict[str, Any]:
    """Return a parameter object."""
    return {"name": name, "in": where, "required": required, "schema": schema, **extra}


JOB_ID = param(
    "job_id",
    "path",
    {"type": "string"},
    required=True,
    description="Pi's job id, or the `pcq_…` id of a request answered `queued`",
)
IDEMPOTENCY_KEY = param(
    "Idempotency-Key",
    "header",
    {"type": "string"},
    description="replays the first job sent with this key; another body with it is a 422",
)
# The whitespace str.strip() removes, spelled out: Python and ECMA-262 differ on \s.
WS = f"[{SPACE}]"


def inner(regex: re.Pattern[str]) -> str:
    """Return a `^...$` pattern's body, grouped, to embed in a larger pattern."""
    pattern = regex.pattern
    if not (pattern.startswith("^") and pattern.endswith("$")):
        raise ValueError(f"not an anchored pattern: {pattern!r}")
    return f"(?:{pattern[1:-1]})"


def padded(regex: re.Pattern[str]) -> str:
    """Return a validator's pattern allowing the whitespace the validator strips first."""
    return f"^{WS}*{inner(regex)}{WS}*$"


def not_null(schema: dict[str, Any]) -> None:
    """Drop "null" from a generated type list (a query value, or a field that refuses null)."""
    kind = schema.get("type")
    if isinstance(kind, list) and "null" in kind:
        rest = [k for k in kind if k != "null"]
        schema["type"] = rest[0] if len(rest) == 1 else rest
    if "enum" in schema:
        schema["enum"] = [v for v in schema["enum"] if v is not None]
    if schema.get("default", 0) is None:
        del schema["default"]


# -- the builder ---------------------------------------------------------------------------


def _content(schema: Any) -> dict[str, Any]:
    if isinstance(schema, str):
        schema = ref(schema)
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


def _operation(op: Operation) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "operationId": f"{op.method}_{op.path.strip('/').replace('/', '_')}",
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": copy.deepcopy(op.parameters),
        "responses": _responses(op),
        "security": op.security if op.security is not None else [],
    }
    if op.body:
        doc["requestBody"] = {"required": True, "content": _content(op.body)}
    return doc


def _query_view(parameters: list[dict[str, Any]]) -> dict[str, Any]:
    """Return query parameters as one object schema (what a refinement edits)."""
    view: dict[str, Any] = {"type": "object", "properties": {}}
    for parameter in parameters:
        not_null(parameter["schema"])  # a query value is text: never null
        view["properties"][parameter["name"]] = parameter["schema"]
    required = [p["name"] for p in parameters if p.get("required")]
    if required:
        view["required"] = required
    return view


def build_spec(docs: Iterable[ApiDoc], server_url: str | None = None) -> dict[str, Any]:
    """Return the OpenAPI document of the given docs as a dict."""
    docs = tuple(docs)
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="Pi Connector",
        version="1.0.0",
        openapi_version=OPENAPI_VERSION,
        plugins=[plugin],
        info={
            "description": "Bridges the asynchronous Pi API to Zapier, ManyChat and Shopify. "
            'Every error answers {"error": {"code", "message", "details"?}}.'
        },
        servers=[{"url": server_url}] if server_url else [],
    )
    queries: dict[str, list[dict[str, Any]]] = {}
    paths: dict[str, dict[str, Any]] = {}
    for doc in docs:
        for name, schema in doc.schemas.items():
            if name in doc.query_schemas:
                queries[name] = plugin.converter.schema2parameters(schema, location="query")
            elif isinstance(schema, Mapping):
                spec.components.schema(name, copy.deepcopy(dict(schema)))
            else:
                spec.components.schema(name, schema=schema)
        for name, scheme in doc.security_schemes.items():
            spec.components.security_scheme(name, dict(scheme))
        for op in doc.operations:
            if op.method in paths.setdefault(op.path, {}):
                raise ValueError(f"{op.method.upper()} {op.path} is documented twice")
            paths[op.path][op.method] = _operation(op)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    document = spec.to_dict()
    components = document["components"]["schemas"]
    views = {name: _query_view(parameters) for name, parameters in queries.items()}
    components.update(views)
    for doc in docs:
        if doc.refine:
            doc.refine(components)
    for name in views:
        view = components.pop(name)
        for parameter in queries[name]:
            parameter["schema"] = view["properties"][parameter["name"]]
    for doc in docs:
        for op in doc.operations:
            if op.query:
                operation = document["paths"][op.path][op.method]
                operation["parameters"].extend(copy.deepcopy(queries[op.query]))
    return document


@bp.get("/openapi.json")
def openapi_json():
    """Serve the OpenAPI document."""
    return jsonify(spec_for(current_app))


def init_app(app: Flask) -> None:
    """Serve GET /openapi.json from the docs registered on the app."""
    _registry(app)
    app.register_blueprint(bp)
