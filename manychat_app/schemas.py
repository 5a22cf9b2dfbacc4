"""ManyChat request bodies: what an External Request may send, with its placeholders."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validates_schema

from connector.pi import validation
from connector.web.bodies import BLANK, UNFILLED, drop_unmapped, with_scheme

SUBSCRIBER_DIGITS = 24
SUBSCRIBER_ID = re.compile(f"^[0-9]{{1,{SUBSCRIBER_DIGITS}}}$")
API_KEY = re.compile(r"^[\x21-\x7e]{8,512}$")  # printable, no spaces: never echoed back
FLOW_NS = re.compile(r"^[A-Za-z0-9_\-:.]{1,200}$")

MAP_HINT = "map it in the External Request body"


def is_unfilled(value: Any) -> bool:
    """Return True for None, a blank value, or one holding an unfilled '{{...}}' merge field."""
    # ManyChat sends an unfilled merge field literally, alone or inside other text.
    if value is None:
        return True
    return isinstance(value, str) and bool(BLANK.match(value) or UNFILLED.search(value))


def _as_text(value: Any) -> Any:
    """Return a JSON number as its decimal text and a string trimmed; anything else as it is."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(int(value)) if float(value).is_integer() else str(value)
    return value.strip() if isinstance(value, str) else value


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


class ExtractInput(Schema):
    """Body of POST /brands/extract; unfilled placeholders count as missing."""

    class Meta:
        unknown = EXCLUDE  # ManyChat adds fields of its own at times; they are not errors

    url = fields.String(
        required=True,
        validate=_brand_url,
        error_messages={
            "required": "is missing or an unfilled placeholder: "
            f"{MAP_HINT} to the field that holds the website address"
        },
    )
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

    @pre_load
    def clean(self, data: Any, **_: Any) -> Any:
        """Drop unfilled or blank values; read numbers as text; add https:// to a bare domain."""
        if not isinstance(data, dict):
            return data
        cleaned = {k: _as_text(v) for k, v in drop_unmapped(data, is_unfilled).items()}
        if "url" in cleaned:
            cleaned["url"] = with_scheme(cleaned["url"])  # what a contact types into a chat
        return cleaned

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
        if data.get("flow_ns") and not (key or sub):
            message = f"is required with flow_ns: {MAP_HINT}"
            errors = {"manychat_api_key": [message], "subscriber_id": [message]}
        if errors:
            raise ValidationError(errors)
