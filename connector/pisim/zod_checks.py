"""Check request bodies and query strings the way Pi's Zod schemas do."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
ASPECT_RATIOS = (
    "auto", "1:1", "1:4", "1:8", "2:3", "3:2", "3:4", "4:1", "4:3", "4:5", "5:4", "8:1",
    "9:16", "16:9", "21:9",
)  # fmt: skip
RESOLUTIONS = ("512", "1K", "2K", "4K")
THINKING = ("minimal", "high")
EXPAND_VALUES = ("brand", "avatar", "ad", "diagnostics")
JOB_FIELDS = (
    "id", "org_id", "type", "status", "payload", "result_url", "error_log", "created_at",
    "updated_at",
)  # fmt: skip
_INT_RE = re.compile(r"^[0-9]+$")
_BASE64_RE = re.compile(r"^[A-Za-z0-9+/=_\-\s]+$")
_MISSING = object()  # a key absent from the body: Zod reports it as "Required"


def _js_type(value: Any) -> str:
    """Return the JavaScript type name Zod reports for a JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), "unknown")


def _issue(code: str, message: str, path: list[Any], **extra: Any) -> dict[str, Any]:
    return {"code": code, **extra, "path": path, "message": message}


def _expect(value: Any, kind: type, name: str, path: list[Any], issues: list) -> bool:
    """Record an invalid_type issue unless value has the JSON type; return whether it does."""
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if not ok:
        received = _js_type(value)
        message = "Required" if value is _MISSING else f"Expected {name}, received {received}"
        received = "undefined" if value is _MISSING else received
        issues.append(_issue("invalid_type", message, path, expected=name, received=received))
    return ok


def _text(value: Any, path: list[Any], issues: list, *, low: int, high: int) -> str | None:
    """Check a trimmed string length; return the trimmed value if valid."""
    if not _expect(value, str, "string", path, issues):
        return None
    value = value.strip()
    if len(value) < low:
        message = f"String must contain at least {low} character(s)"
        issues.append(_issue("too_small", message, path, minimum=low, type="string"))
        return None
    if len(value) > high:
        message = f"String must contain at most {high} character(s)"
        issues.append(_issue("too_big", message, path, maximum=high, type="string"))
        return None
    return value


def _enum(value: Any, options: tuple[str, ...], path: list[Any], issues: list) -> str | None:
    if value in options:
        return value
    expected = " | ".join(f"'{o}'" for o in options)
    message = f"Invalid enum value. Expected {expected}, received '{value}'"
    issues.append(_issue("invalid_enum_value", message, path, options=list(options)))
    return None


