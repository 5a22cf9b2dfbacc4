"""When a waiting request stops waiting: its deadline, spread by how many answer with it.

The requests of a burst arrive together, so they share one deadline. Answering them all at
that instant made the last answers late (1,000 ManyChat requests on 2 cores: up to 124 past
the 7.25 s budget), and the answer is what matters, not the last few milliseconds of waiting.
So in the last stretch before its deadline each waiting request picks its moment at random
within (requests waiting in the process - 1) x ANSWER_COST_SECONDS, at most ANSWER_SPREAD_CAP:
a lone request waits until its deadline; 500 spread their answers over 0.75 s, about the CPU
time it takes to write them.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable, Iterator

ANSWER_COST_SECONDS = 0.0015  # CPU to write one answer, in a burst
ANSWER_SPREAD_CAP = 1.5

_lock = threading.Lock()
_waiting = [0]  # requests of this process waiting to answer (guarded by _lock)


def answer_at(deadline: float, waiting: int, draw: float) -> float:
    """Return when a request stops waiting: before the deadline by its share of the load."""
    spread = min(ANSWER_SPREAD_CAP, max(0, waiting - 1) * ANSWER_COST_SECONDS)
    return deadline - spread * min(max(draw, 0.0), 1.0)


@contextlib.contextmanager
def answering() -> Iterator[None]:
    """Count this request among those of the process waiting to answer."""
    with _lock:
        _waiting[0] += 1
    try:
        yield
    finally:
        with _lock:
            _waiting[0] -= 1


def wait_spread(wait: Callable[[float], bool], deadline: float) -> bool:
    """Call `wait(until)` up to the last stretch, then up to this request's spread deadline.

    `wait` returns True once there is nothing more to wait for. The spread is drawn only at
    the last stretch, from how many requests wait by then, so a burst's requests see their
    whole number, not how many had arrived before each of them.
    """
    with answering():
        if wait(deadline - ANSWER_SPREAD_CAP):
            return True
        with _lock:
            waiting = _waiting[0]
        return wait(answer_at(deadline, waiting, random.random()))
