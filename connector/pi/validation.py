"""Check inputs against Pi's documented limits before anything is sent, and build request bodies."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from connector.pi.errors import PiInputError

__all__ = [
    "ASPECT_RATIOS",
    "MAX_CLIENT_REFERENCE_ID_CHARS",
    "MAX_METADATA_KEYS",
    "MAX_METADATA_VALUE_CHARS",
    "MAX_PROMPT_CHARS",
    "MAX_REFERENCE_IMAGES",
    "RESOLUTIONS",
    "THINKING_INTENSITIES",
    "PiInputError",
    "brand_domain",
    "normalize_brand_url",
    "validate_brand_input",
    "validate_generation_input",
    "validate_uuid",
]

ASPECT_RATIOS = (
    "auto", "1:1", "1:4", "1:8", "2:3", "3:2", "3:4", "4:1", "4:3", "4:5", "5:4", "8:1",
    "9:16", "16:9", "21:9",
)  # fmt: skip
RESOLUTIONS = ("512", "1K", "2K", "4K")
THINKING_INTENSITIES = ("minimal", "high")
MAX_PROMPT_CHARS = 5000
MAX_REFERENCE_IMAGES = 6
MAX_METADATA_KEYS = 16
MAX_METADATA_VALUE_CHARS = 500
MAX_CLIENT_REFERENCE_ID_CHARS = 200
MAX_URL_CHARS = 2048

UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_BASE64_RE = re.compile(r"^[A-Za-z0-9+/_\-\s]+={0,2}\s*$")
_COUNTRY_RE = re.compile(r"^[A-Za-z]{2}$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _fail(field: str, message: str) -> PiInputError:
    """Return the error for one rejected field."""
    return PiInputError(field, message)


def validate_uuid(value: Any, field: str) -> str:
    """Return value if it is a UUID string; raise PiInputError naming the field otherwise."""
    if not isinstance(value, str) or not UUID_RE.match(value):
        raise _fail(field, "must be a UUID")
    return value


def _split_http_url(url: Any, field: str) -> SplitResult:
    """Return the parts of an http(s) URL with a host, or raise PiInputError."""
    if not isinstance(url, str) or not url.strip():
        raise _fail(field, "must be a non-empty URL")
    url = url.strip()
    if len(url) > MAX_URL_CHARS:
        raise _fail(field, f"must be at most {MAX_URL_CHARS} characters")
    if any(c.isspace() for c in url):
        raise _fail(field, "must not contain whitespace")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port raises on garbage such as "host:abc"
    except ValueError as exc:
        raise _fail(field, "is not a valid URL") from exc
    if parts.scheme.lower() not in _DEFAULT_PORTS:
        raise _fail(field, "must be an http or https URL")
    if not parts.hostname:
        raise _fail(field, "must include a host")
    return parts


def _host(parts: SplitResult) -> str:
    """Return a hostname as Pi derives its brand domain: lower-case, no leading www."""
    host = (parts.hostname or "").lower().rstrip(".")
    # JavaScript's URL (used by Pi) reports internationalised hosts in punycode.
    with contextlib.suppress(UnicodeError):
        host = host.encode("idna").decode("ascii")
    return host.removeprefix("www.")


def brand_domain(url: str) -> str:
    """Return the domain Pi files a brand under for this URL."""
    return _host(_split_http_url(url, "url"))


def normalize_brand_url(url: str) -> str:
    """Return a canonical form of a brand URL for dedupe keys."""
    parts = _split_http_url(url, "url")
    scheme = parts.scheme.lower()
    host = _host(parts)
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if parts.port and parts.port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{parts.port}"
    return urlunsplit((scheme, host, parts.path.rstrip("/"), parts.query, ""))


def _text(value: Any, field: str, *, max_chars: int, trim: bool = True) -> str:
    """Return a (trimmed) string of 1..max_chars characters, or raise PiInputError."""
    if not isinstance(value, str):
        raise _fail(field, "must be a string")
    if trim:
        value = value.strip()
    if not value:
        raise _fail(field, "must not be empty")
    if len(value) > max_chars:
        raise _fail(field, f"must be at most {max_chars} characters")
    return value


def _string_list(value: Any, field: str) -> list[str]:
    """Return a list of strings, or raise PiInputError."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise _fail(field, "must be a list of strings")
    items = list(value)
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            raise _fail(f"{field}[{index}]", "must be a non-empty string")
    return items


def _location(value: Any) -> dict[str, Any]:
    """Return a location object Pi accepts, or raise PiInputError."""
    if not isinstance(value, Mapping):
        raise _fail("location", "must be an object with country and languages")
    country = value.get("country")
    if not isinstance(country, str) or not _COUNTRY_RE.match(country):
        raise _fail("location.country", "must be a two-letter country code")
    languages = _string_list(value.get("languages", []), "location.languages")
    for index, language in enumerate(languages):
        if len(language.strip()) < 2:
            raise _fail(f"location.languages[{index}]", "must be at least 2 characters")
    return {"country": country, "languages": languages}


