"""A gate of N slots shared round-robin between accounts, instead of first come first served.

One account's burst of Pi creates queues behind itself: when a slot frees, it goes to the
account whose turn is next, so another account's single request waits for at most one
create of each account ahead of it, not for the whole burst.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque


class FairGate:
    """Hand out `slots` slots; waiters are served one account at a time, in turn."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("a gate needs at least one slot")
        self._free = slots
        self._lock = threading.Lock()
        # Accounts in turn order, each with its waiters in arrival order.
        self._waiting: OrderedDict[str, deque[threading.Event]] = OrderedDict()

    def acquire(self, account: str, timeout: float) -> bool:
        """Take a slot for the account, waiting up to `timeout` s for its turn; True if taken."""
        with self._lock:
            if self._free > 0 and not self._waiting:
                self._free -= 1
                return True
            granted = threading.Event()
            self._waiting.setdefault(account, deque()).append(granted)
        if granted.wait(max(0.0, timeout)):
            return True
        with self._lock:
            if granted.is_set():  # the slot arrived just as the wait ended: keep it
                return True
            queue = self._waiting.get(account)
            if queue is not None:
                queue.remove(granted)
                if not queue:
                    del self._waiting[account]
        return False

    def release(self) -> None:
        """Give a slot back: straight to the next account in turn, or to the free pool."""
        with self._lock:
            if not self._waiting:
                self._free += 1
                return
            account, queue = next(iter(self._waiting.items()))
            queue.popleft().set()
            if queue:
                self._waiting.move_to_end(account)  # its next request waits for the others
            else:
                del self._waiting[account]

    def waiting(self) -> dict[str, int]:
        """Return how many waiters each account has (in turn order)."""
        with self._lock:
            return {account: len(queue) for account, queue in self._waiting.items()}
