"""Secrets at rest: Fernet encryption with several keys for rotation, and re-encryption."""

from __future__ import annotations

from collections.abc import Iterable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app

from connector.runtime.redis_store import RedisStore


class SecretError(RuntimeError):
    """A stored secret cannot be decrypted with any configured key."""


def parse_keys(setting: str) -> list[str]:
    """Split CONNECTOR_SECRET_KEY (comma-separated, newest first) into keys."""
    return [part.strip() for part in (setting or "").split(",") if part.strip()]


class SecretBox:
    """Encrypt with the newest key; decrypt with any configured key."""

    def __init__(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        if not keys:
            raise ValueError("CONNECTOR_SECRET_KEY holds no key")
        try:
            self._fernet = MultiFernet([Fernet(key) for key in keys])
        except (ValueError, TypeError):
            raise ValueError(
                "CONNECTOR_SECRET_KEY must be Fernet keys (urlsafe base64 of 32 bytes), "
                "comma-separated, newest first"
            ) from None

    def encrypt(self, plaintext: str) -> str:
        """Return the token for plaintext under the newest key."""
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str | bytes) -> str:
        """Return the plaintext of a token made under any configured key."""
        raw = token.encode() if isinstance(token, str) else token
        try:
            return self._fernet.decrypt(raw).decode()
        except InvalidToken:
            raise SecretError("a stored secret could not be decrypted with any key") from None

    def rotate(self, token: str | bytes) -> str:
        """Return the token re-encrypted under the newest key."""
        raw = token.encode() if isinstance(token, str) else token
        try:
            return self._fernet.rotate(raw).decode()
        except InvalidToken:
            raise SecretError("a stored secret could not be decrypted with any key") from None

    def init_app(self, app: Flask) -> None:
        """Register this box on the app."""
        app.extensions["secrets"] = self


def get_secrets() -> SecretBox:
    """Return the secret box of the current app."""
    return current_app.extensions["secrets"]


def _index_key(store: RedisStore) -> str:
    return store.key("secrets", "index")


def remember_encrypted_field(store: RedisStore, redis_key: str, field: str, pipe=None) -> None:
    """Record that a hash field holds ciphertext, so rotation can find it."""
    (pipe or store.redis).sadd(_index_key(store), f"{redis_key}\x1f{field}")


def rotate_all(store: RedisStore | None = None, box: SecretBox | None = None) -> int:
    """Re-encrypt every indexed secret under the newest key; return how many were rewritten."""
    store = store or current_app.extensions["store"]
    box = box or get_secrets()
    count = 0
    for entry in store.redis.sscan_iter(_index_key(store)):
        redis_key, _, field = entry.decode().partition("\x1f")
        token = store.redis.hget(redis_key, field)
        if token is None:
            store.redis.srem(_index_key(store), entry)  # the secret is gone: forget it
            continue
        rotated = box.rotate(token)
        # Write only if nobody replaced the value meanwhile.
        with store.redis.pipeline() as pipe:
            pipe.watch(redis_key)
            if pipe.hget(redis_key, field) == token:
                pipe.multi()
                pipe.hset(redis_key, field, rotated)
                pipe.execute()
                count += 1
            else:
                pipe.reset()
    return count
