"""Admin GraphQL client: our own requests calls, throttling backoff, one token refresh on 401."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, Protocol

import requests

from connector.runtime.backoff import (
    RETRY_AFTER,
    SHOPIFY_BACKOFF,
    backoff_delay,
    parse_retry_after,
)
from shopify_app.errors import GraphQLError, ShopifyAuthError, ShopifyUnavailable
from shopify_app.settings import ShopifySettings

log = logging.getLogger(__name__)


class TokenProvider(Protocol):
    """Where the client gets its access token from."""

    def access_token(self) -> str: ...

    def after_unauthorized(self, rejected: str) -> str: ...


def bucket_wait(
    throttle: dict[str, Any], requested_cost: float | None, rand: Callable[[], float]
) -> float | None:
    """Return the seconds until the throttle bucket holds the query's cost, or None if unknown."""
    restore = float(throttle.get("restoreRate") or 0)
    if restore <= 0:
        return None
    available = float(throttle.get("currentlyAvailable") or 0)
    need = float(
        requested_cost if requested_cost is not None else throttle.get("maximumAvailable") or 0
    )
    base, cap = SHOPIFY_BACKOFF.base, SHOPIFY_BACKOFF.cap
    # Wait exactly until the bucket holds the query's cost, never less than the base.
    return min(cap, max(base, (need - available) / restore) + base * rand())


def graphql_delay(
    attempt: int,
    *,
    retry_after: float | None = None,
    throttle: dict[str, Any] | None = None,
    requested_cost: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Return the seconds to wait before attempt `attempt + 1` (pure: randomness is injected)."""
    # Shopify's own Retry-After wins; a THROTTLED answer says when its bucket refills.
    heeded = retry_after is not None and SHOPIFY_BACKOFF.heeds(retry_after)
    if throttle and not heeded:
        waited = bucket_wait(throttle, requested_cost, rand)
        if waited is not None:
            return waited
    return backoff_delay(SHOPIFY_BACKOFF, attempt, server_wait=retry_after, rand=rand)


def _throttled(body: dict[str, Any]) -> bool:
    errors = body.get("errors")
    return isinstance(errors, list) and any(
        isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "THROTTLED"
        for e in errors
    )


def _messages(errors: Any) -> str:
    if isinstance(errors, list):
        parts = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors]
        return "; ".join(parts)[:500]
    return str(errors)[:500]


class AdminClient:
    """Run Admin GraphQL operations for one shop."""

    def __init__(
        self,
        settings: ShopifySettings,
        shop: str,
        tokens: TokenProvider,
        *,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        max_attempts: int = 6,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.url = settings.graphql_url(shop)
        self.shop = shop
        self.tokens = tokens
        self.session = session or requests.Session()
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.sleep = sleep

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Return the operation's `data`, retrying throttling, 5xx and dropped connections."""
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            token = self.tokens.access_token()
            try:
                response = self.session.post(
                    self.url,
                    json={"query": query, "variables": variables or {}},
                    headers={"X-Shopify-Access-Token": token, "Accept": "application/json"},
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                self._pause(attempt, f"connection failed ({type(exc).__name__})")
                continue
            if response.status_code == 401:
                if refreshed:
                    raise ShopifyAuthError(
                        f"Shopify rejected the refreshed token of {self.shop}", status=401
                    )
                # An expired token: refresh once and retry (does not count as an attempt).
                self.tokens.after_unauthorized(token)
                refreshed = True
                attempt -= 1
                continue
            if response.status_code == 429:
                retry_after = parse_retry_after(response.headers.get(RETRY_AFTER))
                self._pause(attempt, "HTTP 429", retry_after=retry_after)
                continue
            if response.status_code >= 500:
                self._pause(attempt, f"HTTP {response.status_code}")
                continue
            if response.status_code != 200:
                raise GraphQLError(
                    f"Admin GraphQL answered HTTP {response.status_code}",
                    status=response.status_code,
                )
            try:
                body = response.json()
            except ValueError:
                self._pause(attempt, "a response that is not JSON")
                continue
            if not isinstance(body, dict):
                raise GraphQLError("Admin GraphQL answered something that is not an object")
            if _throttled(body):
                cost = (body.get("extensions") or {}).get("cost") or {}
                self._pause(
                    attempt,
                    "THROTTLED",
                    throttle=cost.get("throttleStatus"),
                    requested_cost=cost.get("requestedQueryCost"),
                )
                continue
            if body.get("errors"):
                raise GraphQLError("Admin GraphQL errors: " + _messages(body["errors"]))
            data = body.get("data")
            if not isinstance(data, dict):
                raise GraphQLError("Admin GraphQL answered without data")
            return data

    def _pause(self, attempt: int, reason: str, **delay_args: Any) -> None:
        """Sleep before the next attempt, or give up after the last one."""
        if attempt >= self.max_attempts:
            raise ShopifyUnavailable(
                f"Admin GraphQL for {self.shop} still failing after {attempt} attempts ({reason})"
            )
        delay = graphql_delay(attempt, **delay_args)
        log.warning("Admin GraphQL %s for %s; retrying in %.2f s", reason, self.shop, delay)
        self.sleep(delay)
