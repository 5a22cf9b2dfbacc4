"""Decide whether a failed Pi call may be repeated."""

from __future__ import annotations

from collections.abc import Iterator

import requests
from urllib3.exceptions import NewConnectionError

from connector.pi.exceptions import PiConnectionError

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


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
    # The client's own transport errors, e.g. a deadline that ran out.
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
    if status == 429 and method.upper() == "POST":
        # A create waiting out a rate limit would hold its caller's create slot (shared with
        # other accounts) the whole time: the caller backs off instead (per account).
        return False
    # Without an Idempotency-Key a 5xx POST may already have created a job: the caller decides.
    return repeatable
