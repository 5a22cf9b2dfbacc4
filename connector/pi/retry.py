"""Decide whether a failed Pi call may be repeated, and how long to wait first."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from email.utils import parsedate_to_datetime

import requests
from urllib3.exceptions import NewConnectionError

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# A server-given wait is honoured up to this many seconds (or the backoff cap, if larger).
SERVER_WAIT_CEILING = 30.0


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """Yield exc and the exceptions it wraps (requests nests urllib3's reason in args[0])."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for nested in (
            current.__cause__,
            current.__context__,
            getattr(current, "reason", None),
            current.args[0] if current.args else None,
        ):
            if isinstance(nested, BaseException):
                todo.append(nested)


def _unwrap(exc: BaseException) -> BaseException:
    """Return the transport exception behind a Pi error, or exc itself."""
    cause = exc.__cause__
    return cause if isinstance(cause, requests.RequestException) else exc


def not_sent(exc: BaseException) -> bool:
    """Tell whether a transport error happened before the request reached Pi."""
    exc = _unwrap(exc)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return False
    # Refused or unresolvable: no connection existed, so no bytes of the request were sent.
    return any(isinstance(e, NewConnectionError | ConnectionRefusedError) for e in _causes(exc))


def _is_transport_error(exc: BaseException) -> bool:
    """Tell whether exc is a connection failure or timeout (not a bad URL or similar)."""
    exc = _unwrap(exc)
    if isinstance(exc, requests.exceptions.Timeout | requests.exceptions.ConnectionError):
        return not isinstance(exc, requests.exceptions.SSLError | requests.exceptions.ProxyError)
    # The client's own transport errors, e.g. a deadline that ran out (imported late: cycle).
    from connector.pi.errors import PiConnectionError

    return isinstance(exc, PiConnectionError)


def should_retry(
    *,
    method: str,
    attempt: int,
    max_retries: int,
    status: int | None = None,
    exc: BaseException | None = None,
    idempotent_post: bool = False,
) -> bool:
    """Decide whether a request that failed on try number `attempt` (0-based) may be repeated."""
    if attempt >= max_retries:
        return False
    repeatable = method.upper() in {"GET", "HEAD"} or idempotent_post
    if exc is not None:
        if not _is_transport_error(exc):
            return False
        # A POST that never left the machine cannot have created a job on Pi.
        return repeatable or not_sent(exc)
    if status is None or status not in RETRYABLE_STATUSES:
        return False
    # Without an Idempotency-Key a 5xx POST may already have created a job: the caller decides.
    return repeatable


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Return a header value looked up without regard to case."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def server_wait(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Return the seconds the server asked to wait (Retry-After, else X-RateLimit-Reset)."""
    if not headers:
        return None
    retry_after = _header(headers, "Retry-After")
    if retry_after is not None:
        try:
            return max(0.0, float(retry_after.strip()))
        except ValueError:
            pass
        try:  # RFC 9110 also allows an HTTP date.
            when = parsedate_to_datetime(retry_after).timestamp()
            return max(0.0, when - (time.time() if now is None else now))
        except (TypeError, ValueError, IndexError):
            pass
    reset = _header(headers, "X-RateLimit-Reset")
    if reset is not None:
        try:
            reset_at = float(reset.strip())
        except ValueError:
            return None
        if reset_at > 1e11:  # Unkey reports milliseconds in places; Pi documents seconds.
            reset_at /= 1000.0
        return max(0.0, reset_at - (time.time() if now is None else now))
    return None


def retry_delay(
    attempt: int,
    *,
    headers: Mapping[str, str] | None = None,
    now: float | None = None,
    base: float = 0.5,
    cap: float = 8.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Return the seconds to sleep before retry number `attempt` (0-based)."""
    waited = server_wait(headers, now)
    # A reset already in the past says nothing useful: fall back to backoff then.
    if waited is not None and waited > 0:
        # Honour the server, but never let a bogus header park a worker for an hour.
        return min(waited, max(cap, SERVER_WAIT_CEILING))
    # Full jitter spreads retries from many clients instead of syncing them.
    return rand() * min(cap, base * 2**attempt)
