"""Submission intents: a request's job, durable in Redis before its one create goes to Pi.

An intent holds everything needed to submit the job again in another process (kind, input,
origin, subscribers, the idempotency claim; the API key and subscriber secrets sealed) and a
lease: one process at a time may send its create. It is written in the same step that turns
the request's idempotency claim into "intent <id>", so a retry of the request finds it. Once
Pi gives a job id the intent is bound to it in the atomic step that records the job
(`intent_binding`); a submission that cannot succeed ends as a failed job under the intent's
own id.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import redis
from flask import current_app

from connector.delivery.dispatch import fan_out
from connector.delivery.subscriptions import Subscriber
from connector.errors import ServiceUnavailable
from connector.jobs.account_limits import Reservation
from connector.jobs.completion import fail_record
from connector.jobs.idempotency import Claim
from connector.jobs.intent_binding import (
    ATTACHED,
    BOUND,
    FAILED,
    GUARDED_BIND_LUA,
    PENDING,
    settle,
)
from connector.ledger import QUEUED_ID_PREFIX, JobRecord, JobStatus
from connector.runtime.secrets import remember_encrypted_field

# BOUND, FAILED and PENDING are the intent's states (kept in `intent_binding`, which writes them).
__all__ = ["BOUND", "FAILED", "PENDING", "Intent", "Intents", "get_intents", "new_intent_id"]

ACCEPT_RETRY_SECONDS = 1.0  # how long writing an intent waits for Redis to answer again
LEASE_MARGIN = 5.0  # a create ends this long before its lease lapses (clocks, GC pauses)

# Turn our pending claim into "intent <id>" and write the intent with its lease, atomically.
# A claim another request holds now writes nothing; one that vanished (lapsed, or lost in a
# failover) is simply taken again: nothing was sent to Pi yet.
_ACCEPT_LUA = """
local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v).t ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
local fields = {}
local nsec = tonumber(ARGV[7])
for i = 8 + nsec, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[2], unpack(fields))
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[5])
for i = 8, 7 + nsec do redis.call('SADD', KEYS[4], ARGV[i]) end
return 1
"""

# Take over intents whose lease lapsed (oldest first), pushing their lapse time forward.
_TAKE_LUA = """
local taken = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, member in ipairs(taken) do redis.call('ZADD', KEYS[1], ARGV[2], member) end
return taken
"""


@dataclass
class Intent:
    """One accepted request whose job Pi has not (yet) confirmed."""

    intent_id: str
    account_id: str
    kind: str
    payload: dict[str, Any]
    input: dict[str, Any]
    origin: str
    origin_ref: str | None
    request_id: str | None
    created_at: float
    claim: Claim
    state: str = PENDING
    job_id: str | None = None
    attempts: int = 0
    error: str | None = None
    subscribers: list[Subscriber] = field(default_factory=list)
    # How many fields its Redis hash had when this process wrote or read it (None: unknown).
    stored_fields: int | None = None
    # Each subscriber's secret as stored in the intent (by subscriber id), for the job's copy.
    sealed_secrets: dict[str, str] = field(default_factory=dict)

    @property
    def member(self) -> str:
        """Return the intent's entry in the lease set ("account|intent")."""
        return f"{self.account_id}|{self.intent_id}"

    def record(self, job_id: str, status: JobStatus = JobStatus.QUEUED) -> JobRecord:
        """Return the ledger record of this request's job."""
        return JobRecord(
            job_id=job_id,
            account_id=self.account_id,
            kind=self.kind,
            input=self.input,
            origin=self.origin,
            origin_ref=self.origin_ref,
            status=status,
            request_id=self.request_id,
            created_at=self.created_at,
            updated_at=time.time(),
        )


def new_intent_id() -> str:
    """Return a fresh queued id (distinct from Pi's UUID job ids)."""
    return QUEUED_ID_PREFIX + uuid.uuid4().hex


