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
from collections.abc import Sequence

import redis
from flask import Flask, current_app

from connector.runtime.redis_store import RedisStore
from connector.runtime.script_trips import ScriptCall, execute_scripts, queue_script

log = logging.getLogger(__name__)

LISTEN_RETRY_SECONDS = 1.0  # between attempts to resubscribe after losing Redis
LISTEN_POLL_SECONDS = 1.0  # a listener wakes this often to notice it should stop
LISTEN_IDLE_SECONDS = 30.0  # a listener nobody needed for this long lets its connection go

COOLDOWN_SECONDS = 1.0  # after a lease term, others wait this long before polling Pi again

# Take the lease when it is free, or when it is only a cool-down and the caller may skip it:
# the tracker (ARGV[3] == '1') always may; others not (so N waiters cannot take turns at Pi).
_LEAD_LUA = """
local held = redis.call('GET', KEYS[1])
if held and not (string.sub(held, 1, 5) == 'cool:' and ARGV[3] == '1') then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

# Only the holder's token ends its term (a lapsed lease may be someone else's now); the term
# ends in a short cool-down, or at once (ARGV[2] == '0').
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '0' then return redis.call('DEL', KEYS[1]) end
redis.call('SET', KEYS[1], 'cool:' .. ARGV[1], 'PX', ARGV[2])
return 1
"""

# Keep holding a lease for another term, if it is still ours.
_EXTEND_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


class Flights:
    """Hand out per-job poll leases and wake local waiters when a job ends."""

    def __init__(self, store: RedisStore, channel: str) -> None:
        self.store = store
        self.redis = store.redis
        self.channel = channel
        self._lead = self.redis.register_script(_LEAD_LUA)
        self._release = self.redis.register_script(_RELEASE_LUA)
        self._extend = self.redis.register_script(_EXTEND_LUA)
        self._lock = threading.Lock()
        self._waiters: dict[str, set[threading.Event]] = {}
        self._listener: threading.Thread | None = None
        self._held: dict[tuple[str, str], str] = {}  # this process's leases, for release_all
        self._closed = threading.Event()

    def lease_key(self, account_id: str, job_id: str) -> str:
        """Return the key of a job's poll lease."""
        return self.store.key("{" + account_id + "}", "poll", job_id)

    def try_lead(
        self,
        account_id: str,
        job_id: str,
        seconds: float,
        *,
        skip_cooldown: bool = False,
        along: Sequence[ScriptCall] = (),
    ) -> str | None:
        """Take the job's poll lease for `seconds`; return its token, or None when it is held.

        `along`: writes sent in the same round trip (the tracker's pending progress).
        """
        token, call = self.lead_call(account_id, job_id, seconds, skip_cooldown=skip_cooldown)
        taken = self._in_one_trip(call, along) if along else call.run()
        return self.note_lead(account_id, job_id, token) if taken else None

    def lead_call(
        self, account_id: str, job_id: str, seconds: float, *, skip_cooldown: bool = False
    ) -> tuple[str, ScriptCall]:
        """Return a new token and the script that takes the lease with it, for a caller's trip.

        When the script answers 1, `note_lead` the token: it is this process's lease then.
        """
        token = uuid.uuid4().hex
        ms = max(1, int(seconds * 1000))
        call = ScriptCall(
            self._lead,
            [self.lease_key(account_id, job_id)],
            [token, ms, "1" if skip_cooldown else "0"],
        )
        return token, call

    def note_lead(self, account_id: str, job_id: str, token: str) -> str:
        """Remember a lease taken with `lead_call`'s token (so `release_all` gives it back)."""
        with self._lock:
            self._held[(account_id, job_id)] = token
        return token

    def extend(
        self,
        account_id: str,
        job_id: str,
        token: str,
        seconds: float,
        *,
        along: Sequence[ScriptCall] = (),
    ) -> bool:
        """Hold our lease for `seconds` more; False when it lapsed (another may hold it now).

        `along`: writes sent in the same round trip (the tracker's pending progress).
        """
        ms = max(1, int(seconds * 1000))
        call = ScriptCall(self._extend, [self.lease_key(account_id, job_id)], [token, ms])
        if self._in_one_trip(call, along) if along else call.run():
            return True
        with self._lock:
            if self._held.get((account_id, job_id)) == token:
                del self._held[(account_id, job_id)]
        return False

    def _in_one_trip(self, call: ScriptCall, along: Sequence[ScriptCall]):
        """Run a lease script and other writes in one round trip; return the lease's answer."""
        pipe = self.redis.pipeline(transaction=False)
        calls = {queue_script(pipe, c): c for c in (call, *along)}
        return execute_scripts(pipe, calls)[0]

    def release(
        self,
        account_id: str,
        job_id: str,
        token: str,
        *,
        cooldown: float = COOLDOWN_SECONDS,
        ended: bool = False,
    ) -> None:
        """End our lease term: after a short cool-down the next waiter may poll Pi.

        `ended`: the job's end is stored, so no waiter will poll Pi for it again: the lease
        is left to lapse (a round trip fewer for every job a tracker follows to its end).
        """
        with self._lock:
            if self._held.get((account_id, job_id)) == token:
                del self._held[(account_id, job_id)]
        if ended:
            return
        ms = int(cooldown * 1000)
        with contextlib.suppress(redis.RedisError):  # it lapses on its own
            self._release(keys=[self.lease_key(account_id, job_id)], args=[token, ms])

    def release_all(self) -> int:
        """Give back every lease this process holds (it is stopping); return how many."""
        with self._lock:
            held = list(self._held.items())
        for (account_id, job_id), token in held:
            self.release(account_id, job_id, token, cooldown=0)
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
