"""Marshmallow schemas of what the core answers, and the brand fields flat replies share."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from connector.ledger import JobKind, JobStatus
from connector.pi import validation


def nullable_text(**metadata: str) -> fields.String:
    """Return a string field that is always present and may be null."""
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


class FlatBrand(Schema):
    """The brand fields a flat platform reply carries (design §8), each present, null if unknown."""

    brand_id = nullable_text()
    brand_name = nullable_text()
    domain = nullable_text()
    primary_hex = nullable_text()
    secondary_hex = nullable_text()
    logo_url = nullable_text()


class BrandFields(FlatBrand):
    """The flattened brand fields (design §8), described."""

    brand_id = nullable_text(description="stable brand key (Pi upserts brands per domain)")
    primary_hex = nullable_text(description="#RRGGBB")
    secondary_hex = nullable_text(description="#RRGGBB")


class JobView(Schema):
    """The ledger view of a job (GET/POST /v1/jobs)."""

    job_id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(list(JobKind)))
    status = fields.String(required=True, validate=validate.OneOf(list(JobStatus)))
    brand_id = nullable_text()
    image_url = nullable_text()
    brand = fields.Nested(
        BrandFields,
        required=True,
        allow_none=True,
        metadata={"description": "brand extractions only (null for other kinds)"},
    )
    error = nullable_text(description="why the job failed (sanitized)")
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
