"""Read Pi job envelopes: status, the result per job type, and a safe error message."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.pi.exceptions import PiJobFailed, PiServerError

KIND_TO_PI_TYPE: dict[str, str] = {
    "brand_extraction": "brand_extraction",
    "image_generation": "ad_generation",
    "campaign_render": "campaign_ad_generation",
}
PI_TYPE_TO_KIND: dict[str, str] = {v: k for k, v in KIND_TO_PI_TYPE.items()}
TERMINAL_STATUSES = frozenset({"completed", "failed"})

_BRAND_RESULT_RE = re.compile(r"^brands/([0-9a-fA-F-]{36})$")
_MAX_ERROR_CHARS = 300
# The first line of a JS or Python stack: everything from here on is for developers only.
_STACK_START_RE = re.compile(
    r"^[ \t]+at\s"  # "    at fn (/app/x.js:1:2)"
    r"|^at\s+\S.*:\d+(?::\d+)?\)?\s*$"  # an unindented frame
    r"|Traceback \(most recent call last\)"
    r"|^\s*File \""
    # A frame inlined on the message line: "boom at fn (/app/x.js:1:2)".
    r"|\s+at\s+(?:async\s+)?(?:\S+\s+)?\(?(?:file://|node:|/|[A-Za-z]:\\)\S*:\d+",
    re.MULTILINE,
)
# Absolute paths (POSIX, file:// and Windows) tell end users nothing and leak the deploy layout;
# the look-behind leaves URL paths such as https://host/a/b alone.
_PATH_RE = re.compile(
    r"(?:file://)?(?<![\w.:/~-])/(?:[\w.@+-]+/)+[\w.@+-]*(?::\d+)*"
    r"|\b[A-Za-z]:\\(?:[^\s\\'\"()]+\\)*[^\s\\'\"()]*"
)
_EMPTY_QUOTES_RE = re.compile(r"""\(\s*\)|''|"\"""")
_SPACE_RE = re.compile(r"\s+")


def sanitize_error_log(text: Any) -> str | None:
    """Return the human message of a Pi error_log, without stack, paths or extra whitespace."""
    if text is None:
        return None
    text = str(text)
    match = _STACK_START_RE.search(text)
    if match:
        head = text[: match.start()]
        if not head.strip():
            # Python puts the message after the frames: keep the last line if it is not a frame.
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            last = lines[-1] if lines else ""
            head = "" if _STACK_START_RE.search(last) else last
        text = head
    text = _PATH_RE.sub("", text)
    text = _EMPTY_QUOTES_RE.sub("", text)
    text = _SPACE_RE.sub(" ", text).strip(" :,;-")
    if not text:
        return None
    if len(text) > _MAX_ERROR_CHARS:
        text = text[: _MAX_ERROR_CHARS - 1].rstrip() + "…"
    return text


def _dict(value: Any) -> dict[str, Any]:
    """Return value if it is a dict, else an empty one."""
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    """Return value if it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def resolve_brand_id(data: dict[str, Any]) -> str | None:
    """Return the brand id a job produced: job_result, else payload.brand_id, else result_url."""
    job_result = _dict(data.get("job_result"))
    if job_result.get("type") == "brand" and _str(job_result.get("id")):
        return job_result["id"]
    brand_id = _str(_dict(data.get("payload")).get("brand_id"))
    if brand_id:
        return brand_id
    result_url = data.get("result_url")
    if isinstance(result_url, str):
        match = _BRAND_RESULT_RE.match(result_url)
        if match:
            return match.group(1)
    return None


def resolve_image_url(data: dict[str, Any]) -> str | None:
    """Return the image a job produced: payload, job_result, expanded ad, else result_url."""
    url = (
        _str(_dict(data.get("payload")).get("image_url"))
        or _str(_dict(data.get("job_result")).get("image_url"))
        or _str(_dict(data.get("ad")).get("image_url"))
    )
    if url:
        return url
    result_url = data.get("result_url")
    # Campaign jobs put the image URL itself in result_url; brand and avatar ones a relative path.
    if isinstance(result_url, str) and result_url.startswith(("https://", "http://")):
        return result_url
    return None


def resolve_brand(data: dict[str, Any]) -> dict[str, Any] | None:
    """Return the expanded brand row when the job was read with expand=brand."""
    brand = _dict(data.get("expanded")).get("brand") or _dict(data.get("job_result")).get("brand")
    return brand if isinstance(brand, dict) else None


def _epoch(value: Any) -> int:
    """Return epoch seconds from Pi's integer timestamps (ISO strings tolerated)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value:
        try:
            return int(float(value))
        except ValueError:
            pass
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
        except ValueError:
            pass
    return 0


@dataclass(frozen=True, slots=True)
class Job:
    """A Pi job as read from GET /jobs/<id>, with its result resolved."""

    job_id: str
    type: str
    status: str
    payload: dict[str, Any]
    result_url: str | None
    error_log: str | None
    created_at: int
    updated_at: int
    brand_id: str | None
    image_url: str | None
    brand: dict[str, Any] | None
    request_id: str | None
    phase: str | None

    @classmethod
    def from_response(cls, envelope: dict[str, Any], request_id: str | None) -> Job:
        """Build a Job from a success envelope; the status is data.status, never the envelope's."""
        data = envelope.get("data") if isinstance(envelope, dict) else None
        if not isinstance(data, dict) or not _str(data.get("id")):
            raise PiServerError(
                "Pi sent a job response without data.id",
                code="invalid_response",
                request_id=request_id,
            )
        payload = _dict(data.get("payload"))
        error_log = data.get("error_log")
        result_url = data.get("result_url")
        return cls(
            job_id=data["id"],
            type=str(data.get("type") or ""),
            status=str(data.get("status") or ""),
            payload=payload,
            result_url=result_url if isinstance(result_url, str) else None,
            error_log=None if error_log is None else sanitize_error_log(error_log),
            created_at=_epoch(data.get("created_at")),
            updated_at=_epoch(data.get("updated_at")),
            brand_id=resolve_brand_id(data),
            image_url=resolve_image_url(data),
            brand=resolve_brand(data),
            request_id=request_id,
            phase=_str(payload.get("phase")),
        )

    @property
    def kind(self) -> str | None:
        """Return the connector's job kind for this Pi type, or None for other types."""
        return PI_TYPE_TO_KIND.get(self.type)

    @property
    def is_terminal(self) -> bool:
        """Tell whether the job has finished, successfully or not."""
        return self.status in TERMINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        """Tell whether the job completed."""
        return self.status == "completed"

    @property
    def failed(self) -> bool:
        """Tell whether the job failed."""
        return self.status == "failed"

    def raise_if_failed(self) -> Job:
        """Raise PiJobFailed if the job failed; return the job otherwise."""
        if self.status == "failed":
            raise PiJobFailed(self)
        return self


@dataclass(frozen=True, slots=True)
class BrandPage:
    """One page of GET /brands."""

    brands: list[dict[str, Any]]
    total_count: int
    has_more: bool

    @classmethod
    def from_response(cls, envelope: dict[str, Any]) -> BrandPage:
        """Build a page from a list envelope, tolerating a bare list in data."""
        data = envelope.get("data") if isinstance(envelope, dict) else None
        if isinstance(data, list):
            return cls(brands=data, total_count=len(data), has_more=False)
        data = _dict(data)
        brands = data.get("data")
        brands = [b for b in brands if isinstance(b, dict)] if isinstance(brands, list) else []
        total = data.get("total_count")
        return cls(
            brands=brands,
            total_count=total if isinstance(total, int) else len(brands),
            has_more=bool(data.get("has_more")),
        )
