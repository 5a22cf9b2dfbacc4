"""The HTTP boundary's exception tree and the one JSON error shape every error uses."""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask, g, jsonify
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from connector.pi import (
    PiAuthenticationError,
    PiBadRequest,
    PiConnectionError,
    PiError,
    PiInputError,
    PiNotFound,
    PiPermissionError,
    PiRateLimited,
    PiTimeout,
)

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answered to the caller as `{"error": {"code", "message", "details"?}}`."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.status = status or self.status
        self.details = details
        self.headers = headers or {}


class BadRequest(ApiError):
    """The request is malformed or a field is invalid."""


class Unauthorized(ApiError):
    """The caller's key is missing or not accepted."""

    status, code = 401, "unauthorized"


class NotFound(ApiError):
    """The thing does not exist, or belongs to another account."""

    status, code = 404, "not_found"


class Conflict(ApiError):
    """The thing is busy, or cannot do what was asked in its current state."""

    status, code = 409, "conflict"


class IdempotencyMismatch(ApiError):
    """The same Idempotency-Key was sent with a different body."""

    status, code = 422, "idempotency_key_mismatch"


class RateLimited(ApiError):
    """The caller, or Pi upstream, asks us to slow down."""

    status, code = 429, "rate_limited"


class AccountLimited(RateLimited):
    """The account is over one of its own limits; `retry_after` says when to come back."""

    def __init__(self, message: str, *, code: str, retry_after: int) -> None:
        super().__init__(message, code=code, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class UpstreamError(ApiError):
    """Pi failed or could not be reached."""

    status, code = 502, "pi_unavailable"


class ServiceUnavailable(ApiError):
    """A dependency of ours (Redis) is down."""

    status, code = 503, "service_unavailable"


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
):
    """Build the one JSON error response shape."""
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    response = jsonify({"error": body})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def validation_message(messages: Any) -> str:
    """Summarise marshmallow messages into one sentence that names the fields."""
    if isinstance(messages, dict):
        parts = []
        for field, problem in messages.items():
            text = problem
            while isinstance(text, (list, dict)):
                text = next(iter(text.values() if isinstance(text, dict) else text), "")
            parts.append(f"{field}: {text}" if field != "_schema" else str(text))
        return "invalid input: " + "; ".join(parts)
    return f"invalid input: {messages}"


def pi_error_to_api(exc: PiError) -> ApiError:
    """Translate a Pi failure into what our caller should see."""
    if isinstance(exc, (PiAuthenticationError, PiPermissionError)):
        return Unauthorized("Pi rejected the API key", code="invalid_api_key")
    if isinstance(exc, PiRateLimited):
        seconds = max(1, int(round(exc.retry_after or 1)))
        return RateLimited(
            "Pi is rate limiting this account; retry later",
            code="pi_rate_limited",
            headers={"Retry-After": str(seconds)},
        )
    if isinstance(exc, PiNotFound):
        return NotFound("not found on Pi", code="not_found")
    if isinstance(exc, PiBadRequest):
        return BadRequest(f"Pi rejected the request: {exc.message}", code="pi_invalid_request")
    if isinstance(exc, PiTimeout):
        return UpstreamError("Pi did not answer in time", code="pi_timeout", status=504)
    if isinstance(exc, PiConnectionError):
        return UpstreamError("Pi could not be reached", code="pi_unreachable")
    return UpstreamError("Pi failed to handle the request", code="pi_error")


def init_app(app: Flask) -> None:
    """Make every error, ours or Flask's, answer in the one JSON shape."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.errorhandler(ValidationError)
    def _validation_error(exc: ValidationError):
        return error_response(400, "invalid_input", validation_message(exc.messages), exc.messages)

    @app.errorhandler(PiInputError)
    def _pi_input_error(exc: PiInputError):
        return error_response(
            400, "invalid_input", f"{exc.field}: {exc.message}", {exc.field: [exc.message]}
        )

    @app.errorhandler(PiError)
    def _pi_error(exc: PiError):
        api = pi_error_to_api(exc)
        return error_response(api.status, api.code, api.message, None, api.headers)

    @app.errorhandler(redis.exceptions.ConnectionError)
    @app.errorhandler(redis.exceptions.TimeoutError)
    def _redis_down(exc: Exception):
        log.error("redis unavailable: %s", type(exc).__name__)
        return error_response(
            503,
            "redis_unavailable",
            "the connector's store is unavailable; retry shortly",
            headers={"Retry-After": "5"},
        )

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        message = {
            404: "no such endpoint",
            405: "method not allowed on this endpoint",
            413: f"request body too large (limit {app.config['MAX_CONTENT_LENGTH']} bytes)",
        }.get(exc.code or 0, exc.description or exc.name)
        headers = {}
        if exc.code == 405 and exc.valid_methods:
            headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        return error_response(exc.code or 500, code, message, headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        # No traceback in the log either: it could carry request data or secrets.
        log.error(
            "unhandled error %s (request %s)", type(exc).__name__, getattr(g, "request_id", "-")
        )
        return error_response(500, "internal_error", "internal error; it has been logged")
