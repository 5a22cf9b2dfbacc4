"""The Redis connection the web app and the workers share, and its key naming."""

from __future__ import annotations

import redis
from flask import Flask, current_app


class RedisStore:
    """Hold one Redis client (with its pool) and the key prefix of this deployment."""

    def __init__(self, url: str, prefix: str = "pic:", max_connections: int = 2000) -> None:
        self.url = url
        self.prefix = prefix
        self.redis = redis.Redis.from_url(
            url,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=30,
            retry_on_timeout=False,
            # Hundreds of requests (gevent) or tracker threads may talk to Redis at once;
            # redis-py's default cap (100) would turn that into errors.
            max_connections=max_connections,
        )

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
