"""ManyChat request inputs: the body, query and path values an External Request sends."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validates_schema
from marshmallow.validate import Length, OneOf

from connector.errors import BadRequest
from connector.pi import validation
from connector.web.bodies import BLANK, UNFILLED, drop_unmapped, with_scheme

SUBSCRIBER_DIGITS = 24
SUBSCRIBER_ID = re.compile(f"^[0-9]{{1,{SUBSCRIBER_DIGITS}}}$")
API_KEY = re.compile(r"^[\x21-\x7e]{8,512}$")  # printable, no spaces: never echoed back
FLOW_NS = re.compile(r"^[A-Za-z0-9_\-:.]{1,200}$")
PUSH_FIELDS = ("subscriber_id", "manychat_api_key", "flow_ns")
# What send_image accepts besides JSON true/false: the words a ManyChat text or number field holds.
TRUTHY = frozenset({True, "true", "True", "TRUE", "yes", "1"})
FALSY = frozenset({False, "false", "False", "FALSE", "no", "0"})

MAP_HINT = "map it in the External Request body"


def is_unfilled(value: Any) -> bool:
    """Return True for None, a blank value, or one holding an unfilled '{{...}}' merge field."""
    # ManyChat sends an unfilled merge field literally, alone or inside other text.
    if value is None:
        return True
    return isinstance(value, str) and bool(BLANK.match(value) or UNFILLED.search(value))


def refuse_unfilled(name: str, value: str) -> None:
    """Raise a 400 naming a URL's id when it is blank or an unfilled placeholder."""
    if is_unfilled(value):
        raise BadRequest(
            f"{name} is an unfilled placeholder: put the custom field that holds the {name} "
            "into the request URL",
            code="invalid_input",
            details={name: ["is an unfilled placeholder"]},
        )


def path_uuid(name: str, value: str) -> str:
    """Return a UUID from the URL, or raise a 400 naming it (unfilled, or no UUID)."""
    refuse_unfilled(name, value)
    if not validation.UUID_RE.fullmatch(value):
        raise BadRequest(
            f"{name} must be a UUID", code="invalid_input", details={name: ["must be a UUID"]}
        )
    return value


def _as_text(value: Any) -> Any:
    """Return a JSON number as its decimal text and a string trimmed; anything else as it is."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(int(value)) if float(value).is_integer() else str(value)
    return value.strip() if isinstance(value, str) else value


def _mapped(data: Any, *, text: Iterable[str] | None = None, website: str | None = None) -> Any:
    """Drop unfilled or blank values; read `text` fields (all by default) as trimmed text."""
    if not isinstance(data, dict):
        return data
    cleaned = drop_unmapped(data, is_unfilled)
    for name in list(cleaned) if text is None else text:
        if name in cleaned:
            cleaned[name] = _as_text(cleaned[name])
    if website and website in cleaned:
        cleaned[website] = with_scheme(cleaned[website])  # what a contact types into a chat
    return cleaned


def _matching(pattern: re.Pattern[str], message: str):
    def run(value: str) -> None:
        if not pattern.match(value):
            raise ValidationError(message)

    return run


def _brand_url(value: str) -> None:
    try:
        validation.validate_brand_input(url=value)
    except validation.PiInputError as exc:
        raise ValidationError(exc.message) from None


def _brand_id(value: str) -> None:
    # fullmatch: the value is not trimmed, and Python's $ would let a final newline through.
    if not validation.UUID_RE.fullmatch(value):
        raise ValidationError("must be a brand id (a UUID), e.g. the brand_id an extraction set")


def _visible(value: str) -> None:
    if not validation.VISIBLE_RE.search(value):
        raise ValidationError("must not be blank")


def required_hint(what: str) -> dict[str, str]:
    """Return the message for a field that is missing or an unfilled placeholder."""
    return {"required": f"is missing or an unfilled placeholder: {MAP_HINT} to {what}"}


def _website(source: str) -> fields.String:
    """Return a required website field: an http(s) URL, or a bare domain read as https://."""
    return fields.String(required=True, validate=_brand_url, error_messages=required_hint(source))


