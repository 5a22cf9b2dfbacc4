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
from concurrent.futures import Future, ThreadPoolExecutor

from flask import Flask

from connector.delivery.dispatch import attempt_first
from connector.delivery.subscriptions import DeliveryRef
from connector.ledger import JobRecord

log = logging.getLogger(__name__)

# Attempts waiting for a thread beyond this many per thread go to RQ instead, where any
# worker process may take them.
BACKLOG_PER_THREAD = 64


class FirstAttempts:
    """Run the first attempt of each new delivery on this process's pool and wait for it."""

    def __init__(self, app: Flask, *, threads: int) -> None:
        self.app = app
        self.threads = threads
        self.backlog = threads * BACKLOG_PER_THREAD
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="pic-first-attempt")
        self._lock = threading.Lock()
        self._pending = 0
        self._closed = False

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
        """Hand one attempt to the pool, or return None when it is closed or backed up."""
        with self._lock:
            if self._closed or self._pending >= self.backlog:
                return None
            self._pending += 1
        try:
            return self._pool.submit(self._attempt, record, ref)
        except RuntimeError:  # the pool shut down meanwhile
            self._done()
            return None

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
        self._pool.shutdown(wait=False)

    def init_app(self, app: Flask) -> None:
        """Make fan-outs in this process attempt first deliveries here."""
        app.extensions["first_attempts"] = self
