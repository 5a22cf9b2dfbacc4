"""Who wants a job's result: per-job subscribers and per-account hooks, and the fan-out to them."""

from __future__ import annotations

import functools
import hashlib
import json
import secrets as pysecrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connector.ledger import JobRecord, Ledger
from connector.runtime.secrets import SecretBox, remember_encrypted_field

# A job's end, in one step: list the job's subscribers and the account's hooks for its events
# (the Python filter of `targets`, in the same order) and mark each delivery queued unless it
# already is. Returns ref, 1|0 pairs: 1 for each delivery this call marked first.
_MARK_TARGETS_LUA = """
local refs = {}
for _, sub_id in ipairs(redis.call('HKEYS', KEYS[1])) do
  refs[#refs + 1] = 'sub:' .. sub_id
end
local wanted = {}
for i = 3, #ARGV do wanted[ARGV[i]] = true end
local hooks = redis.call('HGETALL', KEYS[2])
for i = 1, #hooks, 2 do
  local event = cjson.decode(hooks[i + 1])['event']
  if wanted[event] then refs[#refs + 1] = 'hook:' .. hooks[i] .. ':' .. event end
end
local out = {}
for _, ref in ipairs(refs) do
  out[#out + 1] = ref
  out[#out + 1] = redis.call('HSETNX', KEYS[3], ref, ARGV[1])
end
if #refs > 0 then redis.call('EXPIRE', KEYS[3], ARGV[2]) end
return out
"""


# Commands a caller queues ahead of a read on its pipeline, so both cost one round trip. It
# may return a callback, handed the replies of what it queued once the pipeline has run.
PipeCommands = Callable[[Any], Callable[[list[Any]], None] | None]


@dataclass(frozen=True)
class DeliveryRef:
    """Name one delivery of a job: to one of its subscribers, or to an account hook."""

    subscriber_id: str | None = None
    hook_id: str | None = None
    event: str | None = None

    @classmethod
    def to_subscriber(cls, subscriber_id: str) -> DeliveryRef:
        """Return the delivery to a job's subscriber."""
        return cls(subscriber_id=subscriber_id)

    @classmethod
    def to_hook(cls, hook_id: str, event: str) -> DeliveryRef:
        """Return the delivery of one event to an account hook."""
        return cls(hook_id=hook_id, event=event)

    @classmethod
    def parse(cls, text: str) -> DeliveryRef:
        """Read the stored form ("sub:<id>" or "hook:<id>:<event>"); ValueError when it is not."""
        kind, _, rest = text.partition(":")
        if kind == "sub" and rest:
            return cls.to_subscriber(rest)
        hook_id, _, event = rest.partition(":")
        if kind == "hook" and hook_id and event:
            return cls.to_hook(hook_id, event)
        raise ValueError(f"not a delivery reference: {text!r}")

    def __str__(self) -> str:
        # The stored form: Redis keys, queued-delivery markers and RQ task arguments use it.
        if self.subscriber_id is not None:
            return f"sub:{self.subscriber_id}"
        return f"hook:{self.hook_id}:{self.event}"


@dataclass(frozen=True)
class Subscriber:
    """One party waiting for one job: a kind of delivery, an optional URL and plain data."""

    kind: str
    target: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    secret: str | None = field(default=None, repr=False)

    @functools.cached_property
    def id(self) -> str:
        """Return a stable id, so the same subscriber asking twice is delivered once."""
        # Cached: a submission names its subscribers in five places (the intent, the job).
        raw = json.dumps([self.kind, self.target, self.data], sort_keys=True)
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "target": self.target, "data": self.data})


@dataclass(frozen=True)
class Hook:
    """An account-wide subscription to an event (Zapier REST hooks)."""

    id: str
    account_id: str
    kind: str
    target_url: str
    event: str
    created_at: float


