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

from connector.ledger import JobEvent, JobKind
from connector.pi import validation
from connector.web.bodies import drop_unmapped, is_placeholder, with_scheme

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
# The brands trigger pages by `page` (0-based, as Zapier's bundle.meta.page) of `limit` brands;
# the cap keeps the offset a small number (100 × 1000 brands at most).
MAX_PAGE = 1000
# The hidden trigger that feeds the Brand dropdowns, and the search that finds a brand.
BRAND_DROPDOWN = "brand_list.id.label"
BRAND_SEARCH = "find_brand.id"

EVENT_LABELS = {
    JobEvent.BRAND_EXTRACTED: "Brand extracted",
    JobEvent.JOB_COMPLETED: "Job completed (any kind)",
    JobEvent.JOB_FAILED: "Job failed (any kind)",
}
KIND_LABELS = {
    JobKind.BRAND_EXTRACTION: "Brand extraction",
    JobKind.IMAGE_GENERATION: "Image generation",
    JobKind.CAMPAIGN_RENDER: "Campaign render",
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
            "Brand",
            "Apply this brand's identity (colours, logo, style). Pick one of your extracted "
            "brands, or map the Brand ID from an *Extract Brand* step or the *New Brand "
            "Extracted* trigger.",
            dynamic=BRAND_DROPDOWN,
            search=BRAND_SEARCH,
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


def _one_of(labels: dict[str, str], label: str, help_text: str, **extra: Any) -> fields.Field:
    """Return an optional field taking one of `labels`' keys, shown as a labelled dropdown."""
    choices = [{"value": value, "sample": value, "label": text} for value, text in labels.items()]
    return fields.String(
        load_default=None,
        validate=validate.OneOf(list(labels)),
        metadata=zapier(label, help_text, choices=choices, **extra),
    )


class BrandsTriggerQuery(TriggerQuery):
    """Query of GET /triggers/brands: one page of `limit` brands, newest first."""

    page = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=MAX_PAGE),
        metadata={"zapier": None},  # set from bundle.meta.page by the dropdown's trigger
    )


class JobsTriggerQuery(TriggerQuery):
    """Query of GET /triggers/jobs."""

    event = _one_of(
        EVENT_LABELS,
        "Event",
        "Which finished jobs start the Zap.",
        required=True,
        default="job.completed",
    )
    kind = _one_of(
        KIND_LABELS, "Kind", "Only jobs of this kind start the Zap. Leave empty for every kind."
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
        metadata=zapier("Image URL", "Where the generated image is (image and campaign jobs)."),
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


class ZapierBrandObject(ZapierObject):
    """A brand (brands trigger, brand search, Brand dropdown): the object plus a label."""

    label = fields.String(
        metadata=zapier("Label", "The brand's name and domain, e.g. `Acme (acme.com)`.")
    )


def _image_file() -> fields.Field:
    # Added by the integration, not the connector: z.dehydrateFile() over image_url.
    return fields.String(
        allow_none=True,
        metadata=zapier(
            "Image File",
            "The generated image as a file, for steps that take a file (null when no image).",
            type="file",
        ),
    )


class ZapierJobOutput(ZapierObject):
    """What the integration's image and job steps output: the object plus the image file."""

    image_file = _image_file()


class ZapierEventOutput(ZapierEventObject):
    """What the Job Finished trigger outputs: the event object plus the image file."""

    image_file = _image_file()
