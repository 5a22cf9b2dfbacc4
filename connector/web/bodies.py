"""Read request bodies and query values the same way in every blueprint."""

from __future__ import annotations

import re
from typing import Any

from flask import request
from marshmallow import Schema

from connector.errors import BadRequest

# ManyChat and Zapier send unfilled merge fields literally.
PLACEHOLDER = re.compile(r"^\s*\{\{.*\}\}\s*$")


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
    """Return True for an unfilled merge field such as '{{cuf_123}}'."""
    return isinstance(value, str) and bool(PLACEHOLDER.match(value))


def drop_blank(data: dict[str, Any]) -> dict[str, Any]:
    """Remove keys whose value is None or an empty string."""
    return {k: v for k, v in data.items() if v is not None and v != ""}


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
