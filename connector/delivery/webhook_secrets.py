"""Per-account webhook signing secrets, derived from the server key and rotated with a grace.

Each account signs with its own `whsec_` secret: HMAC-SHA256 of the account id and a
generation number under CONNECTOR_WEBHOOK_SECRET, which therefore never leaves the server and
no account secret is stored anywhere. Rotating bumps the generation; the previous secret keeps
signing beside the new one for a grace period, so receivers can switch without a gap.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from connector.delivery.signing import SECRET_PREFIX, secret_key
from connector.ledger import Ledger


@dataclass(frozen=True)
class AccountSecrets:
    """An account's signing secrets now: the current one and, during a grace, the previous."""

    current: str
    generation: int
    previous: str | None = None
    previous_until: float | None = None

    @property
    def signing(self) -> list[str]:
        """Return every secret a delivery is signed with (newest first)."""
        return [self.current, *([self.previous] if self.previous else [])]


def previous_valid_until(rotated_at: float | None, grace: float, now: float) -> float | None:
    """Return until when the previous secret still signs, or None once its grace is over."""
    if rotated_at is None or rotated_at + grace <= now:
        return None
    return rotated_at + grace


class WebhookSecrets:
    """Derive, rotate and read each account's webhook signing secrets."""

    def __init__(self, ledger: Ledger, server_secret: str | None, grace_seconds: float) -> None:
        self.ledger = ledger
        self.redis = ledger.redis
        self._server_key = secret_key(server_secret) if server_secret else None
        self.grace = grace_seconds

    @property
    def enabled(self) -> bool:
        """Return True when the server has a key to derive account secrets from."""
        return self._server_key is not None

    def _key(self, account_id: str) -> str:
        return self.ledger.account_key(account_id, "webhook-secret")

    def _derive(self, account_id: str, generation: int) -> str:
        assert self._server_key is not None, "CONNECTOR_WEBHOOK_SECRET is not set"
        message = f"{account_id}:{generation}".encode()
        digest = hmac.new(self._server_key, message, hashlib.sha256).digest()
        return SECRET_PREFIX + base64.b64encode(digest).decode("ascii")

    def secrets(self, account_id: str, now: float | None = None) -> AccountSecrets:
        """Return the account's secrets now (generation 0 until it first rotates)."""
        return self.from_reply(account_id, self.redis.hmget(*self._read_args(account_id)), now)

    def queue_read(self, pipe: Any, account_id: str) -> None:
        """Queue the read `from_reply` takes on a caller's pipeline (one command)."""
        pipe.hmget(*self._read_args(account_id))

    def _read_args(self, account_id: str) -> tuple[str, str, str]:
        return self._key(account_id), "generation", "rotated_at"

    def from_reply(self, account_id: str, raw: list, now: float | None = None) -> AccountSecrets:
        """Return the account's secrets from the reply to the read `queue_read` queued."""
        generation = int(raw[0]) if raw[0] else 0
        rotated_at = float(raw[1]) if raw[1] else None
        until = previous_valid_until(rotated_at, self.grace, time.time() if now is None else now)
        previous = self._derive(account_id, generation - 1) if until and generation else None
        return AccountSecrets(
            self._derive(account_id, generation), generation, previous, until if previous else None
        )

    def rotate(self, account_id: str) -> AccountSecrets:
        """Start a new secret; the one it replaces keeps signing for the grace period."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hincrby(self._key(account_id), "generation", 1)
        pipe.hset(self._key(account_id), "rotated_at", repr(time.time()))
        pipe.execute()
        return self.secrets(account_id)

    def init_app(self, app: Flask) -> None:
        """Register on the app."""
        app.extensions["webhook_secrets"] = self


def get_webhook_secrets() -> WebhookSecrets:
    """Return the webhook secrets of the current app."""
    return current_app.extensions["webhook_secrets"]


class SigningSecretsRead:
    """Read an account's signing secrets with a webhook's target (a delivery kind's Prefetch).

    Read afresh for every attempt, never cached: a rotation signs the very next delivery.
    """

    def queue(self, pipe: Any, account_id: str) -> None:
        """Queue the read of the account's generation and rotation time."""
        get_webhook_secrets().queue_read(pipe, account_id)

    def parse(self, account_id: str, reply: Any) -> AccountSecrets | None:
        """Return the account's secrets (None without a server key: the handler says why)."""
        secrets = get_webhook_secrets()
        return secrets.from_reply(account_id, reply) if secrets.enabled else None
