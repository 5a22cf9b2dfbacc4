"""One table of every operation: (method, path) → inputs, answers and auth."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connector.web.openapi_refine import SHOP_PATTERN

PI_KEY = [{"piApiKey": []}]
SESSION_TOKEN = [{"shopifySessionToken": []}]
WEBHOOK_HMAC = [{"shopifyWebhookHmac": []}]
OAUTH_HMAC = [{"shopifyOAuthHmac": []}]

ERRORS = {
    400: "malformed or invalid input",
    401: "missing or rejected credentials",
    403: "refused (scopes, OAuth state)",
    404: "unknown, or another account's",
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


def ref(name: str) -> dict[str, str]:
    """Return a reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def array_of(name: str) -> dict[str, Any]:
    """Return an array-of-component schema."""
    return {"type": "array", "items": ref(name)}


def param(name: str, where: str, schema: dict[str, Any], *, required: bool = False, **extra):
    """Return a parameter object."""
    return {"name": name, "in": where, "required": required, "schema": schema, **extra}


JOB_ID = param("job_id", "path", {"type": "string"}, required=True)
IDEMPOTENCY_KEY = param(
    "Idempotency-Key",
    "header",
    {"type": "string"},
    description="replays the first job sent with this key; another body with it is a 422",
)
SHOP = param(
    "shop",
    "query",
    {"type": "string", "pattern": SHOP_PATTERN},
    required=True,
    example="pi-demo.myshopify.com",
)
MANYCHAT_FORMAT = param(
    "format",
    "query",
    {"type": "string", "enum": ["json", "dynamic_block", ""]},
    description="dynamic_block answers a ManyChat Dynamic Block v2 (blank means json)",
)
MANYCHAT_REPLY = {"oneOf": [ref("ManyChatReply"), ref("DynamicBlock")]}
REDIRECT = {"description": "redirect", "headers": {"Location": {"schema": {"type": "string"}}}}
HTML = {"text/html": {"schema": {"type": "string"}}}
PROMETHEUS_TEXT = {"text/plain": {"schema": {"type": "string"}}}


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
    query: str | None = None  # marshmallow schema name whose fields are the query
    parameters: list[dict[str, Any]] = field(default_factory=list)


