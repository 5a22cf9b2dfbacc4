"""Read how long Pi asked a client to wait: Retry-After, else Unkey's X-RateLimit-Reset."""

from __future__ import annotations

import time
from collections.abc import Mapping

from connector.runtime.backoff import RETRY_AFTER, header_value, parse_retry_after, seconds_until

RATE_LIMIT_RESET = "X-RateLimit-Reset"
# Unkey reports milliseconds in places; Pi documents seconds. No seconds value is this large.
_MILLISECONDS_ABOVE = 1e11


def server_wait(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Return the seconds Pi asked to wait (Retry-After, else X-RateLimit-Reset), or None."""
    if not headers:
        return None
    now = time.time() if now is None else now
    waited = parse_retry_after(header_value(headers, RETRY_AFTER), now=now)
    if waited is not None:
        return waited
    reset = header_value(headers, RATE_LIMIT_RESET)
    if reset is None:
        return None
    try:
        reset_at = float(reset.strip())
    except ValueError:
        return None
    if reset_at > _MILLISECONDS_ABOVE:
        reset_at /= 1000.0
    return seconds_until(reset_at, now)
