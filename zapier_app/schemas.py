"""Marshmallow schemas of the Zapier endpoints: they validate requests and define the Zapier fields.

Each field's `metadata["zapier"]` holds what Zapier shows (label, help text, type); the
Zapier field specs in `integration/generated/` are generated from these schemas by
`python -m zapier_app.generate`, so the endpoint and the integration cannot drift.
"""

from __future__ import annotations

from typing import Any

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    pre_load,
    validate,
    validates_schema,
)

from connector.ledger import JobEvent
from connector.pi import validation
from connector.web.bodies import drop_unmapped, is_placeholder, with_scheme

DEFAULT_LIMIT = 50
MAX_LIMIT = 100

EVENT_LABELS = {
    "job.completed": "Job completed (any kind)",
    "job.failed": "Job failed (any kind)",
    "brand.extracted": "Brand extracted",
}


def zapier(label: str, help_text: str, **extra: Any) -> dict[str, Any]:
    """Return field metadata that the generator turns into a Zapier field."""
    return {"zapier": {"label": label, "helpText": help_text, **extra}}


def is_unmapped(value: Any) -> bool:
    """Return True for what Zapier sends for a field nobody mapped: null, "" or '{{...}}'."""
    return value is None or value == "" or is_placeholder(value)


def _pi_check(check, field: str):
    """Wrap a connector.pi.validation check as a marshmallow validator naming `field`."""

    def run(value: Any) -> None:
        try:
            check(value, field)
        except validation.PiInputError as exc:
            raise ValidationError(exc.message) from None

    return run


def _brand_url(value: str, field: str) -> None:
    validation.validate_brand_input(url=value)


def _uuid(value: str, field: str) -> None:
    validation.validate_uuid(value, field)


class ZapierInput(Schema):
    """Base of the Zapier request schemas: blank and unfilled merge fields count as absent."""

    class Meta:
        unknown = EXCLUDE  # an older or newer integration version may send fields we do not use

    @pre_load
    def drop_blanks(self, data: Any, **_: Any) -> Any:
        """Remove empty values and literal '{{...}}' placeholders (in lists too) first."""
        if not isinstance(data, dict):
            return data
        return drop_unmapped(data, is_unmapped, in_lists=True)


def _callback_url() -> fields.Field:
    # Set by the integration from z.generateCallbackUrl(), never by the user.
    return fields.String(
        load_default=None, validate=validate.Length(max=2048), metadata={"zapier": None}
    )


class ExtractBrandInput(ZapierInput):
    """Body of POST /actions/extract_brand."""

    url = fields.String(
        required=True,
        validate=_pi_check(_brand_url, "url"),
        metadata=zapier(
            "Website URL",
            "The brand's website, e.g. `https://acme.com`. Pi reads the site and extracts the "
            "brand's name, colours and logo. The same domain always gives the same Brand ID.",
            placeholder="https://acme.com",
        ),
    )
    callback_url = _callback_url()

    @pre_load
    def add_scheme(self, data: Any, **_: Any) -> Any:
        """Read a bare domain such as 'acme.com' as https://acme.com (what users type)."""
        if isinstance(data, dict) and "url" in data:
            data = {**data, "url": with_scheme(data["url"])}
        return data


class GenerationInput(ZapierInput):
    """Body of POST /actions/generate_image and /actions/render_campaign."""

    prompt = fields.String(
        required=True,
        validate=validate.Length(min=1, max=validation.MAX_PROMPT_CHARS),
        metadata=zapier(
            "Prompt",
            f"What to create, in plain words (at most {validation.MAX_PROMPT_CHARS} characters).",
            type="text",
        ),
    )
    brand_id = fields.String(
        load_default=None,
        validate=_pi_check(_uuid, "brand_id"),
        metadata=zapier(
            "Brand ID",
            "Apply this brand's identity (colours, logo, style). Map the Brand ID from an "
            "*Extract Brand* step or the *New Brand Extracted* trigger.",
        ),
    )
    reference_images = fields.List(
        fields.String(validate=validate.Length(min=1)),
        load_default=None,
        validate=validate.Length(max=validation.MAX_REFERENCE_IMAGES),
        metadata=zapier(
            "Reference Images",
            f"Up to {validation.MAX_REFERENCE_IMAGES} images to guide the result: https URLs, "
            "data URLs or base64 text.",
            list=True,
        ),
    )
    aspect_ratio = fields.String(
        load_default=None,
        validate=validate.OneOf(validation.ASPECT_RATIOS),
        metadata=zapier(
            "Aspect Ratio",
            "Shape of the image. `auto` lets Pi choose.",
        ),
    )
    resolution = fields.String(
        load_default=None,
        validate=validate.OneOf(validation.RESOLUTIONS),
        metadata=zapier(
            "Resolution",
            "Output size: larger takes longer.",
        ),
    )
    thinking_intensity = fields.String(
        load_default=None,
        validate=validate.OneOf(validation.THINKING_INTENSITIES),
        metadata=zapier(
            "Thinking Intensity",
            "`high` plans the composition more carefully and takes longer.",
        ),
    )
    callback_url = _callback_url()

    @pre_load
    def resolution_as_text(self, data: Any, **_: Any) -> Any:
        """Accept resolution 512 sent as a number (a mapped field may arrive as one)."""
        if isinstance(data, dict) and isinstance(data.get("resolution"), int):
            data = {**data, "resolution": str(data["resolution"])}
        return data