OPERATIONS: tuple[Operation, ...] = (
    # ops
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
    # /v1
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
    # ManyChat
    Operation(
        "post",
        "/manychat/v1/brands/extract",
        "Submit a brand extraction once and answer within the ManyChat budget",
        "manychat",
        {200: MANYCHAT_REPLY},
        (400, 401, 422, *PI),
        PI_KEY,
        body="ManyChatExtractInput",
        parameters=[MANYCHAT_FORMAT, IDEMPOTENCY_KEY],
    ),
    Operation(
        "get",
        "/manychat/v1/jobs/{job_id}",
        "Answer a job's flat object (or Dynamic Block), waiting briefly",
        "manychat",
        {200: MANYCHAT_REPLY},
        (400, 401, 404, *STORE),
        PI_KEY,
        parameters=[JOB_ID, MANYCHAT_FORMAT],
    ),
    # Zapier
    Operation(
        "get",
        "/zapier/v1/me",
        "Check the key against Pi; return a connection label",
        "zapier",
        {200: "ZapierAccount"},
        (401, *PI),
        PI_KEY,
    ),
    *(
        Operation(
            "post",
            f"/zapier/v1/actions/{action}",
            f"{title}: submit once, wait up to the Zapier budget (or answer at once with "
            "callback_url)",
            "zapier",
            {200: "ZapierObject"},
            (400, 401, 422, *PI),
            PI_KEY,
            body=body,
            parameters=[IDEMPOTENCY_KEY],
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
        PI_KEY,
        query="ZapierJobSearchQuery",
    ),
    Operation(
        "get",
        "/zapier/v1/searches/brand",
        "Return [brand] by brand_id or domain (give one), or []",
        "zapier",
        {200: array_of("ZapierObject")},
        (400, 401, *STORE),
        PI_KEY,
        query="ZapierBrandSearchQuery",
    ),
    Operation(
        "get",
        "/zapier/v1/triggers/brands",
        "List completed brand extractions, newest first, id = brand_id",
        "zapier",
        {200: array_of("ZapierObject")},
        (400, 401, *STORE),
        PI_KEY,
        query="ZapierTriggerQuery",
    ),
    Operation(
        "get",
        "/zapier/v1/triggers/jobs",
        "List finished jobs, newest first, id = job_id",
        "zapier",
        {200: array_of("ZapierEventObject")},
        (400, 401, *STORE),
        PI_KEY,
        query="ZapierJobsTriggerQuery",
    ),
    Operation(
        "post",
        "/zapier/v1/hooks",
        "Subscribe a REST hook to one event",
        "zapier",
        {201: "Hook"},
        (400, 401, *STORE),
        PI_KEY,
        body="ZapierHookInput",
    ),
    Operation(
        "delete",
        "/zapier/v1/hooks/{hook_id}",
        "Remove one of this account's hooks",
        "zapier",
        {200: "DeletedHook"},
        (401, 404, *STORE),
        PI_KEY,
        parameters=[param("hook_id", "path", {"type": "string"}, required=True)],
    ),
    # Shopify
    Operation(
        "get",
        "/shopify/install",
        "Validate the shop and redirect to Shopify's consent screen",
        "shopify",
        {302: REDIRECT},
        (400, 401, *STORE),
        parameters=[
            SHOP,
            param("hmac", "query", {"type": "string"}, description="checked when present"),
            param("timestamp", "query", {"type": "string"}, description="an integer with hmac"),
        ],
    ),
    Operation(
        "get",
        "/shopify/callback",
        "Verify Shopify's redirect, exchange the code, store the shop, redirect into the admin",
        "shopify",
        {302: REDIRECT},
        (400, 401, 403, 502, *STORE),
        OAUTH_HMAC,
        parameters=[
            SHOP,
            param("timestamp", "query", {"type": "string", "pattern": "^-?[0-9]+$"}, required=True),
            param("code", "query", {"type": "string"}, required=True),
            param("state", "query", {"type": "string"}, required=True),
            param("host", "query", {"type": "string"}),
        ],
    ),
    Operation(
        "post",
        "/shopify/webhooks",
        "Verify, dedupe and handle one webhook delivery",
        "shopify",
        {200: "WebhookReceipt"},
        (400, 401, *STORE),
        WEBHOOK_HMAC,
        body="ShopifyWebhookPayload",
        parameters=[
            param("X-Shopify-Topic", "header", {"type": "string"}, required=True),
            param(
                "X-Shopify-Webhook-Id",
                "header",
                {"type": "string", "pattern": "^[A-Za-z0-9_\\-:.]{1,128}$"},
                required=True,
            ),
            param("X-Shopify-Shop-Domain", "header", {"type": "string"}, required=True),
            param("X-Shopify-Triggered-At", "header", {"type": "string"}),
        ],
    ),
    Operation(
        "get",
        "/shopify/app",
        "Serve the embedded admin page",
        "shopify",
        {200: {"description": "the page", "content": HTML}},
        (400, 503),
        parameters=[SHOP, param("host", "query", {"type": "string"})],
    ),
    Operation(
        "get",
        "/shopify/api/brand",
        "Return the shop's brand and extraction status",
        "shopify",
        {200: "ShopBrand"},
        (401, *STORE),
        SESSION_TOKEN,
        parameters=[param("shop", "query", {"type": "string"})],
    ),
    Operation(
        "post",
        "/shopify/api/brand/refresh",
        "Start a new extraction unless one is pending",
        "shopify",
        {202: "ShopBrand"},
        (401, *STORE),
        SESSION_TOKEN,
        parameters=[param("shop", "query", {"type": "string"})],
    ),
    Operation(
        "post",
        "/shopify/api/session",
        "Install through token exchange when the shop has no offline token yet",
        "shopify",
        {200: "ShopSession", 201: "ShopSession"},
        (401, 403, 502, *STORE),
        SESSION_TOKEN,
        parameters=[param("shop", "query", {"type": "string"})],
    ),
)
