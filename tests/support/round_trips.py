"""Count a Redis client's round trips: each command or pipeline takes a pooled connection once."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class Trips:
    """How many round trips a block made."""

    count = 0


@contextlib.contextmanager
def counting(client) -> Iterator[Trips]:
    """Count the round trips `client` makes inside the block (its pool hands out a connection)."""
    pool = client.connection_pool
    original = pool.get_connection
    trips = Trips()

    def get_connection(*args, **kwargs):
        trips.count += 1
        return original(*args, **kwargs)

    pool.get_connection = get_connection
    try:
        yield trips
    finally:
        del pool.get_connection  # the class's own method again
