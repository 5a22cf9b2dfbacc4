"""The RQ queues the connector uses, named once."""

from __future__ import annotations

from rq import Queue

from connector.store import Store

TRACK = "pic-track"  # follow a Pi job to its end
DELIVER = "pic-deliver"  # one outbound delivery each
SHOPIFY = "pic-shopify"  # per-shop work (install, redact)

ALL_QUEUES = (TRACK, SHOPIFY, DELIVER)


def get_queue(store: Store, name: str) -> Queue:
    """Return the named queue on the store's Redis."""
    return Queue(name, connection=store.redis)
