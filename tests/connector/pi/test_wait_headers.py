"""Tests for Pi's server waits and the delays the client takes from them."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import replace

import pytest
from requests.structures import CaseInsensitiveDict

from connector.pi.wait_headers import server_wait
from connector.runtime.backoff import PI_BACKOFF, backoff_delay


def delay(
    attempt: int,
    *,
    headers: Mapping[str, str] | None = None,
    now: float | None = None,
    base: float = PI_BACKOFF.base,
    cap: float = PI_BACKOFF.cap,
    rand: Callable[[], float] = random.random,
) -> float:
    """Return the wait the client takes before Pi retry `attempt`, as its transport computes it."""
    policy = replace(PI_BACKOFF, base=base, cap=cap)
    return backoff_delay(policy, attempt, server_wait=server_wait(headers, now), rand=rand)


def test_delay_uses_retry_after_first():
    headers = {"Retry-After": "3", "X-RateLimit-Reset": "1050"}
    assert delay(0, headers=headers, now=1000.0) == 3.0


def test_delay_reads_headers_without_regard_to_case():
    assert delay(0, headers={"retry-after": "4"}) == 4.0
    assert delay(0, headers=CaseInsensitiveDict({"RETRY-AFTER": "5"})) == 5.0


def test_delay_accepts_an_http_date_retry_after():
    headers = {"Retry-After": "Thu, 01 Jan 1970 00:16:50 GMT"}  # epoch 1010
    assert delay(0, headers=headers, now=1000.0) == pytest.approx(10.0)


def test_delay_falls_back_to_ratelimit_reset():
    assert delay(0, headers={"X-RateLimit-Reset": "1006"}, now=1000.0) == 6.0


def test_delay_reads_a_millisecond_reset():
    now = 1_700_000_000.0
    headers = {"X-RateLimit-Reset": "1700000006000"}
    assert delay(0, headers=headers, now=now) == 6.0


def test_delay_ignores_a_reset_in_the_past():
    waited = delay(1, headers={"X-RateLimit-Reset": "900"}, now=1000.0, rand=lambda: 1.0)
    assert waited == 1.0


def test_delay_caps_server_waits_at_30_seconds_or_the_cap():
    assert delay(0, headers={"Retry-After": "3600"}, cap=8.0) == 30.0
    assert delay(0, headers={"Retry-After": "3600"}, cap=60.0) == 60.0


@pytest.mark.parametrize(
    ("attempt", "expected"), [(0, 0.5), (1, 1.0), (3, 4.0), (4, 8.0), (9, 8.0)]
)
def test_delay_backs_off_exponentially_up_to_the_cap(attempt, expected):
    assert delay(attempt, base=0.5, cap=8.0, rand=lambda: 1.0) == expected


def test_delay_uses_full_jitter():
    assert delay(3, base=0.5, cap=8.0, rand=lambda: 0.25) == 1.0
    assert delay(3, base=0.5, cap=8.0, rand=lambda: 0.0) == 0.0


def test_delay_ignores_garbage_headers():
    headers = {"Retry-After": "soon", "X-RateLimit-Reset": "later"}
    assert delay(0, headers=headers, rand=lambda: 1.0) == 0.5


def test_server_wait_is_none_without_headers():
    assert server_wait(None) is None
    assert server_wait({}) is None


def test_server_wait_prefers_retry_after_to_the_reset():
    headers = {"Retry-After": "3", "X-RateLimit-Reset": "1050"}
    assert server_wait(headers, now=1000.0) == 3.0


def test_server_wait_falls_back_to_the_reset_when_retry_after_is_unreadable():
    headers = {"Retry-After": "soon", "X-RateLimit-Reset": "1004"}
    assert server_wait(headers, now=1000.0) == 4.0
    assert server_wait({"X-RateLimit-Reset": "later"}, now=1000.0) is None
