"""First delivery attempts on the worker's own threads, the moment a job's end is stored.

Queueing a delivery on RQ costs the worker more CPU than the delivery itself (the enqueue, a
thread's dequeue, its heartbeat thread, the started/finished registries: about 4 ms of a
job's ~13 ms, bench/README.md "Issue 12"), and it waits behind other tasks. So the process
whose tracker saw the job end makes the first attempt itself, on a small pool, and the
follower waits for it: the job stays in flight (and its lease held) until the attempt is
over, so a crash meanwhile is found again by a tracker and the delivery re-queued
(`fan_out(recover=True)`). Retries, and whatever the pool cannot take, go to RQ as before.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future

from flask import Flask

from connector.delivery.dispatch import attempt_first
from connector.delivery.subscriptions import DeliveryRef
from connector.ledger import JobRecord

log = logging.getLogger(__name__)

# Attempts waiting for a thread beyond this many per thread go to RQ instead, where any
# worker process may take them.
BACKLOG_PER_THREAD = 64

_Work = tuple[Future, Callable[[], str]]


class FairQueue:
    """Hand out queued work one account at a time, in turn, instead of first come first served.

    When one account's jobs end in a burst, another account's delivery waits for at most one
    attempt of each account ahead of it, not for the whole burst.
    """

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._queues: OrderedDict[str, deque[_Work]] = OrderedDict()
        self._closed = False

    def put(self, account: str, work: _Work) -> None:
        """Queue work for an account."""
        with self._ready:
            self._queues.setdefault(account, deque()).append(work)
            self._ready.notify()

    def get(self) -> _Work | None:
        """Return the next account's oldest work, waiting for some; None once closed and empty."""
        with self._ready:
            while not self._queues:
                if self._closed:
                    return None
                self._ready.wait()
            account, queue = next(iter(self._queues.items()))
            work = queue.popleft()
            if queue:
                self._queues.move_to_end(account)  # its next attempt waits for the others
            else:
                del self._queues[account]
            return work

    def close(self) -> None:
        """Let the takers finish what is queued, then stop."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()


class FirstAttempts:
    """Run the first attempt of each new delivery on this process's pool and wait for it."""

    def __init__(self, app: Flask, *, threads: int) -> None:
        self.app = app
        self.threads = threads
        self.backlog = threads * BACKLOG_PER_THREAD
        self._queue = FairQueue()
        self._lock = threading.Lock()
        self._pending = 0
        self._closed = False
        for n in range(threads):
            name = f"pic-first-attempt-{n}"
            threading.Thread(target=self._take, name=name, daemon=True).start()

    @property
    def pending(self) -> int:
        """Return how many attempts are running or waiting for a thread."""
        with self._lock:
            return self._pending

    def run(self, record: JobRecord, refs: list[DeliveryRef]) -> list[DeliveryRef]:
        """Attempt each delivery now and wait for the attempts; return those left for RQ."""
        started: list[tuple[DeliveryRef, Future]] = []
        left: list[DeliveryRef] = []
        for ref in refs:
            future = self._submit(record, ref)
            if future is None:
                left.append(ref)
            else:
                started.append((ref, future))
        for ref, future in started:
            try:
                future.result()
            except Exception as exc:  # e.g. Redis away mid-attempt: RQ runs it again
                log.warning(
                    "first attempt of a delivery of job %s failed: %s; queued instead",
                    record.job_id,
                    type(exc).__name__,
                )
                left.append(ref)
        return left

    def _submit(self, record: JobRecord, ref: DeliveryRef) -> Future | None:
        """Queue one attempt in its account's turn, or return None when closed or backed up."""
        with self._lock:
            if self._closed or self._pending >= self.backlog:
                return None
            self._pending += 1
        future: Future = Future()
        self._queue.put(record.account_id, (future, lambda: self._attempt(record, ref)))
        return future

    def _take(self) -> None:
        """Run queued attempts, one account's after another's, until closed and drained."""
        while (work := self._queue.get()) is not None:
            future, attempt = work
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(attempt())
            except BaseException as exc:  # handed to the waiting follower, which re-queues
                future.set_exception(exc)

    def _attempt(self, record: JobRecord, ref: DeliveryRef) -> str:
        try:
            with self.app.app_context():
                return attempt_first(record, ref)
        finally:
            self._done()

    def _done(self) -> None:
        with self._lock:
            self._pending -= 1

    def close(self) -> None:
        """Take no more attempts; those already handed over still run to their end."""
        with self._lock:
            self._closed = True
        self._queue.close()

    def init_app(self, app: Flask) -> None:
        """Make fan-outs in this process attempt first deliveries here."""
        app.extensions["first_attempts"] = self
