"""Per-account limits: the pure decisions, then the Lua limiter on a private Redis."""

from __future__ import annotations

import time
import uuid

import pytest

from connector.errors import AccountLimited
from connector.jobs.account_limits import (
    IN_FLIGHT_RETRY_SECONDS,
    PI_COOLDOWN_CAP,
    PI_COOLDOWN_DEFAULT,
    Refusal,
    get_account_limits,
    pi_cooldown_seconds,
    remaining_hold,
    retry_after,
    spread_delay,
)
from connector.ledger import JobRecord, JobStatus, get_ledger
from connector.pi import PiRateLimited
from tests.support.settings import replace_settings

A, B = "a" * 32, "b" * 32


# -- pure decisions -------------------------------------------------------------------------


def test_rate_refusal_waits_for_the_missing_token():
    assert retry_after(Refusal.RATE, 0.0, 10.0) == 1  # 0.1 s, rounded up to a whole second
    assert retry_after(Refusal.RATE, 0.0, 0.5) == 2
    assert retry_after(Refusal.RATE, 0.25, 0.25) == 3
    assert retry_after(Refusal.RATE, 0.999999, 0.001) == 1


def test_pi_cooldown_refusal_waits_for_what_is_left_of_it():
    assert retry_after(Refusal.PI_COOLDOWN, 2500, 10) == 3
    assert retry_after(Refusal.PI_COOLDOWN, 3000, 10) == 3
    assert retry_after(Refusal.PI_COOLDOWN, 1, 10) == 1


def test_in_flight_refusal_asks_for_a_fixed_pause():
    assert retry_after(Refusal.IN_FLIGHT, 300, 10) == IN_FLIGHT_RETRY_SECONDS


def test_pi_cooldown_follows_pi_within_bounds():
    assert pi_cooldown_seconds(7) == 7
    assert pi_cooldown_seconds(None) == PI_COOLDOWN_DEFAULT
    assert pi_cooldown_seconds(0) == PI_COOLDOWN_DEFAULT
    assert pi_cooldown_seconds(float("nan")) == PI_COOLDOWN_DEFAULT
    assert pi_cooldown_seconds(3600) == PI_COOLDOWN_CAP


def test_spread_delay_spreads_a_wave_over_one_more_wait():
    assert spread_delay(4, rand=lambda: 0.0) == 4
    assert spread_delay(4, rand=lambda: 0.5) == 6
    assert spread_delay(0, rand=lambda: 0.0) == 1  # never a busy loop


def test_a_reservation_outlives_its_budget():
    assert remaining_hold(110.0, now=100.0) == 15.0
    assert remaining_hold(90.0, now=100.0) == 5.0


# -- the limiter ----------------------------------------------------------------------------


def _admit(app, account=A):
    with app.app_context():
        return get_account_limits().admit(account, uuid.uuid4().hex, 30)


def _refusal(app, account=A) -> AccountLimited:
    with pytest.raises(AccountLimited) as caught:
        _admit(app, account)
    return caught.value


def test_the_bucket_admits_a_burst_then_refuses_with_retry_after(app):
    replace_settings(app, account_submit_rate=0.5, account_submit_burst=3)
    for _ in range(3):
        _admit(app)
    refused = _refusal(app)
    assert refused.status == 429 and refused.code == "rate_limited"
    assert refused.headers["Retry-After"] == "2" and refused.retry_after == 2


def test_one_account_over_its_limits_leaves_another_untouched(app):
    replace_settings(app, account_submit_rate=0.5, account_submit_burst=2, account_max_in_flight=2)
    _admit(app, A)
    _admit(app, A)
    _refusal(app, A)
    for _ in range(2):
        _admit(app, B)


def test_the_bucket_refills_at_its_rate(app):
    replace_settings(app, account_submit_rate=20.0, account_submit_burst=1)
    _admit(app)
    _refusal(app)
    time.sleep(0.1)  # 2 tokens' worth, capped at the burst of 1
    _admit(app)
    _refusal(app)


def test_in_flight_limit_counts_reservations_and_jobs_until_they_end(app):
    replace_settings(app, account_submit_rate=0, account_max_in_flight=2)
    with app.app_context():
        limits, ledger = get_account_limits(), get_ledger()
        first = limits.admit(A, "t1", 30)
        limits.admit(A, "t2", 30)
        refused = _refusal(app)
        assert refused.code == "too_many_in_flight"
        assert refused.headers["Retry-After"] == str(IN_FLIGHT_RETRY_SECONDS)
        record = JobRecord(
            job_id=str(uuid.uuid4()),
            account_id=A,
            kind="brand_extraction",
            input={},
            origin="api",
            status=JobStatus.QUEUED,
            created_at=time.time(),
            updated_at=time.time(),
        )
        ledger.create(record)
        limits.settle(first, record.job_id)
        _refusal(app)  # the job holds the place now
        record.status, record.error = JobStatus.FAILED, "done"
        ledger.finish(record)
        limits.admit(A, "t3", 30)  # its end freed the place


