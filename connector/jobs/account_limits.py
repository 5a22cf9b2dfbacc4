"""Per-account limits on new Pi jobs: jobs in flight, a token bucket, and Pi's own 429s.

Every account (one Pi key) has its own limits, so one account's burst is refused with a 429
while every other account goes on as before. Checked in the idempotency claim's Lua call, only
when the key is free, i.e. for a submission that would create a Pi job (a replay of an existing
job is never counted; a refusal writes nothing):

- **Pi cooldown**: after Pi answered 429 for the account's key, its new creates are refused
  here until Pi's Retry-After has passed, without asking Pi (and without taking a create slot).
- **Jobs in flight**: a sorted set per account of its unfinished jobs and of reservations of
  submissions under way, each scored by the time it lapses. A reservation lapses with its
  submission's budget, a job with its tracking deadline; a job whose ledger record ended (or
  vanished) is pruned when the set is full. A crashed process therefore never leaves an
  account blocked: whatever it held lapses or is found ended.
- **Token bucket**: `rate` submissions a second, up to `burst` at once.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from flask import current_app

from connector.config import get_settings
from connector.errors import AccountLimited
from connector.ledger import Ledger
from connector.pi import PiRateLimited
from connector.runtime.backoff import PI_BACKOFF

# An account at its in-flight limit waits for one of its jobs to end: there is no telling when,
# so callers are told to come back after a few seconds (Pi jobs last tens of seconds).
IN_FLIGHT_RETRY_SECONDS = 5
# Without a Retry-After from Pi, its 429 holds the account's creates this long.
PI_COOLDOWN_DEFAULT = 1.0
# Pi's wait is honoured up to what the Pi client itself honours.
PI_COOLDOWN_CAP = PI_BACKOFF.server_wait_ceiling
# A job's slot lapses this long after its tracking deadline (by then the tracker failed it).
TRACKING_SLACK_SECONDS = 600
COOLDOWNS_REMEMBERED = 10_000  # accounts whose latest Pi cooldown reading a process keeps
RESERVATION_PREFIX = "r:"
# A reservation outlives its submission's budget by this much (the ledger write may retry).
RESERVATION_SLACK_SECONDS = 5.0

# Admit one new job or say why not; also part of a claim that admits (`idempotency`).
# Keys: in-flight set, bucket hash, Pi cooldown key. Then: max in flight, rate, burst, member,
# hold seconds, job key prefix, set ttl.
# Answers {'ok'} or {refusal, value}: the cooldown's ms left, jobs in flight, tokens left.
ADMIT_LUA = """
local function admit(k_inflight, k_bucket, k_cool, most, rate, burst, member, hold, prefix, ttl)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  local cool = redis.call('PTTL', k_cool)
  if cool > 0 then return {'pi_rate_limited', tostring(cool)} end
  most, rate, burst = tonumber(most), tonumber(rate), tonumber(burst)
  if most > 0 then
    redis.call('ZREMRANGEBYSCORE', k_inflight, '-inf', now)
    local n = redis.call('ZCARD', k_inflight)
    if n >= most then
      for _, m in ipairs(redis.call('ZRANGE', k_inflight, 0, -1)) do
        if string.sub(m, 1, 2) ~= 'r:' then
          local status = redis.call('HGET', prefix .. m, 'status')
          if not status or status == 'completed' or status == 'failed' then
            redis.call('ZREM', k_inflight, m)
            n = n - 1
          end
        end
      end
      if n >= most then return {'too_many_in_flight', tostring(n)} end
    end
  end
  if rate > 0 then
    local b = redis.call('HMGET', k_bucket, 'tokens', 'at')
    local tokens, at = tonumber(b[1]) or burst, tonumber(b[2]) or now
    tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
    if tokens < 1 then return {'rate_limited', string.format('%.6f', tokens)} end
    redis.call('HSET', k_bucket, 'tokens', string.format('%.6f', tokens - 1),
      'at', string.format('%.6f', now))
    redis.call('EXPIRE', k_bucket, math.ceil(burst / rate) + 1)
  end
  if most > 0 then
    redis.call('ZADD', k_inflight, now + tonumber(hold), member)
    redis.call('EXPIRE', k_inflight, ttl)
  end
  return {'ok'}
