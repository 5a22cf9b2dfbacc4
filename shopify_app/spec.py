"""The OpenAPI operations and components Shopify adds: install, webhooks and the admin page API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from connector.web.answers import FlatBrand, nullable_text
from connector.web.openapi import STORE, ApiDoc, Operation, padded, param
from shopify_app.verify import SHOP_DOMAIN, TIMESTAMP
from shopify_app.webhooks import WEBHOOK_ID

SESSION_TOKEN = [{"shopifySessionToken": []}]
WEBHOOK_HMAC = [{"shopifyWebhookHmac": []}]
OAUTH_HMAC = [{"shopifyOAuthHmac": []}]


class ShopBrand(FlatBrand):
    """The Shopify admin page's view of the shop's brand."""

    shop = fields.String(required=True)
    status = nullable_text()
    job_id = nullable_text()
    source_domain = nullable_text(
        description="the shop's primary domain the current brand was extracted from"
    )
    domain_change = nullable_text(
        description="a new primary domain the brand is being re-extracted for"
    )
    error = nullable_text()
    metafield_error = nullable_text()
    last_extracted_at = nullable_text()
    updated_at = nullable_text()
    enqueued = fields.Boolean(metadata={"description": "refresh only: a new extraction started"})


class ShopSession(Schema):
    """POST /shopify/api/session."""

    shop = fields.String(required=True)
    installed = fields.Boolean(required=True)
    exchanged = fields.Boolean(required=True)


class WebhookReceipt(Schema):
    """POST /shopify/webhooks."""

    status = fields.String(
        required=True, validate=validate.OneOf(["accepted", "duplicate", "ignored"])
    )
    topic = fields.String(metadata={"description": "the ignored topic"})
    refresh = fields.String(
        validate=validate.OneOf(["started", "unchanged", "checking"]),
        metadata={
            "description": "shop/update and domains/*: a re-extraction started for a new primary"
            " domain, nothing moved, or a look at the primary domain is queued"
        },
    )


SHOP = param(
    "shop",
    "query",
    {"type": "string", "pattern": padded(SHOP_DOMAIN)},
    required=True,
    example="pi-demo.myshopify.com",
)
REDIRECT = {"description": "redirect", "headers": {"Location": {"schema": {"type": "string"}}}}
HTML = {"text/html": {"schema": {"type": "string"}}}
SESSION_SHOP = param("shop", "query", {"type": "string"})

OPERATIONS: tuple[Operation, ...] = (
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
            param(
                "timestamp",
                "query",
                {"type": "string", "pattern": TIMESTAMP.pattern},
                required=True,
            ),
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
                {"type": "string", "pattern": WEBHOOK_ID.pattern},
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
        parameters=[SESSION_SHOP],
    ),
    Operation(
        "post",
        "/shopify/api/brand/refresh",
        "Start a new extraction unless one is pending",
        "shopify",
        {202: "ShopBrand"},
        (401, *STORE),
        SESSION_TOKEN,
        parameters=[SESSION_SHOP],
    ),
    Operation(
        "post",
        "/shopify/api/session",
        "Install through token exchange when the shop has no offline token yet",
        "shopify",
        {200: "ShopSession", 201: "ShopSession"},
        (401, 403, 502, *STORE),
        SESSION_TOKEN,
        parameters=[SESSION_SHOP],
    ),
)

API_DOC = ApiDoc(
    operations=OPERATIONS,
    schemas={
        "ShopBrand": ShopBrand,
        "ShopSession": ShopSession,
        "WebhookReceipt": WebhookReceipt,
        "ShopifyWebhookPayload": {"type": "object", "description": "the topic's payload"},
    },
    security_schemes={
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
    },
)
