"""Count Redis round trips: what every connection of this process sends (one send, one trip)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import pytest
from redis.connection import AbstractConnection


class RoundTrips:
    """Count every command or pipeline this process sends to Redis from now on."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self._lock = threading.Lock()
        real = AbstractConnection.send_packed_command

        def counted(conn, command, check_health=True):
            with self._lock:
                self.count += 1
            return real(conn, command, check_health)

        monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)


@contextlib.contextmanager
def counting() -> Iterator[RoundTrips]:
    """Count the round trips made inside the block."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield RoundTrips(monkeypatch)