def validate_brand_input(
    *,
    url: str | None = None,
    logo_base64: str | None = None,
    images_base64: Sequence[str] | None = None,
    location: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate a brand extraction request and return Pi's request body."""
    body: dict[str, Any] = {}
    if url is not None:
        _split_http_url(url, "url")
        body["url"] = url.strip()
    if logo_base64 is not None:
        if not isinstance(logo_base64, str) or not logo_base64.strip():
            raise _fail("logo_base64", "must be a non-empty string")
        body["logoBase64"] = logo_base64
    if images_base64 is not None:
        images = _string_list(images_base64, "images_base64")
        if images:
            body["imagesBase64"] = images
    if location is not None:
        body["location"] = _location(location)
    if not ({"url", "logoBase64", "imagesBase64"} & body.keys()):
        raise _fail("url", "one of url, logo_base64 or images_base64 is required")
    return body


def _reference_image(value: str, field: str) -> None:
    """Accept an https URL, a data: URL or raw base64 text; raise PiInputError otherwise."""
    lowered = value[:16].lower()
    if lowered.startswith("https://"):
        try:
            host = urlsplit(value.strip()).hostname
        except ValueError:  # e.g. an unbalanced "[" reads as a broken IPv6 literal
            raise _fail(field, "is not a valid URL") from None
        if not host:
            raise _fail(field, "must include a host")
    elif lowered.startswith("data:"):
        if "," not in value:
            raise _fail(field, "is not a valid data URL")
    elif not _BASE64_RE.match(value):  # ":" is not base64, so other schemes end up here
        raise _fail(field, "must be an https URL, a data URL or base64 text")


def _metadata(value: Any) -> dict[str, str]:
    """Return a string-to-string metadata map within Pi's limits, or raise PiInputError."""
    if not isinstance(value, Mapping):
        raise _fail("metadata", "must be an object of string values")
    if len(value) > MAX_METADATA_KEYS:
        raise _fail("metadata", f"must have at most {MAX_METADATA_KEYS} keys")
    for key, item in value.items():
        if not isinstance(key, str):
            raise _fail("metadata", "keys must be strings")
        if not isinstance(item, str):
            raise _fail(f"metadata.{key}", "must be a string")
        if len(item) > MAX_METADATA_VALUE_CHARS:
            raise _fail(f"metadata.{key}", f"must be at most {MAX_METADATA_VALUE_CHARS} characters")
    return dict(value)


def _choice(value: Any, field: str, allowed: tuple[str, ...]) -> str:
    """Return value if it is one of the allowed strings, or raise PiInputError."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # resolution=512 is an easy slip for "512"
    if not isinstance(value, str) or value not in allowed:
        raise _fail(field, f"must be one of {', '.join(allowed)}")
    return value


def validate_generation_input(
    *,
    prompt: str | None = None,
    reference_images: Sequence[str] | None = None,
    brand_id: str | None = None,
    brand_identity_json: Mapping[str, Any] | None = None,
    aspect_ratio: str | None = None,
    resolution: str | None = None,
    thinking_intensity: str | None = None,
    client_reference_id: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Validate an image or campaign request and return Pi's request body."""
    if prompt is None:
        raise _fail("prompt", "is required")
    body: dict[str, Any] = {"prompt": _text(prompt, "prompt", max_chars=MAX_PROMPT_CHARS)}
    if reference_images is not None:
        images = _string_list(reference_images, "reference_images")
        if len(images) > MAX_REFERENCE_IMAGES:
            raise _fail("reference_images", f"must have at most {MAX_REFERENCE_IMAGES} images")
        for index, image in enumerate(images):
            _reference_image(image, f"reference_images[{index}]")
        body["reference_images"] = images
    if brand_id is not None:
        body["brand_id"] = validate_uuid(brand_id, "brand_id")
    if brand_identity_json is not None:
        if not isinstance(brand_identity_json, Mapping):
            raise _fail("brand_identity_json", "must be an object")
        body["brand_identity_json"] = dict(brand_identity_json)
    output: dict[str, str] = {}
    if aspect_ratio is not None:
        output["aspect_ratio"] = _choice(aspect_ratio, "aspect_ratio", ASPECT_RATIOS)
    if resolution is not None:
        output["resolution"] = _choice(resolution, "resolution", RESOLUTIONS)
    if thinking_intensity is not None:
        output["thinking_intensity"] = _choice(
            thinking_intensity, "thinking_intensity", THINKING_INTENSITIES
        )
    if output:
        body["output"] = output
    if client_reference_id is not None:
        body["client_reference_id"] = _text(
            client_reference_id, "client_reference_id", max_chars=MAX_CLIENT_REFERENCE_ID_CHARS
        )
    if metadata is not None:
        body["metadata"] = _metadata(metadata)
    return body
