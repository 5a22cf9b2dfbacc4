"""Tests for mapping Pi error responses to the exception tree."""

from __future__ import annotations

import json
import logging

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from connector.pi import exceptions as errors
from connector.pi.exceptions import (
    PiAPIError,
    PiAuthenticationError,
    PiBadRequest,
    PiConflict,
    PiConnectionError,
    PiError,
    PiInputError,
    PiJobFailed,
    PiNotFound,
    PiPermissionError,
    PiRateLimited,
    PiServerError,
    PiTimeout,
    map_error,
)
from connector.pi.results import Job

API_KEY = "sk_live_secret_key_123"
REQUEST_ID = "req_pi_0d1c7f3e-1b2a-4c5d-8e9f-a0b1c2d3e4f5"


def make_response(
    status: int, body: object = None, headers: dict | None = None, raw: bytes | None = None
) -> requests.Response:
    """Build a requests.Response as the transport would hand it over."""
    response = requests.Response()
    response.status_code = status
    response.reason = "Reason"
    response.headers = CaseInsensitiveDict(headers or {})
    response._content = raw if raw is not None else json.dumps(body).encode()
    request = requests.Request("GET", "http://pi.test/api/v1/jobs/x").prepare()
    response.request = request
    return response


def envelope(status_type: str, code: str, message: str = "boom", **extra) -> dict:
    """Return a Pi error envelope."""
    return {
        "error": {
            "type": status_type,
            "code": code,
            "message": message,
            "request_id": REQUEST_ID,
            **extra,
        }
    }


@pytest.mark.parametrize(
    ("status", "type_", "code", "cls"),
    [
        (400, "invalid_request_error", "invalid_request_body", PiBadRequest),
        (400, "invalid_request_error", "invalid_expand_param", PiBadRequest),
        (401, "invalid_request_error", "missing_authorization_header", PiAuthenticationError),
        (401, "authentication_error", "unkey_not_found", PiAuthenticationError),
        (403, "permission_error", "unkey_disabled", PiPermissionError),
        (403, "permission_error", "missing_organization_context", PiPermissionError),
        (404, "invalid_request_error", "job_not_found", PiNotFound),
        (404, "invalid_request_error", "brand_not_found", PiNotFound),
        (409, "invalid_request_error", "idempotency_key_mismatch", PiConflict),
        (429, "rate_limit_error", "unkey_rate_limited", PiRateLimited),
        (500, "api_error", "job_lookup_failed", PiServerError),
        (502, "api_error", "job_trigger_failed", PiServerError),
        (503, "api_error", "unavailable", PiServerError),
        (418, "api_error", "teapot", PiServerError),
    ],
)
def test_maps_each_status_and_code_to_its_exception(status, type_, code, cls):
    exc = map_error(make_response(status, envelope(type_, code), {"X-Request-Id": REQUEST_ID}))
    assert type(exc) is cls
    assert isinstance(exc, PiAPIError)
    assert (exc.status, exc.code, exc.type, exc.message) == (status, code, type_, "boom")
    assert exc.request_id == REQUEST_ID


def test_tolerates_extra_error_fields_and_keeps_them():
    issues = [{"path": ["prompt"], "message": "Required"}]
    body = envelope("invalid_request_error", "invalid_request_body", param="prompt", issues=issues)
    exc = map_error(make_response(400, body))
    assert exc.param == "prompt"
    assert exc.body["issues"] == issues


def test_falls_back_to_body_request_id_without_header():
    exc = map_error(make_response(404, envelope("invalid_request_error", "job_not_found")))
    assert exc.request_id == REQUEST_ID


@pytest.mark.parametrize(
    "raw", [b"<html>Bad gateway</html>", b"", b'"just a string"', b'{"error": "flat"}']
)
def test_tolerates_bodies_that_are_not_error_envelopes(raw):
    exc = map_error(make_response(502, raw=raw, headers={"X-Request-Id": REQUEST_ID}))
    assert type(exc) is PiServerError
    assert exc.status == 502
    assert exc.code is None
    assert "502" in exc.message
    assert exc.request_id == REQUEST_ID


