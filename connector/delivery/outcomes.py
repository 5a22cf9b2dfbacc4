"""What a delivery attempt achieved: outcomes, targets, and reading an outbound call's answer."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from connector.config import get_settings
from connector.delivery import outbound
from connector.delivery.delivery_log import host_of, sanitize_message
from connector.delivery.subscriptions import DeliveryRef
from connector.ledger import JobRecord
from connector.runtime.backoff import RETRY_AFTER, header_value, parse_retry_after

DELIVERED, RETRY, GONE, FAILED = "delivered", "retry", "gone", "failed"
SKIPPED = "skipped"  # a metrics outcome: already delivered, or nothing left to deliver


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt achieved, and what the delivery log shows of it."""

    result: str
    detail: str = ""
    retry_after: float | None = None
    host: str | None = None  # host[:port] only: never a path or query (they may hold secrets)
    status: int | None = None  # the target's HTTP status, when it answered
    error: str | None = None  # the error class, when it did not
    latency_ms: float | None = None
    message: str | None = None  # the platform's own words on a failure, sanitized


@dataclass(frozen=True)
class Target:
    """Where a delivery goes: a job subscriber or an account hook."""

    ref: DeliveryRef
    kind: str
    url: str | None
    data: dict[str, Any]
    secret: str | None = None
    event: str | None = None
    hook_id: str | None = None
    # What the kind's `Prefetch` read with the target (None: read nothing, or not read yet).
    # It may hold secrets, so it stays out of the repr.
    prefetched: Any = field(default=None, repr=False)


Handler = Callable[[JobRecord, Target], Outcome]


class Prefetch(Protocol):
    """One read a delivery kind needs per attempt, sent in the round trip that reads the target.

    Which kind a delivery is shows only once its target is read, so every registered prefetch
    is queued on every target read: keep it to one cheap command keyed by the account.
    """

    def queue(self, pipe: Any, account_id: str) -> None:
        """Queue exactly one read command on the pipeline."""

    def parse(self, account_id: str, reply: Any) -> Any:
        """Return what the handler needs from that command's reply."""


def outcome_for_status(status: int, headers: dict[str, str] | None = None) -> Outcome:
    """Classify an HTTP answer from a delivery target."""
    if 200 <= status < 300:
        return Outcome(DELIVERED, str(status))
    if status == 410:
        return Outcome(GONE, "410 Gone")
    if status == 429 or status == 408 or status >= 500:
        retry_after = parse_retry_after(header_value(headers, RETRY_AFTER))
        return Outcome(RETRY, f"HTTP {status}", retry_after)
    if 300 <= status < 400:
        return Outcome(FAILED, f"HTTP {status}: redirects are not followed")
    return Outcome(FAILED, f"HTTP {status}")


def post_outcome(url: str, body: Any, headers: dict[str, str] | None = None) -> Outcome:
    """POST JSON to a target through the SSRF guard and classify the result."""
    settings = get_settings()
    host = host_of(url)
    started = time.perf_counter()
    try:
        response = outbound.post_json(
            url,
            body,
            headers=headers,
            timeout=settings.delivery_timeout_seconds,
            allow_private=settings.allow_private_targets,
        )
    except outbound.OutboundError as exc:
        return unanswered(exc, host, latency_ms=(time.perf_counter() - started) * 1000)
    outcome = outcome_for_status(response.status, response.headers)
    message = None
    if outcome.result != DELIVERED:
        secrets = [v for v in (headers or {}).values() if len(v) >= 16]  # signatures, tokens
        message = sanitize_message(response.text, url, *secrets)
    return answered(outcome, response, host, message)


def unanswered(
    exc: outbound.OutboundError,
    host: str | None,
    *,
    step: str = "",
    scrub: Callable[[str], str] = str,
    latency_ms: float | None = None,
) -> Outcome:
    """Return the outcome of a call that got no answer: a refused target is final."""
    name = type(exc).__name__
    prefix = f"{step}: " if step else ""
    if isinstance(exc, outbound.TargetRefused):
        return Outcome(FAILED, scrub(f"{prefix}target refused: {exc}"), host=host, error=name)
    result = RETRY if exc.retryable else FAILED
    return Outcome(result, f"{prefix}{name}", host=host, error=name, latency_ms=latency_ms)


def answered(
    outcome: Outcome, response: outbound.OutboundResponse, host: str | None, message: str | None
) -> Outcome:
    """Return an answered call's outcome with what the delivery log keeps of the answer."""
    return replace(
        outcome, host=host, status=response.status, latency_ms=response.elapsed_ms, message=message
    )
