"""The worker's side of queued requests: submit the intents whose sender died or gave way.

A web process holds an intent's lease while it sends the create; when that process dies
(or Pi refused the create for now and the intent was postponed), the lease lapses and a
worker takes the intent over here, on a thread of its own, like the tracker adopts jobs.
"""

from __future__ import annotations

import logging
import threading

import redis
from flask import Flask

from connector.jobs.handoff import resume
from connector.jobs.intents import Intents

log = logging.getLogger(__name__)

SCAN_SECONDS = 1.0  # how often lapsed leases are looked for
MAX_SENDERS = 64  # intents one worker submits at once (each a create on Pi)


class Resubmitter:
    """Take over intents whose lease lapsed and submit each on a thread."""

    def __init__(self, app: Flask, *, scan_seconds: float = SCAN_SECONDS) -> None:
        self.app = app
        self.intents: Intents = app.extensions["intents"]
        self.scan_seconds = scan_seconds
        self._running: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._loop: threading.Thread | None = None

    def start(self) -> Resubmitter:
        """Scan in the background until stopped."""
        self._loop = threading.Thread(target=self._scan_loop, name="pic-resubmit", daemon=True)
        self._loop.start()
        return self

    def stop(self, grace: float = 0.0) -> int:
        """Stop taking intents; wait up to `grace` for running ones; return those still running."""
        self._stop.set()
        if self._loop is not None:
            self._loop.join(timeout=2)
        with self._lock:
            running = list(self._running.values())
        for thread in running:
            thread.join(grace)
        # One cut short keeps its lease until it lapses; then another worker takes it over.
        return sum(thread.is_alive() for thread in running)

    def scan_once(self) -> list[str]:
        """Take the intents whose lease lapsed (within capacity) and submit each on a thread."""
        with self._lock:
            free = MAX_SENDERS - len(self._running)
            taken = self.intents.take_lapsed(free)
            for account_id, intent_id in taken:
                thread = threading.Thread(
                    target=self._run,
                    args=(account_id, intent_id),
                    name=f"pic-resubmit-{intent_id[-8:]}",
                    daemon=True,
                )
                self._running[intent_id] = thread
                thread.start()
        return [intent_id for _, intent_id in taken]

    def run_until_idle(self) -> int:
        """Submit every lapsed intent now and wait for each (burst runs, tests)."""
        taken = self.scan_once()
        with self._lock:
            threads = [self._running[i] for i in taken if i in self._running]
        for thread in threads:
            thread.join()
        return len(taken)

    def _scan_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.scan_once()
            except redis.RedisError as exc:
                log.warning("cannot look for queued submissions: %s", type(exc).__name__)
            self._stop.wait(self.scan_seconds)

    def _run(self, account_id: str, intent_id: str) -> None:
        try:
            with self.app.app_context():
                outcome = resume(account_id, intent_id)
            log.info("queued submission %s taken over: %s", intent_id, outcome)
        except Exception as exc:  # one intent's trouble must not stop the others
            log.error("queued submission %s failed: %s", intent_id, type(exc).__name__)
        finally:
            with self._lock:
                self._running.pop(intent_id, None)