class Intents:
    """Write, lease, bind and fail submission intents in the ledger's Redis."""

    def __init__(self, ledger, box, subscriptions, idempotency, *, lease: float, give_up: float):
        self.ledger = ledger
        self.redis = ledger.redis
        self.box = box
        self.subs = subscriptions
        self.idem = idempotency
        self.lease = lease
        self.give_up = give_up
        self._accept = self.redis.register_script(_ACCEPT_LUA)
        self._take = self.redis.register_script(_TAKE_LUA)
        self.guarded_bind = self.redis.register_script(GUARDED_BIND_LUA)

    # -- keys ---------------------------------------------------------------------------------

    def key(self, account_id: str, intent_id: str) -> str:
        """Return the key of an intent (in its account's keyspace)."""
        return self.ledger.account_key(account_id, "intent", intent_id)

    def leases_key(self) -> str:
        """Return the key of the pending intents, scored by when their lease lapses."""
        return self.ledger.store.key("intents", "leases")

    def pending_ttl(self) -> int:
        """Return how long a pending intent (and its idempotency key) must outlive its give-up."""
        return int(self.give_up + 2 * self.lease + 60)

    # -- accept -------------------------------------------------------------------------------

    def accept(self, intent: Intent, api_key: str, deadline: float | None = None) -> str:
        """Make the intent durable and point the request's claim at it; return the sealed key.

        Nothing is written when it fails (Redis away, or another request holds the claim now).
        A Redis outage is waited out until `deadline`: writing again is harmless (same values).
        """
        key = self.key(intent.account_id, intent.intent_id)
        claim = intent.claim
        sealed = self.box.encrypt(api_key)
        fields: dict[str, str] = {
            "state": PENDING,
            "account_id": intent.account_id,
            "kind": str(intent.kind),
            "payload": json.dumps(intent.payload, sort_keys=True),
            "input": json.dumps(intent.input, sort_keys=True),
            "origin": intent.origin,
            "origin_ref": intent.origin_ref or "",
            "request_id": intent.request_id or "",
            "created_at": repr(intent.created_at),
            "api_key": sealed,
            "idem_key": claim.redis_key,
            "idem_token": claim.token,
            "idem_fp": claim.fingerprint,
            "idem_ttl": str(claim.ttl),
            "attempts": "0",
        }
        secret_fields = ["api_key"]
        for sub in intent.subscribers:
            fields[f"sub:{sub.id}"] = sub.to_json()
            if sub.secret:
                fields[f"subsec:{sub.id}"] = intent.sealed_secrets[sub.id] = self.box.encrypt(
                    sub.secret
                )
                secret_fields.append(f"subsec:{sub.id}")
        idem_value = json.dumps(
            {"s": "intent", "i": intent.intent_id, "f": claim.fingerprint, "t": claim.token}
        )
        ttl = self.pending_ttl()
        lapse = time.time() + self.lease
        index = self.ledger.store.key("secrets", "index")  # as remember_encrypted_field writes
        args = [
            claim.token,
            idem_value,
            max(ttl, claim.ttl),
            ttl,
            intent.member,
            lapse,
            len(secret_fields),
            *[f"{key}\x1f{name}" for name in secret_fields],
            *[item for pair in fields.items() for item in pair],
        ]
        keys = [claim.redis_key, key, self.leases_key(), index]
        pause = 0.1
        # Ride out a reconnect, not an outage: nothing has reached Pi yet, so a longer outage
        # is an honest 503 (the stranded claim lapses in INTENT_PENDING_TTL for the retry).
        give_up = time.monotonic() + ACCEPT_RETRY_SECONDS
        if deadline is not None:
            give_up = min(give_up, deadline)
        while True:
            try:
                accepted = self._accept(keys=keys, args=args)
                break
            except (redis.ConnectionError, redis.TimeoutError):
                # A failover or restart: the claim may be kept or lost; both are handled above.
                if time.monotonic() + pause >= give_up:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 1.0)
        intent.stored_fields = len(fields)
        if not accepted:
            raise ServiceUnavailable(
                "an identical request is still being submitted; retry in a moment",
                code="duplicate_in_progress",
                headers={"Retry-After": "2"},
            )
        return sealed

    # -- read ---------------------------------------------------------------------------------

    def load(self, account_id: str, intent_id: str) -> tuple[Intent, str] | None:
        """Return the intent and its sealed API key (empty once bound), or None."""
        raw = self.redis.hgetall(self.key(account_id, intent_id))
        if not raw or b"state" not in raw:
            return None
        d = {k.decode(): v.decode() for k, v in raw.items()}
        subscribers = self.stored_subscribers(d)
        claim = Claim(
            "intent",
            d.get("idem_key", ""),
            d.get("idem_token", ""),
            d.get("idem_fp", ""),
            int(d.get("idem_ttl") or 0),
        )
        intent = Intent(
            intent_id=intent_id,
            account_id=account_id,
            kind=d.get("kind", ""),
            payload=json.loads(d.get("payload") or "{}"),
            input=json.loads(d.get("input") or "{}"),
            origin=d.get("origin", "api"),
            origin_ref=d.get("origin_ref") or None,
            request_id=d.get("request_id") or None,
            created_at=float(d.get("created_at") or 0),
            claim=claim,
            state=d["state"],
            job_id=d.get("job_id") or None,
            attempts=int(d.get("attempts") or 0),
            error=d.get("error") or None,
            subscribers=subscribers,
            stored_fields=len(d),
        )
        return intent, d.get("api_key", "")

    def stored_subscribers(self, d: dict[str, str]) -> list[Subscriber]:
        """Return the subscribers stored in an intent's fields, secrets unsealed."""
        found = []
        for name, value in d.items():
            if name.startswith("sub:"):
                data = json.loads(value)
                sealed = d.get("subsec:" + name[4:])
                secret = self.box.decrypt(sealed) if sealed else None
                found.append(
                    Subscriber(data["kind"], data.get("target"), data.get("data") or {}, secret)
                )
        return found

    # -- attach late subscribers --------------------------------------------------------------

    def attach(self, account_id: str, intent_id: str, subscribers) -> None:
        """Add a retry's subscribers to the intent, or to its job once it has one."""
        if not subscribers:
            return
        key = self.key(account_id, intent_id)
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    state, job_id = pipe.hmget(key, "state", "job_id")
                    if state is None or state.decode() != PENDING:
                        pipe.reset()
                        break
                    pipe.multi()
                    # Changes the field count a sender's one-step bind checks (intent_binding).
                    pipe.hincrby(key, ATTACHED, 1)
                    for sub in subscribers:
                        pipe.hset(key, f"sub:{sub.id}", sub.to_json())
                        if sub.secret:
                            pipe.hset(key, f"subsec:{sub.id}", self.box.encrypt(sub.secret))
                            remember_encrypted_field(
                                self.ledger.store, key, f"subsec:{sub.id}", pipe
                            )
                    pipe.execute()
                    return
                except redis.WatchError:
                    continue
        if job_id is None:
            return
        record = self.ledger.get(account_id, job_id.decode())
        if record is None:
            return
        pipe = self.redis.pipeline()
        for sub in subscribers:
            self.subs.add(pipe, account_id, record.job_id, sub)
        pipe.execute()
        # Re-read: the job may have ended (and fanned out) before the add.
        fan_out(self.ledger.get(account_id, record.job_id) or record)

    # -- bind, fail, discard ------------------------------------------------------------------

    def bind(
        self,
        intent: Intent,
        sealed_key: str,
        job_id: str,
        deadline: float,
        reservation: Reservation | None = None,
    ) -> JobRecord:
        """Record Pi's job for the intent in one transaction, settling the reservation too."""
        key = self.key(intent.account_id, intent.intent_id)
        return settle(
            self,
            intent,
            key,
            deadline,
            job_id=job_id,
            sealed_key=sealed_key,
            reservation=reservation,
        )

    def fail(self, intent: Intent, message: str, deadline: float) -> JobRecord:
        """End the intent as a failed job under its own id; subscribers hear it as any end."""
        key = self.key(intent.account_id, intent.intent_id)
        record = settle(
            self, intent, key, deadline, job_id=intent.intent_id, sealed_key=None, failure=message
        )
        if record.job_id == intent.intent_id and not record.is_terminal:
            record = fail_record(record, message)
        self.release_lease(intent)
        return record

    def discard(self, intent: Intent) -> None:
        """Remove an intent whose request got an error instead, and free its key."""
        pipe = self.redis.pipeline()
        pipe.delete(self.key(intent.account_id, intent.intent_id))
        pipe.zrem(self.leases_key(), intent.member)
        pipe.execute()
        self.idem.release(intent.claim)

    def release_lease(self, intent: Intent) -> None:
        """Stop offering the intent to other processes (its work is done)."""
        self.redis.zrem(self.leases_key(), intent.member)

    # -- leases -------------------------------------------------------------------------------

    def postpone(self, intent: Intent, delay: float) -> None:
        """Let another attempt take the intent after `delay` seconds (one more attempt)."""
        pipe = self.redis.pipeline()
        pipe.zadd(self.leases_key(), {intent.member: time.time() + delay}, xx=True)
        pipe.hincrby(self.key(intent.account_id, intent.intent_id), "attempts", 1)
        pipe.execute()

    def take_lapsed(self, limit: int) -> list[tuple[str, str]]:
        """Lease up to `limit` intents whose lease lapsed; return (account_id, intent_id)."""
        if limit <= 0:
            return []
        now = time.time()
        raw = self._take(keys=[self.leases_key()], args=[now, now + self.lease, limit])
        taken = []
        for member in raw:
            account_id, _, intent_id = member.decode().partition("|")
            taken.append((account_id, intent_id))
        return taken

    def pending_count(self) -> int:
        """Return how many intents wait for Pi to confirm their create."""
        return int(self.redis.zcard(self.leases_key()))

    def init_app(self, app) -> None:
        """Register on the app."""
        app.extensions["intents"] = self


def get_intents() -> Intents:
    """Return the intents of the current app."""
    return current_app.extensions["intents"]
