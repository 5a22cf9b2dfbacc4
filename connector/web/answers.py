"""Marshmallow schemas of the shapes the endpoints answer (and of inputs no module declares)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from connector.ledger import KINDS, STATUSES
from connector.pi import validation


def _nullable_text(**metadata: str) -> fields.String:
    return fields.String(required=True, allow_none=True, metadata=metadata)


class ErrorDetail(Schema):
    """The inside of every error answer."""

    code = fields.String(required=True, metadata={"description": "machine-readable reason"})
    message = fields.String(required=True, metadata={"description": "what went wrong, for people"})
    details = fields.Raw(
        metadata={"description": "per-field messages of a validation error (when there are any)"}
    )


class Error(Schema):
    """The one JSON error shape: `{"error": {"code", "message", "details"?}}`."""

    error = fields.Nested(ErrorDetail, required=True)


class Health(Schema):
    """GET /healthz."""

    status = fields.String(required=True, validate=validate.OneOf(["ok"]))


class Ready(Schema):
    """GET /readyz when Redis and Pi answer."""

    status = fields.String(required=True, validate=validate.OneOf(["ready"]))
    redis = fields.String(required=True, validate=validate.OneOf(["ok"]))
    pi = fields.String(required=True, validate=validate.OneOf(["ok"]))


class NotReady(Error):
    """GET /readyz when a dependency does not answer (the error shape plus a status)."""

    status = fields.String(required=True, validate=validate.OneOf(["not_ready"]))


class BrandFields(Schema):
    """The flattened brand fields (design §8)."""

    brand_id = _nullable_text(description="stable brand key (Pi upserts brands per domain)")
    brand_name = _nullable_text()
    domain = _nullable_text()
    primary_hex = _nullable_text(description="#RRGGBB")
    secondary_hex = _nullable_text(description="#RRGGBB")
    logo_url = _nullable_text()


class JobView(Schema):
    """The ledger view of a job (GET/POST /v1/jobs)."""

    job_id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    brand_id = _nullable_text()
    image_url = _nullable_text()
    brand = fields.Nested(
        BrandFields,
        required=True,
        allow_none=True,
        metadata={"description": "brand extractions only (null for other kinds)"},
    )
    error = _nullable_text(description="why the job failed (sanitized)")
    created_at = fields.String(required=True, metadata={"description": "ISO 8601 UTC"})
    updated_at = fields.String(required=True, metadata={"description": "ISO 8601 UTC"})


class BrandJobInput(Schema):
    """`input` of a /v1 brand extraction (one of url, logo_base64 or images_base64)."""

    url = fields.String(metadata={"description": "the brand's website (http or https)"})
    logo_base64 = fields.String()
    images_base64 = fields.List(fields.String())
    location = fields.Dict(metadata={"description": "{country: 'US', languages: ['en']}"})


class GenerationJobInput(Schema):
    """`input` of a /v1 image generation or campaign render."""

    prompt = fields.String(
        required=True, validate=validate.Length(min=1, max=validation.MAX_PROMPT_CHARS)
    )
    brand_id = fields.String(metadata={"description": "a brand id (UUID)"})
    aspect_ratio = fields.String(validate=validate.OneOf(validation.ASPECT_RATIOS))
    resolution = fields.String(validate=validate.OneOf(validation.RESOLUTIONS))
    thinking_intensity = fields.String(validate=validate.OneOf(validation.THINKING_INTENSITIES))


class ManyChatReply(Schema):
    """The flat ManyChat reply: every key always present, null when unknown."""

    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    job_id = fields.String(required=True)
    brand_id = _nullable_text()
    brand_name = _nullable_text()
    domain = _nullable_text()
    primary_hex = _nullable_text()
    secondary_hex = _nullable_text()
    logo_url = _nullable_text()
    error = _nullable_text()


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


class ShopBrand(Schema):
    """The Shopify admin page's view of the shop's brand."""

    shop = fields.String(required=True)
    status = _nullable_text()
    job_id = _nullable_text()
    brand_id = _nullable_text()
    brand_name = _nullable_text()
    domain = _nullable_text()
    primary_hex = _nullable_text()
    secondary_hex = _nullable_text()
    logo_url = _nullable_text()
    error = _nullable_text()
    metafield_error = _nullable_text()
    last_extracted_at = _nullable_text()
    updated_at = _nullable_text()
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
