"""Pi's response envelopes, error bodies and request ids."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

# Pi's error `type` per HTTP status; anything 5xx is an api_error.
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    429: "rate_limit_error",
}

MESSAGES: dict[str, str] = {
    "missing_authorization_header": "Missing Authorization header.",
    "invalid_authorization_scheme": "Authorization header must use the Bearer scheme.",
    "missing_bearer_token": "Missing bearer token.",
    "unkey_not_found": "API key not found.",
    "unkey_rate_limited": "Rate limit exceeded. Retry after the reset time.",
    "invalid_json_body": "Request body must be valid JSON.",
    "invalid_request_body": "Invalid request body.",
    "invalid_job_id": "Job id must be a valid UUID.",
    # Every query-parse failure of GET /jobs/:id reads like this, whatever the parameter was.
    "invalid_expand_param": "Invalid expand parameter. Supported values: brand, avatar, ad, "
    "diagnostics.",
    "invalid_brand_id": "Brand id must be a valid UUID.",
    "invalid_query_params": "Invalid query parameters.",
    "job_not_found": "Job not found.",
    "brand_not_found": "Brand not found.",
    "idempotency_key_mismatch": "Idempotency-Key was already used with a different request body.",
    "job_trigger_failed": "Failed to trigger the background job.",
    "route_not_found": "No API route matches this path.",
    "method_not_allowed": "Method not allowed on this route.",
}


@dataclass
class Reply:
    """One HTTP answer: status, JSON body and extra headers, or a dropped connection."""

    status: int
    body: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)
    # The X-Request-Id header; None means "generate one" (replays keep the old body id).
    request_id: str | None = None
    drop: bool = False


def new_request_id() -> str:
    """Return a fresh Pi request id."""
    return f"req_pi_{uuid.uuid4()}"


def success(obj: str, data: Any, *, status: int = 200) -> Reply:
    """Return a success envelope; its top-level status is always "completed", as on Pi."""
    request_id = new_request_id()
    body = {
        "id": request_id,
        "object": obj,
        "status": "completed",
        "created_at": int(time.time()),
        "data": data,
    }
    return Reply(status, body, request_id=request_id)


def accepted(job_id: str) -> Reply:
    """Return the 202 envelope of an async create."""
    request_id = new_request_id()
    body = {
        "id": request_id,
        "object": "job",
        "status": "queued",
        "created_at": int(time.time()),
        "data": {"job_id": job_id},
    }
    return Reply(202, body, request_id=request_id)


def error(
    status: int,
    code: str,
    message: str | None = None,
    *,
    type: str | None = None,  # mirrors the field name in Pi's envelope
    param: str | None = None,
    issues: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """Return Pi's error envelope with a request id matching the header."""
    request_id = new_request_id()
    err: dict[str, Any] = {
        "type": type or ERROR_TYPES.get(status, "api_error"),
        "code": code,
        "message": message or MESSAGES.get(code, code.replace("_", " ").capitalize() + "."),
        "request_id": request_id,
    }
    if param is not None:
        err["param"] = param
    if issues is not None:
        err["issues"] = issues
    return Reply(status, {"error": err}, headers=dict(headers or {}), request_id=request_id)


def server_error(status: int, route: str) -> Reply:
    """Return an injected 5xx with the code Pi uses on that route."""
    if route.startswith("POST") and status == 502:
        return error(502, "job_trigger_failed")
    if status == 500:
        code = {
            "GET /api/v1/jobs/:id": "job_lookup_failed",
            "GET /api/v1/brands": "brands_list_failed",
            "GET /api/v1/brands/:id": "brand_lookup_failed",
        }.get(route, "job_create_failed" if route.startswith("POST") else "internal_error")
        return error(500, code, "Internal server error.")
    names = {502: "bad_gateway", 503: "service_unavailable", 504: "gateway_timeout"}
    code = names.get(status, f"http_{status}")
    return error(status, code, f"Upstream error ({status}).")