end
"""
_ADMIT_CALL_LUA = ADMIT_LUA + "return admit(KEYS[1], KEYS[2], KEYS[3], unpack(ARGV))"

# Turn a reservation into its job's place; also part of an intent's bind (`intent_binding`).
SETTLE_RESERVATION_LUA = """
local function settle_reservation(key, member, job_id, seconds)
  local t = redis.call('TIME')
  local removed = redis.call('ZREM', key, member)
  if removed == 1 then
    redis.call('ZADD', key, tonumber(t[1]) + tonumber(seconds), job_id)
    redis.call('EXPIRE', key, seconds)
  end
  return removed
end
"""
# KEYS: in-flight set. ARGV: reservation, job id, seconds until the job's slot lapses.
_SETTLE_LUA = (
    SETTLE_RESERVATION_LUA + "return settle_reservation(KEYS[1], ARGV[1], ARGV[2], ARGV[3])"
)


class Refusal(StrEnum):
    """Why an account may not submit now (also the error code its caller sees)."""

    PI_COOLDOWN = "pi_rate_limited"
    IN_FLIGHT = "too_many_in_flight"
    RATE = "rate_limited"


MESSAGES = {
    Refusal.PI_COOLDOWN: "Pi is rate limiting this account; retry later",
    Refusal.IN_FLIGHT: "this account has too many jobs in progress; retry when some have ended",
    Refusal.RATE: "this account is submitting too fast; retry later",
}


def retry_after(refusal: Refusal, value: float, rate: float) -> int:
    """Return the whole seconds to wait before the refused account can submit again (≥ 1)."""
    if refusal is Refusal.PI_COOLDOWN:  # value: the cooldown's milliseconds left
        seconds = value / 1000
    elif refusal is Refusal.RATE:  # value: the tokens in the bucket (< 1); one more is needed
        seconds = (1 - value) / rate if rate > 0 else 1
    else:
        seconds = IN_FLIGHT_RETRY_SECONDS
    return max(1, math.ceil(seconds - 1e-9))


def pi_cooldown_seconds(pi_retry_after: float | None) -> float:
    """Return how long Pi's 429 holds the account's creates: Pi's word, within bounds."""
    if pi_retry_after is None or not math.isfinite(pi_retry_after) or pi_retry_after <= 0:
        return PI_COOLDOWN_DEFAULT
    return min(float(pi_retry_after), PI_COOLDOWN_CAP)


def spread_delay(retry_after_seconds: float, rand: Callable[[], float] = random.random) -> float:
    """Return when a refused background task tries again: after the wait, spread over as long.

    A wave of refused tasks that all came back at the same second would be refused together
    again; spreading them over one more wait lets the bucket admit them in turn.
    """
    base = max(1.0, float(retry_after_seconds))
    return base * (1 + rand())


def remaining_hold(deadline: float, now: float | None = None) -> float:
    """Return how long a submission's reservation lasts: its budget plus the ledger write."""
    now = time.monotonic() if now is None else now
    return max(0.0, deadline - now) + RESERVATION_SLACK_SECONDS


@dataclass(frozen=True)
class Reservation:
    """A submission's place among its account's jobs in flight, until its job is recorded."""

    account_id: str
    member: str


