"""The RQ queues the connector uses, named once."""

from __future__ import annotations

from rq import Queue

from connector.runtime.redis_store import RedisStore

DELIVER = "pic-deliver"  # one outbound delivery each
SHOPIFY = "pic-shopify"  # per-shop work (install, redact)

ALL_QUEUES = (SHOPIFY, DELIVER)  # jobs are followed by the tracker, not a queue


def get_queue(store: RedisStore, name: str) -> Queue:
    """Return the named queue on the store's Redis."""
    return Queue(name, connection=store.redis)
