"""The Redis connection the web app and the workers share, its key naming, and durable writes."""

from __future__ import annotations

import redis
from flask import Flask, current_app

from connector.runtime.redis_connect import RedisConnector, RedisTarget

SOCKET_TIMEOUT = 5.0  # a command that takes longer means Redis is in trouble
BLOCKING_SLACK = 10.0  # a blocking read may answer this long after its own timeout
REPLICA_TIMEOUT_MS = 500  # how long a write that acknowledges work waits for replicas
# WAIT blocks the connection: it must answer well inside the shared client's socket timeout.
MAX_REPLICA_TIMEOUT_MS = int(SOCKET_TIMEOUT * 1000) - 1000


class ReplicasBehind(redis.exceptions.ConnectionError):
    """Too few replicas hold a write we are about to acknowledge (answered as 503)."""


class RedisStore:
    """Hold one Redis client (with its pool), the key prefix, and the replication demand."""

    def __init__(
        self,
        target: RedisTarget | str,
        prefix: str = "pic:",
        max_connections: int = 2000,
        *,
        min_replicas: int | None = None,
        replica_timeout_ms: int = REPLICA_TIMEOUT_MS,
    ) -> None:
        self.target = RedisTarget.from_url(target) if isinstance(target, str) else target
        self.connector = RedisConnector(self.target)
        self.prefix = prefix
        # Sentinel means the deployment fails over: acknowledged work must be on a replica.
        if min_replicas is None:
            min_replicas = 1 if self.target.uses_sentinel else 0
        self.min_replicas = min_replicas
        self.replica_timeout_ms = min(max(1, replica_timeout_ms), MAX_REPLICA_TIMEOUT_MS)
        # Hundreds of requests (gevent) or tracker threads may talk to Redis at once;
        # redis-py's default cap (100) would turn that into errors.
        self.redis = self.connector.client(
            socket_timeout=SOCKET_TIMEOUT, max_connections=max_connections
        )
        self._blocking: dict[float, redis.Redis] = {}

    def blocking_client(self, block_seconds: float, max_connections: int = 100) -> redis.Redis:
        """Return a client of its own for commands that block up to `block_seconds` (BLPOP).

        The shared client keeps a short socket timeout; a blocking read on one of its pooled
        connections would time out before Redis answers. Its pool holds at least
        `max_connections`: a caller that needs more than an earlier one widens it.
        """
        timeout = float(block_seconds) + BLOCKING_SLACK
        client = self._blocking.get(timeout)
        if client is None:
            client = self.connector.client(socket_timeout=timeout, max_connections=max_connections)
            self._blocking[timeout] = client
        pool = client.connection_pool
        # redis-py reads the cap each time it would open a connection: raising it is enough.
        pool.max_connections = max(pool.max_connections, max_connections)
        return client

    def confirm_replicated(self, witness_key: str) -> None:
        """Return once `min_replicas` replicas hold every write so far; raise ReplicasBehind.

        Call it after the write that acknowledges work, with a key that write created. WAIT
        counts the writes of its own connection, and a pipeline's connection goes back to the
        pool, so a marker write on this connection stands in for them: replication is in
        order, so a replica that has the marker has everything written before it. The
        witness is read on the same connection: when redis-py retried onto a promoted replica
        that never got the write, WAIT there would otherwise vouch for a write it lacks.
        """
        if self.min_replicas <= 0:
            return
        pipe = self.redis.pipeline(transaction=False)
        pipe.exists(witness_key)
        pipe.incr(self.key("replication", "marker"))
        pipe.execute_command("WAIT", self.min_replicas, self.replica_timeout_ms)
        present, _, acked = pipe.execute()
        if not present:
            raise ReplicasBehind("the write was lost in a failover")
        if int(acked) < self.min_replicas:
            raise ReplicasBehind(f"{acked} of {self.min_replicas} replicas acknowledged")

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
