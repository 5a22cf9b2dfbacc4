"""How long a waiting endpoint may take: its platform's budget, counted from the request's arrival.

ManyChat, Zapier and /v1 callers wait on Pi within a budget. Everything a request does —
claiming its idempotency key, Pi's create, the short wait — must fit in it, so the answer
leaves before the platform gives up.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import g

MIN_CREATE_SECONDS = 1.0  # a create needs one round trip to Pi, however short the budget


@dataclass(frozen=True)
class Budget:
    """A request's time budget on the monotonic clock."""

    started: float  # when the request arrived
    seconds: float  # what the platform allows
    margin: float = 0.0  # kept back for the answer's way out

    @property
    def deadline(self) -> float:
        """Return when work must stop so that the answer still arrives in time."""
        return self.started + max(0.0, self.seconds - self.margin)

    @property
    def create_deadline(self) -> float:
        """Return when Pi's create must have answered: the deadline, but never under a second."""
        return max(self.deadline, self.started + MIN_CREATE_SECONDS)

    def left(self, now: float | None = None) -> float:
        """Return the seconds left before the deadline (never negative)."""
        return max(0.0, self.deadline - (time.monotonic() if now is None else now))


def arrival(began: float | None, *, now: float, perf_now: float) -> float:
    """Return when a request arrived on the monotonic clock, from its perf_counter() start."""
    return now - max(0.0, perf_now - began) if began is not None else now


def request_budget(seconds: float, *, margin: float = 0.0) -> Budget:
    """Return the current request's budget, counted from when it arrived."""
    # logs.init_app takes perf_counter() before any view code runs.
    started = arrival(g.get("request_started"), now=time.monotonic(), perf_now=time.perf_counter())
    return Budget(started, seconds, margin)