def is_url(value: str) -> bool:
    """Tell whether a string parses as an absolute URL (what `new URL()` accepts, roughly)."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a garbage port
    except ValueError:
        return False
    return bool(parts.scheme) and bool(parts.netloc) and not any(c.isspace() for c in value)


def validate_brand_body(body: Any) -> tuple[dict[str, Any] | None, str | None]:
    """Return (clean body, None) or (None, first issue's message) for brands/extract."""
    issues: list[dict[str, Any]] = []
    if not _expect(body, dict, "object", [], issues):
        return None, issues[0]["message"]
    clean: dict[str, Any] = {}
    if "url" in body and _expect(body["url"], str, "string", ["url"], issues):
        if is_url(body["url"]):
            clean["url"] = body["url"]
        else:
            issues.append(_issue("invalid_string", "Invalid url", ["url"], validation="url"))
    if "logoBase64" in body:
        logo = _text(body["logoBase64"], ["logoBase64"], issues, low=1, high=10**9)
        if logo is not None:
            clean["logoBase64"] = body["logoBase64"]
    if "imagesBase64" in body and _expect(
        body["imagesBase64"], list, "array", ["imagesBase64"], issues
    ):
        for i, item in enumerate(body["imagesBase64"]):
            _expect(item, str, "string", ["imagesBase64", i], issues)
        clean["imagesBase64"] = body["imagesBase64"]
    if "location" in body and _expect(body["location"], dict, "object", ["location"], issues):
        loc = body["location"]
        country = loc.get("country", _MISSING)
        if _expect(country, str, "string", ["location", "country"], issues) and len(country) != 2:
            message = "String must contain exactly 2 character(s)"
            issues.append(_issue("too_small", message, ["location", "country"], exact=True))
        languages = loc.get("languages", _MISSING)
        if _expect(languages, list, "array", ["location", "languages"], issues):
            for i, lang in enumerate(languages):
                _text(lang, ["location", "languages", i], issues, low=2, high=10**6)
        clean["location"] = {"country": country, "languages": languages}
    if issues:
        return None, issues[0]["message"]
    if not (clean.get("url") or clean.get("logoBase64") or clean.get("imagesBase64")):
        return None, "Provide at least one of url, logoBase64 or imagesBase64."
    return clean, None


def _reference_image(value: Any, path: list[Any], issues: list) -> None:
    if not _expect(value, str, "string", path, issues):
        return
    ok = value.startswith(("https://", "data:image/")) or (
        bool(value) and _BASE64_RE.match(value) is not None
    )
    if not ok:
        message = "Reference image must be an https URL, a data URL or base64 data"
        issues.append(_issue("custom", message, path))


def validate_generation_body(body: Any) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Return (clean body, []) or (None, Zod-like issues) for image and campaign creates."""
    issues: list[dict[str, Any]] = []
    if not _expect(body, dict, "object", [], issues):
        return None, issues
    clean: dict[str, Any] = {}
    prompt = _text(body.get("prompt", _MISSING), ["prompt"], issues, low=1, high=5000)
    if prompt is not None:
        clean["prompt"] = prompt
    if "reference_images" in body:
        images = body["reference_images"]
        if _expect(images, list, "array", ["reference_images"], issues):
            for i, item in enumerate(images):
                _reference_image(item, ["reference_images", i], issues)
            if len(images) > 6:
                message = "Array must contain at most 6 element(s)"
                issues.append(
                    _issue("too_big", message, ["reference_images"], maximum=6, type="array")
                )
            clean["reference_images"] = images
    if "brand_id" in body and _expect(body["brand_id"], str, "string", ["brand_id"], issues):
        if UUID_RE.match(body["brand_id"]):
            clean["brand_id"] = body["brand_id"]
        else:
            issues.append(_issue("invalid_string", "Invalid uuid", ["brand_id"], validation="uuid"))
    identity = body.get("brand_identity_json", _MISSING)
    if identity is not _MISSING and _expect(
        identity, dict, "object", ["brand_identity_json"], issues
    ):
        clean["brand_identity_json"] = body["brand_identity_json"]
    if "output" in body and _expect(body["output"], dict, "object", ["output"], issues):
        output: dict[str, Any] = {}
        for name, options in (
            ("aspect_ratio", ASPECT_RATIOS),
            ("resolution", RESOLUTIONS),
            ("thinking_intensity", THINKING),
        ):
            if name in body["output"]:
                value = _enum(body["output"][name], options, ["output", name], issues)
                if value is not None:
                    output[name] = value
        clean["output"] = output
    if "client_reference_id" in body:
        ref = _text(body["client_reference_id"], ["client_reference_id"], issues, low=1, high=200)
        if ref is not None:
            clean["client_reference_id"] = ref
    if "metadata" in body and _expect(body["metadata"], dict, "object", ["metadata"], issues):
        metadata = body["metadata"]
        for key, value in metadata.items():
            _text(value, ["metadata", key], issues, low=0, high=500)
        if len(metadata) > 16:
            issues.append(_issue("custom", "metadata may have at most 16 keys", ["metadata"]))
        clean["metadata"] = metadata
    return (None, issues) if issues else (clean, [])


@dataclass(frozen=True)
class JobQuery:
    """Parsed query of GET /jobs/:id."""

    expand: str | None = None
    wait: bool = False
    timeout_seconds: int = 20
    fields: tuple[str, ...] | None = None


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def parse_job_query(query: dict[str, list[str]]) -> JobQuery | None:
    """Return the parsed job query, or None if any parameter is invalid."""
    expand = _first(query, "expand")
    include = _first(query, "include")
    # expand and include are aliases, each validated on its own; expand wins when both are set.
    for value in (expand, include):
        if value is not None and value not in EXPAND_VALUES:
            return None
    timeout = _first(query, "timeout_seconds")
    seconds = 20
    if timeout is not None:
        if not _INT_RE.match(timeout) or not 1 <= int(timeout) <= 30:
            return None
        seconds = int(timeout)
    fields: tuple[str, ...] | None = None
    raw_fields = _first(query, "fields")
    if raw_fields is not None:
        names = [name.strip() for name in raw_fields.strip().split(",")]
        if not raw_fields.strip():
            return None
        # Unknown names are dropped; with none left the full row comes back.
        fields = tuple(n for n in names if n in JOB_FIELDS) or None
    return JobQuery(
        expand=expand if expand is not None else include,
        # Only the exact string "true" waits: "1", "True" and "" do not.
        wait=_first(query, "wait_for_completion") == "true",
        timeout_seconds=seconds,
        fields=fields,
    )


@dataclass(frozen=True)
class BrandQuery:
    """Parsed query of GET /brands."""

    query: str | None = None
    limit: int = 20
    offset: int = 0
    latest_job: bool = False
    fields: tuple[str, ...] | None = None


def parse_brand_fields(raw: str | None) -> tuple[bool, tuple[str, ...] | None]:
    """Return (valid, field names) for a brands `fields` CSV."""
    if raw is None:
        return True, None
    if not raw.strip():
        return False, None
    return True, tuple(n.strip() for n in raw.split(",") if n.strip()) or None


def parse_brand_list_query(query: dict[str, list[str]]) -> BrandQuery | None:
    """Return the parsed brand-list query, or None if any parameter is invalid."""
    limit = _first(query, "limit")
    offset = _first(query, "offset")
    if limit is not None and (not _INT_RE.match(limit) or not 1 <= int(limit) <= 100):
        return None
    if offset is not None and not _INT_RE.match(offset):
        return None
    expands = [v for v in (_first(query, "expand"), _first(query, "include")) if v is not None]
    if any(v != "latest_job" for v in expands):
        return None
    ok, fields = parse_brand_fields(_first(query, "fields"))
    if not ok:
        return None
    return BrandQuery(
        query=_first(query, "query"),
        limit=int(limit) if limit is not None else 20,
        offset=int(offset) if offset is not None else 0,
        latest_job=bool(expands),
        fields=fields,
    )
