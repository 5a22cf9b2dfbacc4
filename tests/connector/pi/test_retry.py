"""Tests for the pure retry decisions and delays."""

from __future__ import annotations

import pytest
import requests
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from connector.pi.errors import PiTimeout
from connector.pi.retry import retry_delay, server_wait, should_retry


def refused() -> requests.exceptions.ConnectionError:
    """Return the error requests raises for a refused connection."""
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] refused")
    return requests.exceptions.ConnectionError(MaxRetryError(None, "/api/v1/x", reason=reason))


def dropped() -> requests.exceptions.ConnectionError:
    """Return the error requests raises when the server drops a sent request."""
    return requests.exceptions.ConnectionError(ProtocolError("Connection aborted."))


def decide(method="GET", *, attempt=0, max_retries=3, **kwargs) -> bool:
    return should_retry(method=method, attempt=attempt, max_retries=max_retries, **kwargs)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retries_get_on_transient_statuses(status):
    assert decide(status=status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 501])
def test_never_retries_get_on_client_errors(status):
    assert not decide(status=status)


@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.ReadTimeout(),
        requests.exceptions.ConnectTimeout(),
        refused(),
        dropped(),
        PiTimeout("deadline"),
    ],
)
def test_retries_get_on_connection_errors_and_timeouts(exc):
    assert decide(exc=exc)


def test_does_not_retry_tls_or_bad_url_errors():
    assert not decide(exc=requests.exceptions.SSLError())
    assert not decide(exc=requests.exceptions.InvalidURL())


def test_stops_after_max_retries():
    assert decide(status=503, attempt=2, max_retries=3)
    assert not decide(status=503, attempt=3, max_retries=3)
    assert not decide(status=503, attempt=0, max_retries=0)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_never_retries_post_without_idempotency_on_status(status):
    assert not decide("POST", status=status)


@pytest.mark.parametrize("exc", [requests.exceptions.ReadTimeout(), dropped()])
def test_never_retries_post_without_idempotency_once_sent(exc):
    assert not decide("POST", exc=exc)


@pytest.mark.parametrize("exc", [requests.exceptions.ConnectTimeout(), refused()])
def test_retries_post_on_connect_errors_before_sending(exc):
    assert decide("POST", exc=exc)


def test_retries_post_on_refused_connection_cause():
    exc = requests.exceptions.ConnectionError("refused")
    exc.__cause__ = ConnectionRefusedError(111, "Connection refused")
    assert decide("post", exc=exc)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retries_idempotent_post_on_transient_statuses(status):
    assert decide("POST", status=status, idempotent_post=True)


def test_retries_idempotent_post_on_read_timeout():
    assert decide("POST", exc=requests.exceptions.ReadTimeout(), idempotent_post=True)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
def test_never_retries_idempotent_post_on_client_errors(status):
    assert not decide("POST", status=status, idempotent_post=True)


def test_delay_uses_retry_after_first():
    headers = {"Retry-After": "3", "X-RateLimit-Reset": "1050"}
    assert retry_delay(0, headers=headers, now=1000.0) == 3.0


def test_delay_reads_headers_without_regard_to_case():
    assert retry_delay(0, headers={"retry-after": "4"}) == 4.0
    assert retry_delay(0, headers=CaseInsensitiveDict({"RETRY-AFTER": "5"})) == 5.0


def test_delay_accepts_an_http_date_retry_after():
    headers = {"Retry-After": "Thu, 01 Jan 1970 00:16:50 GMT"}  # epoch 1010
    assert retry_delay(0, headers=headers, now=1000.0) == pytest.approx(10.0)


def test_delay_falls_back_to_ratelimit_reset():
    assert retry_delay(0, headers={"X-RateLimit-Reset": "1006"}, now=1000.0) == 6.0


def test_delay_reads_a_millisecond_reset():
    now = 1_700_000_000.0
    headers = {"X-RateLimit-Reset": "1700000006000"}
    assert retry_delay(0, headers=headers, now=now) == 6.0


def test_delay_ignores_a_reset_in_the_past():
    delay = retry_delay(1, headers={"X-RateLimit-Reset": "900"}, now=1000.0, rand=lambda: 1.0)
    assert delay == 1.0


def test_delay_caps_server_waits_at_30_seconds_or_the_cap():
    assert retry_delay(0, headers={"Retry-After": "3600"}, cap=8.0) == 30.0
    assert retry_delay(0, headers={"Retry-After": "3600"}, cap=60.0) == 60.0


@pytest.mark.parametrize(
    ("attempt", "expected"), [(0, 0.5), (1, 1.0), (3, 4.0), (4, 8.0), (9, 8.0)]
)
def test_delay_backs_off_exponentially_up_to_the_cap(attempt, expected):
    assert retry_delay(attempt, base=0.5, cap=8.0, rand=lambda: 1.0) == expected


def test_delay_uses_full_jitter():
    assert retry_delay(3, base=0.5, cap=8.0, rand=lambda: 0.25) == 1.0
    assert retry_delay(3, base=0.5, cap=8.0, rand=lambda: 0.0) == 0.0


def test_delay_ignores_garbage_headers():
    headers = {"Retry-After": "soon", "X-RateLimit-Reset": "later"}
    assert retry_delay(0, headers=headers, rand=lambda: 1.0) == 0.5


def test_server_wait_is_none_without_headers():
    assert server_wait(None) is None
    assert server_wait({}) is None