class PushInput(Schema):
    """The push settings any ManyChat body may carry: the contact, the page key, a flow."""

    class Meta:
        unknown = EXCLUDE  # ManyChat adds fields of its own at times; they are not errors

    subscriber_id = fields.String(
        load_default=None,
        validate=_matching(SUBSCRIBER_ID, "must be the contact's numeric id (ManyChat Contact Id)"),
    )
    manychat_api_key = fields.String(
        load_default=None,
        validate=_matching(API_KEY, "must be a ManyChat API key (Settings > API), without spaces"),
    )
    flow_ns = fields.String(
        load_default=None,
        validate=_matching(
            FLOW_NS, "must be a flow's namespace, e.g. content20240101000000_000000"
        ),
    )

    @validates_schema
    def push_needs_both(self, data: dict[str, Any], **_: Any) -> None:
        """Refuse half a push setup: the API key and the contact id go together."""
        key, sub = data.get("manychat_api_key"), data.get("subscriber_id")
        errors: dict[str, list[str]] = {}
        if key and not sub:
            errors["subscriber_id"] = [
                f"is required with manychat_api_key: {MAP_HINT} to the Contact Id field"
            ]
        if sub and not key:
            errors["manychat_api_key"] = [
                f"is required with subscriber_id: {MAP_HINT} (ManyChat Settings > API)"
            ]
        for needs_push in ("flow_ns", "send_image"):
            if data.get(needs_push) and not (key or sub):
                message = f"is required with {needs_push}: {MAP_HINT}"
                errors = {"manychat_api_key": [message], "subscriber_id": [message]}
        if errors:
            raise ValidationError(errors)


class ExtractInput(PushInput):
    """Body of POST /brands/extract; unfilled placeholders count as missing."""

    url = _website("the field that holds the website address")

    @pre_load
    def clean(self, data: Any, **_: Any) -> Any:
        """Drop unfilled or blank values; read numbers as text; add https:// to a bare domain."""
        return _mapped(data, website="url")


class GenerateInput(PushInput):
    """Body of POST /images/generate and /campaigns/render; Pi's limits, ManyChat's placeholders."""

    # Measured as sent (Pi trims before its own check): the document can state it exactly.
    prompt = fields.String(
        required=True,
        validate=[Length(max=validation.MAX_PROMPT_CHARS), _visible],
        error_messages=required_hint("the field that holds the prompt"),
    )
    brand_id = fields.String(load_default=None, validate=_brand_id)
    aspect_ratio = fields.String(load_default=None, validate=OneOf(validation.ASPECT_RATIOS))
    resolution = fields.String(load_default=None, validate=OneOf(validation.RESOLUTIONS))
    send_image = fields.Boolean(load_default=False, truthy=set(TRUTHY), falsy=set(FALSY))

    @pre_load
    def clean(self, data: Any, **_: Any) -> Any:
        """Drop unfilled or blank values; read the push fields as trimmed text, 512 as "512"."""
        cleaned = _mapped(data, text=PUSH_FIELDS)
        resolution = cleaned.get("resolution") if isinstance(cleaned, dict) else None
        if isinstance(resolution, int | float) and not isinstance(resolution, bool):
            cleaned["resolution"] = _as_text(resolution)  # a number field holding 512
        return cleaned

    def payload(self, body: dict[str, Any]) -> dict[str, Any]:
        """Return the job input Pi is sent: the generation fields that were given."""
        names = ("prompt", "brand_id", "aspect_ratio", "resolution")
        return {name: body[name] for name in names if body.get(name) is not None}


class DomainQuery(Schema):
    """Query of GET /brands: the website (or bare domain) whose brand is wanted."""

    class Meta:
        unknown = EXCLUDE  # format and channel are read apart

    domain = _website("the field that holds the website (as ?domain=)")

    @pre_load
    def clean(self, data: Any, **_: Any) -> Any:
        """Drop an unfilled or blank domain; read a bare domain as https://."""
        return _mapped(data, text=("domain",), website="domain")
