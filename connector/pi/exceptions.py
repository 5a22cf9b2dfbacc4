"""One exception tree for everything that can go wrong talking to Pi."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any, Protocol

from connector.pi.wait_headers import server_wait

log = logging.getLogger("connector.pi")

# A server or proxy could echo a credential back; it must never reach a message or a log line.
_BEARER_RE = re.compile(r"(?i)\bbearer\s+\S+")
_MAX_MESSAGE_CHARS = 500


def _scrub(text: str) -> str:
    """Return text with bearer credentials removed and its length capped."""
    text = _BEARER_RE.sub("Bearer [redacted]", text)
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[: _MAX_MESSAGE_CHARS - 1] + "…"


class PiError(Exception):
    """Base of every failure reported by the Pi client."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        type: str | None = None,  # mirrors the field name in Pi's error envelope
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = _scrub(str(message))
        self.status = status
        self.code = code
        self.type = type
        self.request_id = request_id
        self.retry_after = retry_after
        super().__init__(self.message)

    def __str__(self) -> str:
        details = [
            f"{name}={value}"
            for name, value in (
                ("status", self.status),
                ("code", self.code),
                ("request_id", self.request_id),
            )
            if value is not None
        ]
        return f"{self.message} ({', '.join(details)})" if details else self.message

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(message={self.message!r}, status={self.status!r}, "
            f"code={self.code!r}, request_id={self.request_id!r})"
        )


class PiConnectionError(PiError):
    """Pi could not be reached or the connection broke; no HTTP answer was read."""


class PiTimeout(PiConnectionError):
    """Pi did not answer in time, or the caller's deadline ran out."""


class PiAPIError(PiError):
    """Pi answered with an error envelope."""

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        body: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.param = param
        # The full error object, so callers can read fields Pi adds later (e.g. `issues`).
        self.body = body or {}


class PiBadRequest(PiAPIError):
    """Pi rejected the request as malformed (400)."""


class PiAuthenticationError(PiAPIError):
    """Pi did not accept the API key (401)."""


class PiPermissionError(PiAPIError):
    """The API key may not do this (403)."""


class PiNotFound(PiAPIError):
    """The job or brand does not exist for this key (404)."""


class PiConflict(PiAPIError):
    """The Idempotency-Key was reused with a different body (409)."""


class PiRateLimited(PiAPIError):
    """Pi is rate limiting this key (429)."""


class PiServerError(PiAPIError):
    """Pi failed (5xx) or answered with a status the client does not expect."""


class PiResponse(Protocol):
    """What map_error reads from an answer: a requests.Response or the lean path's own."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def reason(self) -> str | None: ...

    @property
    def content(self) -> bytes: ...

    @property
    def request(self) -> Any: ...


class FailedJob(Protocol):
    """What PiJobFailed reads from a results.Job, described here so errors imports no client."""

    @property
    def job_id(self) -> str: ...

    @property
    def payload(self) -> dict[str, Any]: ...

    @property
    def error_log(self) -> str | None: ...

    @property
    def request_id(self) -> str | None: ...


class PiJobFailed(PiError):
    """A Pi job ended in the `failed` state."""

    def __init__(self, job: FailedJob) -> None:
        self.job = job
        self.job_id = job.job_id
        code = job.payload.get("failure_code") if isinstance(job.payload, dict) else None
        super().__init__(
            job.error_log or "Pi job failed",
            code=code if isinstance(code, str) else "job_failed",
            request_id=job.request_id,
        )

    def __str__(self) -> str:
        return f"job {self.job_id} failed: {super().__str__()}"

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild from the job so the error survives pickling (e.g. crossing a process boundary).
        return (self.__class__, (self.job,))


class PiInputError(ValueError):
    """Input was rejected before any request was sent to Pi."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.field, self.message))


_STATUS_CLASSES: dict[int, type[PiAPIError]] = {
    400: PiBadRequest,
    401: PiAuthenticationError,
    403: PiPermissionError,
    404: PiNotFound,
    409: PiConflict,
    429: PiRateLimited,
}


def _error_object(response: PiResponse) -> dict[str, Any]:
    """Return the `error` object of a response, or {} when the body is not an envelope."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _opt_str(value: Any) -> str | None:
    """Return value if it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def map_error(response: PiResponse) -> PiAPIError:
    """Build the exception for an error response and log it with its request id."""
    status = response.status_code
    error = _error_object(response)
    request_id = response.headers.get("X-Request-Id") or _opt_str(error.get("request_id"))
    message = _opt_str(error.get("message")) or f"Pi answered HTTP {status} {response.reason or ''}"
    cls = _STATUS_CLASSES.get(status, PiServerError)
    exc = cls(
        message.strip(),
        status=status,
        code=_opt_str(error.get("code")),
        type=_opt_str(error.get("type")),
        request_id=request_id,
        retry_after=server_wait(response.headers) if status == 429 else None,
        param=_opt_str(error.get("param")),
        body=error,
    )
    request = response.request
    log.warning(
        "pi error status=%s code=%s request_id=%s %s %s",
        status,
        exc.code,
        request_id,
        getattr(request, "method", "-"),
        getattr(request, "path_url", "-"),
    )
    return exc
