"""Single flight: one Pi long-poll per job at a time, shared by every waiter in every process.

Whoever holds a job's poll lease (a short Redis key) long-polls Pi; everyone else waits for the
ledger to announce the job's end on a Redis channel, which one listener per process fans out
to local waiters. N waiters on one job therefore cost one Pi call per long-poll window.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid

import redis
from flask import Flask, current_app

from connector.store import Store

log = logging.getLogger("connector.flight")

LISTEN_RETRY_SECONDS = 1.0  # between attempts to resubscribe after losing Redis
LISTEN_POLL_SECONDS = 1.0  # a listener wakes this often to notice it should stop
LISTEN_IDLE_SECONDS = 30.0  # a listener nobody needed for this long lets its connection go

# Delete the lease only when it is still ours: a lapsed lease may belong to someone else now.
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Flights:
    """Hand out per-job poll leases and wake local waiters when a job ends."""

    def __init__(self, store: Store, channel: str) -> None:
        self.store = store
        self.redis = store.redis
        self.channel = channel
        self._release = self.redis.register_script(_RELEASE_LUA)
        self._lock = threading.Lock()
        self._waiters: dict[str, set[threading.Event]] = {}
        self._listener: threading.Thread | None = None
        self._held: dict[tuple[str, str], str] = {}  # this process's leases, for release_all
        self._closed = threading.Event()

    def lease_key(self, account_id: str, job_id: str) -> str:
        """Return the key of a job's poll lease."""
        return self.store.key("{" + account_id + "}", "poll", job_id)

    def try_lead(self, account_id: str, job_id: str, seconds: float) -> str | None:
        """Take the job's poll lease for `seconds`; return its token, or None when it is held."""
        token = uuid.uuid4().hex
        ms = max(1, int(seconds * 1000))
        taken = self.redis.set(self.lease_key(account_id, job_id), token, nx=True, px=ms)
        if not taken:
            return None
        with self._lock:
            self._held[(account_id, job_id)] = token
        return token

    def release(self, account_id: str, job_id: str, token: str) -> None:
        """Give the lease back so the next waiter can poll without waiting for it to lapse."""
        with self._lock:
            if self._held.get((account_id, job_id)) == token:
                del self._held[(account_id, job_id)]
        with contextlib.suppress(redis.RedisError):  # it lapses on its own
            self._release(keys=[self.lease_key(account_id, job_id)], args=[token])

    def release_all(self) -> int:
        """Give back every lease this process holds (it is stopping); return how many."""
        with self._lock:
            held = list(self._held.items())
        for (account_id, job_id), token in held:
            self.release(account_id, job_id, token)
        return len(held)

    def wait_for_end(self, account_id: str, job_id: str, timeout: float) -> bool:
        """Block up to `timeout` s for the announcement that the job ended; True when it came."""
        member = f"{account_id}|{job_id}"
        event = threading.Event()
        with self._lock:
            self._waiters.setdefault(member, set()).add(event)
            self._ensure_listening()
        try:
            return event.wait(timeout)
        finally:
            with self._lock:
                waiting = self._waiters.get(member)
                if waiting is not None:
                    waiting.discard(event)
                    if not waiting:
                        del self._waiters[member]

    def waiting(self) -> int:
        """Return how many local waiters are listening."""
        with self._lock:
            return sum(len(events) for events in self._waiters.values())

    def close(self) -> None:
        """Stop the listener (it notices within a second)."""
        self._closed.set()

    def _ensure_listening(self) -> None:
        """Start the listener unless it runs (call with the lock held)."""
        if self._listener is None or not self._listener.is_alive():
            self._listener = threading.Thread(
                target=self._listen, name="pic-flight-listener", daemon=True
            )
            self._listener.start()

    def _done_listening(self, idle_since: float) -> bool:
        """Retire the listener when nobody has waited for a while (the next waiter restarts it)."""
        with self._lock:
            if self._waiters or time.monotonic() - idle_since < LISTEN_IDLE_SECONDS:
                return False
            self._listener = None
            return True

    def _listen(self) -> None:
        """Relay end announcements to local waiters; resubscribe after a Redis outage."""
        idle_since = time.monotonic()
        while not self._closed.is_set():
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                while not self._closed.is_set():
                    message = pubsub.get_message(timeout=LISTEN_POLL_SECONDS)
                    if message and message.get("type") == "message":
                        self._wake(message["data"])
                    if self.waiting():
                        idle_since = time.monotonic()
                    elif self._done_listening(idle_since):
                        return
            except (redis.RedisError, OSError) as exc:
                if self._done_listening(idle_since):
                    return
                # Waiters still re-read the ledger every second; this only costs latency.
                log.warning("job-end listener lost Redis: %s", type(exc).__name__)
                self._closed.wait(LISTEN_RETRY_SECONDS)
            finally:
                with contextlib.suppress(redis.RedisError, OSError):
                    pubsub.close()

    def _wake(self, data: bytes | str) -> None:
        member = data.decode() if isinstance(data, bytes) else data
        with self._lock:
            events = list(self._waiters.get(member, ()))
        for event in events:
            event.set()

    def init_app(self, app: Flask) -> None:
        """Register the flights on the app."""
        app.extensions["flights"] = self


def get_flights() -> Flights:
    """Return the flights of the current app."""
    return current_app.extensions["flights"]
