"""Writes that must outlast a short Redis outage: the outcome of a call that already happened."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import redis

T = TypeVar("T")

# A Redis restart (kill, load the AOF, accept connections) takes seconds; a delivery task
# runs for at most 120 s.
WRITE_PATIENCE_SECONDS = 30.0
WRITE_PAUSE_SECONDS = 0.5


def write_patiently(write: Callable[[], T], patience: float = WRITE_PATIENCE_SECONDS) -> T:
    """Run a Redis write, repeating it while Redis is unreachable or loading, up to `patience`.

    For facts about the outside world (a target answered 200): if the task died instead, it
    would run again and the target would get the same call twice. The write must be
    idempotent (HSET, SET, EXPIRE), since a lost reply may hide one that succeeded.
    """
    give_up = time.monotonic() + patience
    while True:
        try:
            return write()
        except (redis.ConnectionError, redis.TimeoutError):  # incl. BusyLoadingError
            if time.monotonic() > give_up:
                raise
            time.sleep(WRITE_PAUSE_SECONDS)