def test_rate_limited_reads_retry_after():
    response = make_response(
        429, envelope("rate_limit_error", "unkey_rate_limited"), {"Retry-After": "7"}
    )
    assert map_error(response).retry_after == 7.0


def test_rate_limited_falls_back_to_ratelimit_reset(monkeypatch):
    monkeypatch.setattr("connector.pi.wait_headers.time.time", lambda: 1_000.0)
    response = make_response(
        429, envelope("rate_limit_error", "unkey_rate_limited"), {"X-RateLimit-Reset": "1012"}
    )
    assert map_error(response).retry_after == 12.0


def test_other_errors_have_no_retry_after():
    response = make_response(500, envelope("api_error", "x"), {"X-RateLimit-Reset": "99999999999"})
    assert map_error(response).retry_after is None


def test_logs_every_error_at_warning_with_request_id(caplog):
    with caplog.at_level(logging.WARNING, logger="connector.pi"):
        map_error(
            make_response(
                404, envelope("invalid_request_error", "job_not_found"), {"X-Request-Id": "req_x"}
            )
        )
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.name == "connector.pi"
    assert "req_x" in record.getMessage()
    assert "job_not_found" in record.getMessage()


def test_str_names_code_and_request_id():
    exc = map_error(make_response(404, envelope("invalid_request_error", "job_not_found")))
    assert "job_not_found" in str(exc)
    assert REQUEST_ID in str(exc)
    assert "PiNotFound" in repr(exc)


def test_never_shows_the_api_key_even_when_echoed():
    body = envelope("authentication_error", "unkey_not_found", f"bad key Bearer {API_KEY}")
    exc = map_error(make_response(401, body))
    for text in (str(exc), repr(exc), exc.message):
        assert API_KEY not in text


def test_tree_keeps_transport_errors_apart():
    assert issubclass(PiTimeout, PiConnectionError)
    assert issubclass(PiConnectionError, PiError)
    assert not issubclass(PiConnectionError, PiAPIError)
    assert issubclass(PiJobFailed, PiError)
    assert not issubclass(PiJobFailed, PiAPIError)
    assert PiConnectionError("down").status is None


def test_input_error_is_a_value_error_naming_the_field():
    exc = PiInputError("prompt", "is required")
    assert isinstance(exc, ValueError)
    assert not isinstance(exc, PiError)
    assert (exc.field, exc.message) == ("prompt", "is required")
    assert str(exc) == "prompt: is required"


def test_job_failed_carries_job_and_sanitized_message():
    job = Job.from_response(
        {
            "data": {
                "id": "J",
                "type": "brand_extraction",
                "status": "failed",
                "payload": {"phase": "failed"},
                "error_log": "Error: site unreachable\n    at run (/app/src/jobs/x.ts:1:2)",
            }
        },
        "req_1",
    )
    exc = PiJobFailed(job)
    assert (exc.job_id, exc.job, exc.message) == ("J", job, "Error: site unreachable")
    assert exc.code == "job_failed"
    assert exc.request_id == "req_1"
    assert "/app/src" not in str(exc)
    assert "J" in str(exc)


def test_messages_are_capped():
    exc = PiServerError("x" * 5000)
    assert len(exc.message) <= errors._MAX_MESSAGE_CHARS


def test_errors_survive_pickling():
    import pickle

    job = Job.from_response({"data": {"id": "J", "status": "failed", "error_log": "x"}}, "r")
    for exc in (
        PiJobFailed(job),
        PiInputError("prompt", "is required"),
        PiNotFound("gone", status=404, code="job_not_found", request_id="r"),
    ):
        copy = pickle.loads(pickle.dumps(exc))
        assert type(copy) is type(exc)
        assert str(copy) == str(exc)