def test_a_released_reservation_frees_its_place(app):
    replace_settings(app, account_submit_rate=0, account_max_in_flight=1)
    with app.app_context():
        limits = get_account_limits()
        held = limits.admit(A, "t1", 30)
        _refusal(app)
        limits.release(held)
        limits.admit(A, "t2", 30)


def test_a_crashed_submission_cannot_block_the_account(app):
    replace_settings(app, account_submit_rate=0, account_max_in_flight=1)
    with app.app_context():
        limits = get_account_limits()
        limits.admit(A, "crashed", 0.05)  # never settled nor released
        _refusal(app)
        # Its hold was its budget: the shortest hold is 1 s.
        time.sleep(1.1)
        limits.admit(A, "next", 30)


def test_a_vanished_job_frees_its_place(app):
    replace_settings(app, account_submit_rate=0, account_max_in_flight=1)
    with app.app_context():
        limits = get_account_limits()
        held = limits.admit(A, "t1", 30)
        limits.settle(held, str(uuid.uuid4()))  # no ledger record (erased, or never written)
        limits.admit(A, "t2", 30)


def test_a_pi_429_cools_down_only_that_account(app):
    with app.app_context():
        limits = get_account_limits()
        held = limits.admit(A, "t1", 30)
        limits.release(held, PiRateLimited("slow down", status=429, retry_after=3))
        assert 2 < limits.pi_cooldown(A) <= 3
        assert limits.pi_cooldown(B) == 0
    refused = _refusal(app, A)
    assert refused.code == "pi_rate_limited" and refused.headers["Retry-After"] == "3"
    _admit(app, B)


def test_followers_share_a_fresh_reading_of_their_accounts_pi_cooldown(app):
    from connector.jobs.account_limits import AccountLimits
    from tests.support.round_trips import counting

    with app.app_context():
        limits = get_account_limits()
        other_process = AccountLimits(get_ledger())
        other_process.pi_cooldown(B)  # opens the connection
        with counting() as trips:
            readings = [limits.pi_cooldown(A, max_age=0.5) for _ in range(50)]
        assert readings == [0] * 50 and trips.count == 1  # one read serves every follower
        other_process.note_pi_rate_limit(A, 3)
        assert limits.pi_cooldown(A, max_age=0.5) == 0  # another process's 429, not seen yet
        assert 2 < limits.pi_cooldown(A) <= 3  # without max_age: always read
        time.sleep(0.6)
        assert 2 < limits.pi_cooldown(A, max_age=0.5) <= 3  # seen within the age asked for
        limits.note_pi_rate_limit(B, 2)
        with counting() as trips:
            assert 1 < limits.pi_cooldown(B, max_age=0.5) <= 2  # this process's own, at once
        assert trips.count == 0


def test_zero_turns_both_limits_off(app):
    replace_settings(app, account_submit_rate=0, account_max_in_flight=0)
    for _ in range(50):
        _admit(app)


# -- a claim that admits (one round trip) ---------------------------------------------------


def _claim_admitting(app, url: str, account=A):
    idem, limits = app.extensions["idempotency"], get_account_limits()
    return idem.claim(
        account, "brand_extraction", {"url": url}, explicit=None, basis=url, admit=(limits, 30)
    )


def test_a_claim_that_admits_reserves_the_accounts_place_with_the_claims_token(app, redis_client):
    replace_settings(app, account_submit_rate=0, account_max_in_flight=5)
    with app.app_context():
        claim = _claim_admitting(app, "https://admitted.example")
        assert claim.outcome == "claimed"
        assert claim.reservation is not None and claim.reservation.member == "r:" + claim.token
        inflight = get_account_limits().settle_args(claim.reservation, "")[0]
        assert redis_client.zscore(inflight, claim.reservation.member) is not None


def test_a_refused_claim_leaves_the_key_free_and_takes_no_place(app, redis_client):
    replace_settings(app, account_submit_rate=0.5, account_submit_burst=1)
    with app.app_context():
        _claim_admitting(app, "https://first.example")
        with pytest.raises(AccountLimited) as caught:
            _claim_admitting(app, "https://second.example")
        assert caught.value.code == "rate_limited" and caught.value.retry_after == 2
        idem = app.extensions["idempotency"]
        key = idem.redis_key(A, "brand_extraction", explicit=None, basis="https://second.example")
        assert redis_client.get(key) is None


def test_a_claim_that_finds_a_peer_or_a_job_admits_nothing(app, redis_client):
    replace_settings(app, account_submit_rate=0.5, account_submit_burst=1)
    with app.app_context():
        first = _claim_admitting(app, "https://shared.example")
        # The bucket is empty now, yet the same request again is a peer's, never refused.
        with pytest.raises(Exception) as caught:
            app.extensions["idempotency"].claim(
                A,
                "brand_extraction",
                {"url": "https://shared.example"},
                explicit=None,
                basis="https://shared.example",
                deadline=time.monotonic(),
                admit=(get_account_limits(), 30),
            )
        assert getattr(caught.value, "code", None) == "duplicate_in_progress"
        inflight = get_account_limits().settle_args(first.reservation, "")[0]
        assert redis_client.zcard(inflight) == 1
