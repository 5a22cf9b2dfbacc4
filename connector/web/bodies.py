"""Read request bodies and query values the same way in every blueprint.

Also the rules ManyChat and Zapier bodies share: both send a field nobody mapped blank or as
its literal merge field, and both let users type a bare domain for a website. Each rule is one
regex, written so Python's re and ECMA-262 read it alike (see connector.pi.validation).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from flask import request
from marshmallow import Schema

from connector.errors import BadRequest
from connector.pi.validation import SPACE

# Nothing but whitespace (or nothing at all).
BLANK = re.compile(f"^[{SPACE}]*$")
# An unfilled merge field, anywhere in a value.
UNFILLED = re.compile(r"\{\{[^{}]*\}\}")
# A value that is nothing but one merge field (blank around it aside).
PLACEHOLDER = re.compile(f"^[{SPACE}]*\\{{\\{{[^\\n]*\\}}\\}}[{SPACE}]*$")
# The bare domain users type for a website ("acme.com" reads as https://acme.com).
BARE_DOMAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]*\.[A-Za-z]{2,}" + f"(?:[/?#][^{SPACE}]*)?$")


def json_object() -> dict[str, Any]:
    """Return the request's JSON object, or raise a 400 saying what is wrong with it."""
    if not request.data:
        return {}
    data = request.get_json(silent=True, force=True)
    if data is None:
        raise BadRequest("request body is not valid JSON", code="invalid_json")
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object", code="invalid_json")
    return data


def load(schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    """Validate data with a schema (a ValidationError becomes a 400 naming the fields)."""
    return schema.load(data)


def is_placeholder(value: Any) -> bool:
    """Return True for a value that is only an unfilled merge field, such as '{{cuf_123}}'."""
    return isinstance(value, str) and bool(PLACEHOLDER.match(value))


def drop_unmapped(
    data: Mapping[str, Any], unmapped: Callable[[Any], bool], *, in_lists: bool = False
) -> dict[str, Any]:
    """Return data without unmapped values (and, in_lists, unmapped items and emptied lists)."""
    kept: dict[str, Any] = {}
    for key, value in data.items():
        if in_lists and isinstance(value, list):
            value = [item for item in value if not unmapped(item)]
            if not value:
                continue
        elif unmapped(value):
            continue
        kept[key] = value
    return kept


def with_scheme(url: Any) -> Any:
    """Return a bare domain such as 'acme.com' as https://acme.com; any other value as it is."""
    if isinstance(url, str) and "://" not in url and BARE_DOMAIN.match(url.strip()):
        return "https://" + url.strip()
    return url


def wait_seconds(name: str, *, default: float, maximum: float) -> float:
    """Read a wait from the query string, clamped to [0, maximum]."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(
            f"{name} must be a number of seconds",
            code="invalid_query",
            details={name: ["not a number"]},
        ) from None
    if value < 0 or value != value:
        raise BadRequest(f"{name} must be >= 0", code="invalid_query", details={name: ["negative"]})
    return min(value, maximum)
