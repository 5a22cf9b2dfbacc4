"""Tests for the pure retry decisions."""

from __future__ import annotations

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from connector.pi.exceptions import PiTimeout
from connector.pi.retry import should_retry


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


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_retries_idempotent_post_on_transient_statuses(status):
    assert decide("POST", status=status, idempotent_post=True)


def test_never_retries_idempotent_post_on_429():
    # The caller's per-account cooldown waits instead, without holding a shared create slot.
    assert not decide("POST", status=429, idempotent_post=True)


def test_retries_idempotent_post_on_read_timeout():
    assert decide("POST", exc=requests.exceptions.ReadTimeout(), idempotent_post=True)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
def test_never_retries_idempotent_post_on_client_errors(status):
    assert not decide("POST", status=status, idempotent_post=True)
