"""Check inputs against Pi's documented limits before anything is sent, and build request bodies."""

from __future__ import annotations

import contextlib
import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from connector.pi.exceptions import PiInputError

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

_DEFAULT_PORTS = {"http": 80, "https": 443}

# The regexes below are the rules themselves: the checks apply them first, and the OpenAPI
# document quotes their patterns. So they are written in the syntax Python's re and ECMA-262
# (JSON Schema's dialect) read alike: no named groups, inline flags or \Z, no \s or \d (each
# engine matches other characters) except in [\s\S], which is every character in both. Python's
# $ also matches before a final newline: a check applies an anchored regex with fullmatch, or
# to a trimmed value.


def _escaped(chars: Iterable[str]) -> str:
    """Return characters as \\uXXXX escapes (for a character class)."""
    return "".join(f"\\u{ord(c):04x}" for c in chars)


# The characters str.strip() removes (all in the Basic Multilingual Plane).
SPACE = _escaped(c for c in map(chr, range(0x10000)) if c.isspace())
# Characters urlsplit refuses in a host: their NFKC form holds a URL delimiter.
_NFKC_DELIMITERS = _escaped(
    c
    for c in map(chr, range(0x80, 0x10000))
    if not unicodedata.is_normalized("NFKC", c)
    and any(d in unicodedata.normalize("NFKC", c) for d in "/?#@:")
)
_PORT = "0*(?:[0-9]{0,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
# An authority urlsplit reads without error: optional credentials, a host of URL name
# characters or non-ASCII text (an internationalised name), an optional port up to 65535.
_AUTHORITY = (
    f"(?:[^/?#@\\[\\]{SPACE}{_NFKC_DELIMITERS}]*@)?"
    f"(?:[A-Za-z0-9._~!$&'()*+,;=%-]|[^\\u0000-\\u007f{SPACE}{_NFKC_DELIMITERS}])+"
    f"(?::{_PORT})?"
)
_BASE64 = f"[A-Za-z0-9+/_\\-{SPACE}]+={{0,2}}[{SPACE}]*"

UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
# Text with something in it besides whitespace.
VISIBLE_RE = re.compile(f"[^{SPACE}]")
# A brand URL once trimmed: http or https, an authority, then no whitespace.
HTTP_URL_RE = re.compile(f"^[hH][tT][tT][pP][sS]?://{_AUTHORITY}(?:[/?#][^{SPACE}]*)?$")
# A reference image both we and Pi take: an https URL, a data:image/ URL, or base64 text.
REFERENCE_IMAGE_RE = re.compile(
    f"^(?:https://{_AUTHORITY}(?:[/?#][\\s\\S]*)?[{SPACE}]*$|data:image/[\\s\\S]*,|{_BASE64}$)"
)
COUNTRY_RE = re.compile(r"^[A-Za-z]{2}$")
# A language tag: at least two characters once trimmed.
LANGUAGE_RE = re.compile(f"[^{SPACE}][\\s\\S]*[^{SPACE}]")


def _fail(field: str, message: str) -> PiInputError:
    """Return the error for one rejected field."""
    return PiInputError(field, message)


def validate_uuid(value: Any, field: str) -> str:
    """Return value if it is a UUID string; raise PiInputError naming the field otherwise."""
    if not isinstance(value, str) or not UUID_RE.fullmatch(value):
        raise _fail(field, "must be a UUID")
    return value


def _split_http_url(url: Any, field: str) -> SplitResult:
    """Return the parts of an http(s) URL with a host, or raise PiInputError."""
    if not isinstance(url, str) or not VISIBLE_RE.search(url):
        raise _fail(field, "must be a non-empty URL")
    url = url.strip()
    if len(url) > MAX_URL_CHARS:
        raise _fail(field, f"must be at most {MAX_URL_CHARS} characters")
    if not HTTP_URL_RE.match(url):
        raise _fail(field, _url_problem(url))
    return urlsplit(url)


def _url_problem(url: str) -> str:
    """Return why a trimmed URL fails HTTP_URL_RE, in words a user can act on."""
    if any(c.isspace() for c in url):
        return "must not contain whitespace"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port raises on garbage such as "host:abc"
    except ValueError:
        return "is not a valid URL"
    if parts.scheme.lower() not in _DEFAULT_PORTS:
        return "must be an http or https URL"
    if not parts.hostname:
        return "must include a host"
    return "is not a valid URL"


def _host(parts: SplitResult) -> str:
    """Return a hostname as Pi derives its brand domain: lower-case, no leading www."""
    host = (parts.hostname or "").lower().rstrip(".")
    # JavaScript's URL (used by Pi) reports internationalised hosts in punycode. An ASCII host
    # is its own punycode form (the codec only checks its labels' lengths): skip the codec.
    if not host.isascii():
        with contextlib.suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
    return host.removeprefix("www.")


# A submission asks for its URL's domain several times (dedupe key, ledger index, answer).
@functools.lru_cache(maxsize=1024)
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
    if not VISIBLE_RE.search(value):
        raise _fail(field, "must not be empty")
    if trim:
        value = value.strip()
    if len(value) > max_chars:
        raise _fail(field, f"must be at most {max_chars} characters")
    return value


def _string_list(value: Any, field: str) -> list[str]:
    """Return a list of strings, or raise PiInputError."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise _fail(field, "must be a list of strings")
    items = list(value)
    for index, item in enumerate(items):
        if not isinstance(item, str) or not VISIBLE_RE.search(item):
            raise _fail(f"{field}[{index}]", "must be a non-empty string")
    return items


def _location(value: Any) -> dict[str, Any]:
    """Return a location object Pi accepts, or raise PiInputError."""
    if not isinstance(value, Mapping):
        raise _fail("location", "must be an object with country and languages")
    country = value.get("country")
    if not isinstance(country, str) or not COUNTRY_RE.fullmatch(country):
        raise _fail("location.country", "must be a two-letter country code")
    languages = _string_list(value.get("languages", []), "location.languages")
    for index, language in enumerate(languages):
        if not LANGUAGE_RE.search(language):
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
        if not isinstance(logo_base64, str) or not VISIBLE_RE.search(logo_base64):
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
    """Accept an https URL, a data:image/ URL or base64 text; raise PiInputError otherwise."""
    if REFERENCE_IMAGE_RE.match(value):
        return
    lowered = value[:16].lower()
    if lowered.startswith("https://"):
        raise _fail(field, "is not a valid https:// URL with a host")
    if lowered.startswith("data:"):
        raise _fail(field, "is not a valid data:image/ URL")
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