class JobSearchQuery(ZapierInput):
    """Query of GET /searches/job."""

    job_id = fields.String(
        required=True,
        metadata=zapier("Job ID", "The Job ID an action returned (it is also in every trigger)."),
    )


class BrandSearchQuery(ZapierInput):
    """Query of GET /searches/brand: a brand id or a domain (at least one)."""

    brand_id = fields.String(
        load_default=None,
        metadata=zapier("Brand ID", "Find the brand with this ID. Use this or Domain."),
    )
    domain = fields.String(
        load_default=None,
        validate=validate.Length(max=validation.MAX_URL_CHARS),
        metadata=zapier(
            "Domain",
            "Find the brand extracted from this site, e.g. `acme.com` or a full URL.",
        ),
    )

    @validates_schema
    def validate_one(self, data: dict[str, Any], **_: Any) -> None:
        """Require a brand id or a domain."""
        if not data.get("brand_id") and not data.get("domain"):
            raise ValidationError({"brand_id": ["give brand_id or domain"]})


class TriggerQuery(ZapierInput):
    """Query of the polling trigger endpoints."""

    limit = fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=validate.Range(min=1, max=MAX_LIMIT),
        metadata={"zapier": None},
    )


class JobsTriggerQuery(TriggerQuery):
    """Query of GET /triggers/jobs."""

    event = fields.String(
        load_default=None,
        validate=validate.OneOf(list(JobEvent)),
        metadata=zapier(
            "Event",
            "Which finished jobs start the Zap.",
            required=True,
            default="job.completed",
            choices=[
                {"value": str(e), "sample": str(e), "label": EVENT_LABELS[e]} for e in JobEvent
            ],
        ),
    )


class HookInput(ZapierInput):
    """Body of POST /hooks."""

    target_url = fields.String(required=True, validate=validate.Length(min=1, max=2048))
    event = fields.String(required=True, validate=validate.OneOf(list(JobEvent)))


class ZapierObject(Schema):
    """The one object every Zapier action, search and trigger returns (also the callback body)."""

    id = fields.String(
        metadata=zapier(
            "ID",
            "Dedupe key: the Job ID, or the Brand ID in the New Brand trigger.",
            primary=True,
        )
    )
    job_id = fields.String(metadata=zapier("Job ID", "Pi's job id."))
    status = fields.String(metadata=zapier("Status", "queued, processing, completed or failed."))
    kind = fields.String(
        metadata=zapier("Kind", "brand_extraction, image_generation or campaign_render.")
    )
    brand_id = fields.String(allow_none=True, metadata=zapier("Brand ID", "Stable brand key."))
    brand_name = fields.String(allow_none=True, metadata=zapier("Brand Name", "Brand name."))
    domain = fields.String(allow_none=True, metadata=zapier("Domain", "The brand's domain."))
    primary_hex = fields.String(
        allow_none=True, metadata=zapier("Primary Colour", "Primary (background) colour, #RRGGBB.")
    )
    secondary_hex = fields.String(
        allow_none=True, metadata=zapier("Secondary Colour", "Secondary (accent) colour, #RRGGBB.")
    )
    logo_url = fields.String(allow_none=True, metadata=zapier("Logo URL", "Logo image URL."))
    image_url = fields.String(
        allow_none=True,
        metadata=zapier("Image URL", "The generated image (image and campaign jobs).", type="file"),
    )
    error = fields.String(
        allow_none=True, metadata=zapier("Error", "Why the job failed (failed jobs only).")
    )
    created_at = fields.String(
        metadata=zapier("Created At", "When the job was submitted (ISO 8601 UTC).", type="datetime")
    )
    finished_at = fields.String(
        allow_none=True,
        metadata=zapier("Finished At", "When the job ended (ISO 8601 UTC).", type="datetime"),
    )


class ZapierEventObject(ZapierObject):
    """A job-finished trigger item: the object plus the hook event it raised."""

    event = fields.String(metadata=zapier("Event", "job.completed, job.failed or brand.extracted."))
