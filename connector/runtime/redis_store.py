"""The Redis connection the web app and the workers share, and its key naming."""

from __future__ import annotations

import redis
from flask import Flask, current_app

SOCKET_TIMEOUT = 5.0  # a command that takes longer means Redis is in trouble
CONNECT_TIMEOUT = 2.0
BLOCKING_SLACK = 10.0  # a blocking read may answer this long after its own timeout


class RedisStore:
    """Hold one Redis client (with its pool) and the key prefix of this deployment."""

    def __init__(self, url: str, prefix: str = "pic:", max_connections: int = 2000) -> None:
        self.url = url
        self.prefix = prefix
        # Hundreds of requests (gevent) or tracker threads may talk to Redis at once;
        # redis-py's default cap (100) would turn that into errors.
        self.redis = self._client(SOCKET_TIMEOUT, max_connections)
        self._blocking: dict[float, redis.Redis] = {}

    def _client(self, socket_timeout: float, max_connections: int) -> redis.Redis:
        return redis.Redis.from_url(
            self.url,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=socket_timeout,
            health_check_interval=30,
            retry_on_timeout=False,
            max_connections=max_connections,
        )

    def blocking_client(self, block_seconds: float) -> redis.Redis:
        """Return a client of its own for commands that block up to `block_seconds` (BLPOP).

        The shared client keeps a short socket timeout; a blocking read on one of its pooled
        connections would time out before Redis answers.
        """
        timeout = float(block_seconds) + BLOCKING_SLACK
        if timeout not in self._blocking:
            self._blocking[timeout] = self._client(timeout, max_connections=100)
        return self._blocking[timeout]

    def key(self, *parts: str) -> str:
        """Return a namespaced key."""
        return self.prefix + ":".join(parts)

    def ping(self) -> bool:
        """Return True when Redis answers."""
        return bool(self.redis.ping())

    def init_app(self, app: Flask) -> None:
        """Register this store on the app."""
        app.extensions["store"] = self


def get_redis_store() -> RedisStore:
    """Return the store of the current app."""
    return current_app.extensions["store"]
