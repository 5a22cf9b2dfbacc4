"""One Retry-After parser and one jittered delay for every caller, with a policy per caller."""

from __future__ import annotations

import enum
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime

RETRY_AFTER = "Retry-After"
# Past 2**64 every cap has long been reached; a larger power would overflow a float.
_MAX_EXPONENT = 64


class Jitter(enum.Enum):
    """How randomness spreads a backoff step of `step` seconds (rand() is in 0..1)."""

    FULL = "full"  # rand() * step: spreads many clients widest
    EQUAL = "equal"  # step/2 + rand() * step/2: never less than half a step
    ADDED = "added"  # step * (1 + rand()), capped afterwards: the step is a floor


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """How one caller backs off: growth, cap, jitter and how far a server's wait is honoured."""

    base: float  # the first step, in seconds
    cap: float  # the largest step (for ADDED jitter: the largest delay)
    jitter: Jitter
    first_attempt: int  # the number callers give their first retry (0 or 1)
    # A server-given wait is honoured up to max(cap, this).
    server_wait_ceiling: float = 0.0
    # Whether a server wait of 0 means "retry now" rather than "no advice: back off".
    honour_zero_wait: bool = False

    @property
    def max_server_wait(self) -> float:
        """Return the longest server-given wait this policy honours."""
        return max(self.cap, self.server_wait_ceiling)

    def heeds(self, server_wait: float) -> bool:
        """Tell whether a server-given wait replaces the backoff."""
        # A wait of 0 (a reset already past) usually says nothing useful.
        return server_wait > 0 or (self.honour_zero_wait and server_wait == 0)


# Pi calls: full jitter from 0.5 s up to 8 s; a rate limit reset may park a call up to 30 s.
PI_BACKOFF = BackoffPolicy(
    base=0.5, cap=8.0, jitter=Jitter.FULL, first_attempt=0, server_wait_ceiling=30.0
)
# Deliveries: the first retry within seconds, doubling up to 10 minutes.
DELIVERY_BACKOFF = BackoffPolicy(base=2.0, cap=600.0, jitter=Jitter.EQUAL, first_attempt=1)
# Shopify Admin GraphQL: doubling from 0.5 s up to 10 s; Shopify's own Retry-After of 0 counts.
SHOPIFY_BACKOFF = BackoffPolicy(
    base=0.5, cap=10.0, jitter=Jitter.ADDED, first_attempt=1, honour_zero_wait=True
)


def header_value(headers: Mapping[str, str] | None, name: str) -> str | None:
    """Return a header's value looked up without regard to case, or None."""
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def seconds_until(epoch: float, now: float | None = None) -> float:
    """Return the seconds from now until an epoch time, never negative."""
    return max(0.0, epoch - (time.time() if now is None else now))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Return the seconds a Retry-After value asks for (delay or HTTP date), or None."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        # A negative, infinite or NaN delay is garbage, not advice.
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:  # RFC 9110 also allows an HTTP date.
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP dates are always GMT.
        when = when.replace(tzinfo=UTC)
    return seconds_until(when.timestamp(), now)


def backoff_delay(
    policy: BackoffPolicy,
    attempt: int,
    *,
    server_wait: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Return the wait before retry `attempt`: the server's word if heeded, else jittered growth."""
    if server_wait is not None and policy.heeds(server_wait):
        # Honour the server, but never let a bogus header park a caller for an hour.
        return min(float(server_wait), policy.max_server_wait)
    exponent = min(max(0, attempt - policy.first_attempt), _MAX_EXPONENT)
    step = policy.base * 2**exponent
    if policy.jitter is Jitter.ADDED:
        return min(policy.cap, step * (1 + rand()))
    step = min(policy.cap, step)
    if policy.jitter is Jitter.EQUAL:
        return step / 2 + rand() * step / 2
    return rand() * step