class Subscriptions:
    """Store subscribers and hooks, and decide who gets a finished job."""

    def __init__(self, ledger: Ledger, box: SecretBox) -> None:
        self.ledger = ledger
        self.redis = ledger.redis
        self.box = box
        self._mark_targets = self.redis.register_script(_MARK_TARGETS_LUA)

    def _subs_key(self, account_id: str, job_id: str) -> str:
        return self.ledger.account_key(account_id, "job", job_id, "subs")

    def _secret_key(self, account_id: str, job_id: str) -> str:
        return self.ledger.account_key(account_id, "job", job_id, "subsec")

    def _queued_key(self, account_id: str, job_id: str) -> str:
        return self.ledger.account_key(account_id, "job", job_id, "queued")

    def add(
        self, pipe, account_id: str, job_id: str, subscriber: Subscriber, sealed: str | None = None
    ) -> None:
        """Attach a subscriber to a job (its secret encrypted) inside a pipeline.

        `sealed`: the secret as already encrypted for this subscriber (not encrypted again).
        """
        key = self._subs_key(account_id, job_id)
        pipe.hset(key, subscriber.id, subscriber.to_json())
        pipe.expire(key, self.ledger.retention)
        if subscriber.secret:
            secret_key = self._secret_key(account_id, job_id)
            pipe.hset(secret_key, subscriber.id, sealed or self.box.encrypt(subscriber.secret))
            pipe.expire(secret_key, self.ledger.retention)
            remember_encrypted_field(self.ledger.store, secret_key, subscriber.id, pipe)

    def get(
        self, account_id: str, job_id: str, sub_id: str, *, before: PipeCommands | None = None
    ) -> Subscriber | None:
        """Return a job's subscriber with its secret decrypted, or None.

        `before` queues commands ahead of the read, sent in the same round trip.
        """
        pipe = self.redis.pipeline(transaction=False)  # one round trip for all
        take = before(pipe) if before is not None else None
        queued = len(pipe)
        pipe.hget(self._subs_key(account_id, job_id), sub_id)
        pipe.hget(self._secret_key(account_id, job_id), sub_id)
        replies = pipe.execute()
        if take is not None:
            take(replies[:queued])
        raw, token = replies[queued:]
        if raw is None:
            return None
        data = json.loads(raw)
        secret = self.box.decrypt(token) if token else None
        return Subscriber(data["kind"], data.get("target"), data.get("data") or {}, secret)

    def drop_secret(self, account_id: str, job_id: str, sub_id: str) -> None:
        """Forget a subscriber's secret once it is no longer needed."""
        self.redis.hdel(self._secret_key(account_id, job_id), sub_id)

    def targets(self, record: JobRecord) -> list[DeliveryRef]:
        """Return the deliveries a terminal job owes: its subscribers and matching hooks."""
        pipe = self.redis.pipeline(transaction=False)  # one round trip at each job's end
        pipe.hkeys(self._subs_key(record.account_id, record.job_id))
        pipe.hgetall(self._hooks_key(record.account_id))
        sub_ids, hooks = pipe.execute()
        refs = [DeliveryRef.to_subscriber(s.decode()) for s in sub_ids]
        for hook in self._hooks(record.account_id, hooks):
            if hook.event in record.events:
                refs.append(DeliveryRef.to_hook(hook.id, hook.event))
        return refs

    def mark_targets_queued(self, record: JobRecord) -> list[tuple[DeliveryRef, bool]]:
        """Mark every delivery a terminal job owes queued in one atomic step.

        Return each delivery (as `targets` lists them) with True for those this call marked
        first: each delivery is marked once per job, however many callers race.
        """
        keys = [
            self._subs_key(record.account_id, record.job_id),
            self._hooks_key(record.account_id),
            self._queued_key(record.account_id, record.job_id),
        ]
        # A direct call is one EVALSHA (SCRIPT LOAD only after a restart); in a pipeline
        # redis-py would send SCRIPT EXISTS first.
        found = self._mark_targets(
            keys=keys, args=[repr(time.time()), self.ledger.retention, *record.events]
        )
        return [
            (DeliveryRef.parse(ref.decode()), bool(first))
            for ref, first in zip(found[::2], found[1::2], strict=True)
        ]

    def mark_queued(self, account_id: str, job_id: str, ref: DeliveryRef) -> bool:
        """Return True exactly once per (job, delivery): the caller that should enqueue it."""
        return self.mark_queued_all(account_id, job_id, [ref])[0]

    def mark_queued_all(self, account_id: str, job_id: str, refs: list[DeliveryRef]) -> list[bool]:
        """Mark each delivery queued in one round trip; True for each this call marked first."""
        if not refs:
            return []
        key = self._queued_key(account_id, job_id)
        pipe = self.redis.pipeline(transaction=False)
        now = repr(time.time())
        for ref in refs:
            pipe.hsetnx(key, str(ref), now)
        # Renewing the expiry is harmless: the markers live as long as the job's record.
        pipe.expire(key, self.ledger.retention)
        return [bool(first) for first in pipe.execute()[:-1]]

    # Account hooks
    def _hooks_key(self, account_id: str) -> str:
        return self.ledger.account_key(account_id, "hooks")

    def create_hook(self, account_id: str, kind: str, target_url: str, event: str) -> Hook:
        """Store a new hook and return it."""
        hook = Hook(
            "hk_" + pysecrets.token_hex(10), account_id, kind, target_url, event, time.time()
        )
        value = json.dumps(
            {"kind": kind, "target_url": target_url, "event": event, "created_at": hook.created_at}
        )
        self.redis.hset(self._hooks_key(account_id), hook.id, value)
        return hook

    def get_hook(
        self, account_id: str, hook_id: str, *, before: PipeCommands | None = None
    ) -> Hook | None:
        """Return the account's hook, or None (also for another account's hook).

        `before` queues commands ahead of the read, sent in the same round trip.
        """
        pipe = self.redis.pipeline(transaction=False)
        take = before(pipe) if before is not None else None
        queued = len(pipe)
        pipe.hget(self._hooks_key(account_id), hook_id)
        replies = pipe.execute()
        if take is not None:
            take(replies[:queued])
        raw = replies[queued]
        if raw is None:
            return None
        d = json.loads(raw)
        return Hook(hook_id, account_id, d["kind"], d["target_url"], d["event"], d["created_at"])

    def list_hooks(self, account_id: str) -> list[Hook]:
        """Return the account's hooks."""
        return self._hooks(account_id, self.redis.hgetall(self._hooks_key(account_id)))

    @staticmethod
    def _hooks(account_id: str, raw: dict[bytes, bytes]) -> list[Hook]:
        """Return the hooks of an account's stored hash."""
        hooks = []
        for hook_id, value in raw.items():
            d = json.loads(value)
            hooks.append(
                Hook(
                    hook_id.decode(),
                    account_id,
                    d["kind"],
                    d["target_url"],
                    d["event"],
                    d["created_at"],
                )
            )
        return hooks

    def delete_hook(self, account_id: str, hook_id: str) -> bool:
        """Remove a hook; return whether it existed."""
        return bool(self.redis.hdel(self._hooks_key(account_id), hook_id))

    def init_app(self, app) -> None:
        """Register on the app."""
        app.extensions["subscriptions"] = self
