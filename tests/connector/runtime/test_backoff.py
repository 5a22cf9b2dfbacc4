"""The shared Retry-After parser and the one jittered delay, per caller policy."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace

import pytest
from requests.structures import CaseInsensitiveDict

from connector.runtime.backoff import (
    DELIVERY_BACKOFF,
    PI_BACKOFF,
    SHOPIFY_BACKOFF,
    backoff_delay,
    header_value,
    parse_retry_after,
    seconds_until,
)

RANDS = (0.0, 0.25, 0.5, 1.0)


def fixed(value: float):
    """Return a rand() that always answers value."""
    return lambda: value


# --- Retry-After ----------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "seconds"), [("7", 7.0), (" 3 ", 3.0), ("0", 0.0), ("0.5", 0.5)])
def test_parses_seconds(value, seconds):
    assert parse_retry_after(value) == seconds


def test_parses_an_http_date_relative_to_now():
    assert parse_retry_after("Thu, 01 Jan 1970 00:16:50 GMT", now=1000.0) == pytest.approx(10.0)


def test_reads_an_http_date_without_a_zone_as_gmt():
    assert parse_retry_after("Thu, 01 Jan 1970 00:16:50 -0000", now=1000.0) == pytest.approx(10.0)


def test_an_http_date_in_the_past_means_no_wait_never_a_negative_one():
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now=1000.0) == 0.0


@pytest.mark.parametrize("value", ["-1", "-0.5", "soon", "", "   ", "nan", "inf", "1 2", None])
def test_negative_garbage_or_absent_values_are_none(value):
    assert parse_retry_after(value) is None


def test_header_value_ignores_case_on_plain_dicts():
    assert header_value({"retry-after": "4"}, "Retry-After") == "4"
    assert header_value(CaseInsensitiveDict({"RETRY-AFTER": "5"}), "Retry-After") == "5"
    assert header_value({}, "Retry-After") is None
    assert header_value(None, "Retry-After") is None


def test_seconds_until_is_never_negative():
    assert seconds_until(1006.0, now=1000.0) == 6.0
    assert seconds_until(900.0, now=1000.0) == 0.0


# --- Pi: full jitter, 0-based -------------------------------------------------------------


@pytest.mark.parametrize("attempt", range(8))
@pytest.mark.parametrize("rand", RANDS)
def test_pi_delay_is_full_jitter_of_a_capped_doubling(attempt, rand):
    expected = rand * min(8.0, 0.5 * 2**attempt)
    assert backoff_delay(PI_BACKOFF, attempt, rand=fixed(rand)) == expected


def test_pi_honours_a_server_wait_up_to_30_seconds_or_its_cap():
    assert backoff_delay(PI_BACKOFF, 0, server_wait=12.0) == 12.0
    assert backoff_delay(PI_BACKOFF, 0, server_wait=3600.0) == 30.0
    assert backoff_delay(replace(PI_BACKOFF, cap=60.0), 0, server_wait=3600.0) == 60.0


def test_pi_treats_a_zero_server_wait_as_no_advice():
    assert backoff_delay(PI_BACKOFF, 1, server_wait=0.0, rand=fixed(1.0)) == 1.0


# --- deliveries: equal jitter, 1-based ----------------------------------------------------


@pytest.mark.parametrize("attempt", range(1, 12))
@pytest.mark.parametrize("rand", RANDS)
def test_delivery_delay_is_equal_jitter_of_a_capped_doubling(attempt, rand):
    ceiling = min(600.0, 2.0 * 2 ** (attempt - 1))
    expected = ceiling / 2 + rand * ceiling / 2
    assert backoff_delay(DELIVERY_BACKOFF, attempt, rand=fixed(rand)) == expected


def test_a_delivery_first_retry_comes_within_seconds():
    assert 1.0 <= backoff_delay(DELIVERY_BACKOFF, 1) <= 2.0


def test_delivery_honours_a_server_wait_up_to_its_cap():
    assert backoff_delay(DELIVERY_BACKOFF, 1, server_wait=42.0) == 42.0
    assert backoff_delay(DELIVERY_BACKOFF, 1, server_wait=86400.0) == 600.0
    assert backoff_delay(DELIVERY_BACKOFF, 1, server_wait=0.0, rand=fixed(0.0)) == 1.0


# --- Shopify: added jitter, 1-based -------------------------------------------------------


@pytest.mark.parametrize("attempt", range(0, 10))
@pytest.mark.parametrize("rand", RANDS)
def test_shopify_delay_adds_jitter_to_a_doubling_then_caps(attempt, rand):
    expected = min(10.0, 0.5 * 2 ** max(0, attempt - 1) * (1 + rand))
    assert backoff_delay(SHOPIFY_BACKOFF, attempt, rand=fixed(rand)) == expected


def test_shopify_honours_a_server_wait_including_zero_up_to_its_cap():
    assert backoff_delay(SHOPIFY_BACKOFF, 3, server_wait=2.0) == 2.0
    assert backoff_delay(SHOPIFY_BACKOFF, 3, server_wait=0.0) == 0.0
    assert backoff_delay(SHOPIFY_BACKOFF, 3, server_wait=600.0) == 10.0


# --- every policy -------------------------------------------------------------------------


@pytest.mark.parametrize("policy", [PI_BACKOFF, DELIVERY_BACKOFF, SHOPIFY_BACKOFF])
def test_a_negative_server_wait_is_ignored(policy):
    with_garbage = backoff_delay(policy, 2, server_wait=-5.0, rand=fixed(0.5))
    assert with_garbage == backoff_delay(policy, 2, rand=fixed(0.5))


@pytest.mark.parametrize("policy", [PI_BACKOFF, DELIVERY_BACKOFF, SHOPIFY_BACKOFF])
def test_delays_stay_within_the_cap_even_after_many_attempts(policy):
    assert 0 <= backoff_delay(policy, 10_000, rand=fixed(1.0)) <= policy.cap


def test_policies_are_constants():
    with pytest.raises(FrozenInstanceError):
        PI_BACKOFF.cap = 1.0  # type: ignore[misc]
