"""Sign and verify webhooks the Standard Webhooks way (webhook-id, -timestamp, -signature)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence

SECRET_PREFIX = "whsec_"
VERSION = "v1"
DEFAULT_TOLERANCE = 300  # seconds, the spec's recommended window against replays


class WebhookVerificationError(ValueError):
    """A webhook's headers or signature do not check out."""


def secret_key(secret: str) -> bytes:
    """Return the HMAC key: the base64 part of a "whsec_" secret, else the raw secret's bytes."""
    if not secret:
        raise ValueError("webhook secret is empty")
    if not secret.startswith(SECRET_PREFIX):
        return secret.encode("utf-8")
    try:
        return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except binascii.Error:
        raise ValueError("webhook secret after 'whsec_' is not valid base64") from None


def _signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the "v1,<base64 HMAC-SHA256>" signature of one message."""
    return f"{VERSION},{_signature(secret_key(secret), msg_id, int(timestamp), body)}"


def signed_headers(
    secret: str | Sequence[str], msg_id: str, body: bytes, *, now: int | None = None
) -> dict[str, str]:
    """Return the webhook-id, -timestamp and -signature headers (one signature per secret)."""
    timestamp = int(time.time()) if now is None else int(now)
    secrets = [secret] if isinstance(secret, str) else list(secret)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        # Several signatures, space-separated, let receivers switch secrets without a gap.
        "webhook-signature": " ".join(sign(s, msg_id, timestamp, body) for s in secrets),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: int | None = None,
) -> None:
    """Raise WebhookVerificationError unless the headers carry a valid, fresh signature."""
    lowered = {str(k).lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id")
    raw_timestamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not msg_id or not raw_timestamp or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(raw_timestamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from None
    current = int(time.time()) if now is None else int(now)
    # Both directions: a far-future timestamp would let a captured message be replayed later.
    if timestamp < current - tolerance:
        raise WebhookVerificationError("webhook-timestamp is too old")
    if timestamp > current + tolerance:
        raise WebhookVerificationError("webhook-timestamp is too far in the future")
    expected = _signature(secret_key(secret), msg_id, timestamp, body).encode("ascii")
    for candidate in signatures.split(" "):
        version, _, value = candidate.partition(",")
        # compare_digest keeps the comparison constant-time; other versions are skipped.
        if version == VERSION and hmac.compare_digest(value.encode("ascii", "replace"), expected):
            return
    raise WebhookVerificationError("no matching signature")