class AccountLimits:
    """Admit or refuse an account's new Pi jobs, and remember Pi's 429s per account."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.redis = ledger.redis
        self._admit = self.redis.register_script(_ADMIT_CALL_LUA)
        self._settle = self.redis.register_script(_SETTLE_LUA)
        # account -> (monotonic time read, monotonic end of its Pi cooldown), for `max_age`
        self._cooldowns: dict[str, tuple[float, float]] = {}

    def _key(self, account_id: str, name: str) -> str:
        # The account's hash tag: its limits and its job records share one cluster slot.
        return self.ledger.account_key(account_id, "limits", name)

    def admit(self, account_id: str, token: str, hold_seconds: float) -> Reservation:
        """Reserve a place for one new job, or raise AccountLimited with its Retry-After."""
        keys, args = self.admission(account_id, token, hold_seconds)
        return self.reservation(account_id, token, self._admit(keys=keys, args=args))

    def admission(self, account_id: str, token: str, hold_seconds: float) -> tuple[list, list]:
        """Return the keys and arguments of `admit` in ADMIT_LUA for one submission."""
        settings = get_settings()
        keys = [
            self._key(account_id, "inflight"),
            self._key(account_id, "bucket"),
            self._key(account_id, "pi_cooldown"),
        ]
        args = [
            settings.account_max_in_flight,
            settings.account_submit_rate,
            settings.account_submit_burst,
            self.member(token),
            max(1.0, hold_seconds),
            self.ledger.job_key(account_id, ""),
            self._slot_seconds(),
        ]
        return keys, args

    def reservation(self, account_id: str, token: str, answer: list) -> Reservation:
        """Return the reservation ADMIT_LUA's answer grants, or raise its AccountLimited."""
        verdict = answer[0].decode() if isinstance(answer[0], bytes) else answer[0]
        if verdict != "ok":
            refusal = Refusal(verdict)
            rate = get_settings().account_submit_rate
            wait = retry_after(refusal, float(answer[1]), rate)
            raise AccountLimited(MESSAGES[refusal], code=refusal.value, retry_after=wait)
        return Reservation(account_id, self.member(token))

    def member(self, token: str) -> str:
        """Return a submission's reservation in its account's in-flight set."""
        return RESERVATION_PREFIX + token

    def settle(self, reservation: Reservation, job_id: str) -> None:
        """Turn the reservation into the job it became (its place lasts until the job ends)."""
        key, *args = self.settle_args(reservation, job_id)
        self._settle(keys=[key], args=args)

    def settle_args(self, reservation: Reservation, job_id: str) -> list:
        """Return `settle_reservation`'s arguments: in-flight set, member, job id, seconds."""
        key = self._key(reservation.account_id, "inflight")
        return [key, reservation.member, job_id, self._slot_seconds()]

    def release(self, reservation: Reservation, error: BaseException | None = None) -> None:
        """Give the place back (the submission created no job); a Pi 429 starts a cooldown."""
        self.redis.zrem(self._key(reservation.account_id, "inflight"), reservation.member)
        if isinstance(error, PiRateLimited):
            self.note_pi_rate_limit(reservation.account_id, error.retry_after)

    def note_pi_rate_limit(self, account_id: str, pi_retry_after: float | None) -> float:
        """Hold the account's Pi calls for Pi's Retry-After; return the seconds held."""
        seconds = pi_cooldown_seconds(pi_retry_after)
        self.redis.set(self._key(account_id, "pi_cooldown"), "1", px=max(1, int(seconds * 1000)))
        now = time.monotonic()
        self._cooldowns[account_id] = (now, now + seconds)
        return seconds

    def pi_cooldown(self, account_id: str, max_age: float = 0.0) -> float:
        """Return the seconds left before Pi accepts the account's calls again (0: now).

        With `max_age`, a reading this process made at most that many seconds ago will do:
        an account's hundreds of followers each polling Pi need not ask Redis each time.
        """
        now = time.monotonic()
        seen = self._cooldowns.get(account_id)
        if max_age > 0 and seen is not None and now - seen[0] <= max_age:
            return max(0.0, seen[1] - now)
        left = max(0, self.redis.pttl(self._key(account_id, "pi_cooldown"))) / 1000
        if len(self._cooldowns) >= COOLDOWNS_REMEMBERED:
            self._cooldowns.clear()  # readings a second old are worth nothing: start afresh
        self._cooldowns[account_id] = (now, now + left)
        return left

    def _slot_seconds(self) -> int:
        return int(get_settings().worker_deadline_seconds + TRACKING_SLACK_SECONDS)

    def init_app(self, app) -> None:
        """Register on the app."""
        app.extensions["account_limits"] = self


def get_account_limits() -> AccountLimits:
    """Return the account limits of the current app."""
    return current_app.extensions["account_limits"]
