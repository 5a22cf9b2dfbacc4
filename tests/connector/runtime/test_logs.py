"""Credentials never reach a log line."""

import json
import logging

import pytest

from connector.runtime.logs import JsonFormatter, RedactingFilter, redact


@pytest.mark.parametrize(
    "secret",
    [
        "Bearer abc.def-ghi_123",
        "pi_live_0123456789abcdef",
        "shpat_0123456789abcdef0123456789abcdef",
        "whsec_c2VjcmV0c2VjcmV0",
        "access_token=zzzzzzzz",
        "hmac=deadbeef",
        "/callback?code=abc123&shop=x",
    ],
)
def test_redact_removes_credentials(secret):
    cleaned = redact(f"calling with {secret} now")
    assert secret not in cleaned
    assert "[redacted]" in cleaned


def test_redact_keeps_error_codes():
    line = "pi error status=404 code=job_not_found"
    assert redact(line) == line


def test_filter_redacts_arguments_and_drops_tracebacks():
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "key %s", ("pi_test_abcdef123",), None
    )
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    RedactingFilter().filter(record)
    assert "pi_test_abcdef123" not in record.getMessage()
    assert record.exc_info is None


def test_json_formatter_emits_one_object_with_request_id():
    from connector.runtime.logs import request_id_var

    token = request_id_var.set("req_pic_1234abcd")
    try:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
        line = JsonFormatter().format(record)
    finally:
        request_id_var.reset(token)
    entry = json.loads(line)
    assert entry["message"] == "hello"
    assert entry["request_id"] == "req_pic_1234abcd"
