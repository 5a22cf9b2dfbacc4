"""Exactly-once submission: map an idempotency key to one Pi job, atomically."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass

from connector.errors import IdempotencyMismatch, ServiceUnavailable
from connector.jobs.account_limits import ADMIT_LUA, AccountLimits, Reservation
from connector.ledger import Ledger

# Decide whether this caller submits (nil: the key is free), waits for a peer, or reuses a job.
_VERDICT_LUA = """
local function verdict(key, fp, prefix, reuse_failed)
  local v = redis.call('GET', key)
  if not v then return nil end
  local d = cjson.decode(v)
  if d.f ~= fp then return {'mismatch'} end
  if d.s == 'pending' then return {'pending'} end
  if d.s == 'intent' then return {'intent', d.i} end
  local status = redis.call('HGET', prefix .. d.j, 'status')
  if status and not (status == 'failed' and reuse_failed == '0') then
    return {'existing', d.j}
  end
  return nil
end
"""
_CLAIM_LUA = (
    _VERDICT_LUA
    + """
local found = verdict(KEYS[1], ARGV[1], ARGV[4], ARGV[5])
if found then return found end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return {'claimed'}
"""
)
# The same, and the account admits the new job before the key is taken: a refusal writes
# nothing, and an admitted submission saves a round trip. KEYS[2..4], ARGV[6..]: `admit`'s.
_CLAIM_ADMIT_LUA = (
    _VERDICT_LUA
    + ADMIT_LUA
    + """
local found = verdict(KEYS[1], ARGV[1], ARGV[4], ARGV[5])
if found then return found end
local admitted = admit(KEYS[2], KEYS[3], KEYS[4], unpack(ARGV, 6))
if admitted[1] ~= 'ok' then return {'refused', admitted[1], admitted[2]} end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return {'claimed'}
"""
)

# Release a claim only if it is still ours (a Pi failure leaves nothing behind).
_RELEASE_LUA = """
local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v).t == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

PENDING_TTL = 60  # longer than any single Pi create call may take
# In a request the claim is pending only until its intent is written (milliseconds): a claim
# stranded by a Redis outage between the two lapses soon, so the caller's retry goes through.
INTENT_PENDING_TTL = 10
PEER_WAIT_SECONDS = 15.0


def fingerprint(kind: str, body: dict) -> str:
    """Return a stable hash of what is being submitted."""
    canonical = json.dumps({"kind": kind, "body": body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Claim:
    """The outcome of a claim: 'claimed' (we submit), an existing job id, or a queued intent."""

    outcome: str
    redis_key: str
    token: str
    fingerprint: str
    ttl: int
    job_id: str | None = None
    intent_id: str | None = None  # 'intent': the request was accepted, Pi's job id is pending
    reservation: Reservation | None = None  # 'claimed' with an admission: the account's place


class Idempotency:
    """Claim, bind and release idempotency keys in the ledger's Redis."""

    def __init__(self, ledger: Ledger, *, window: int, key_ttl: int) -> None:
        self.ledger = ledger
        self.redis = ledger.redis
        self.window = window
        self.key_ttl = key_ttl
        self._claim = self.redis.register_script(_CLAIM_LUA)
        self._claim_admit = self.redis.register_script(_CLAIM_ADMIT_LUA)
        self._release = self.redis.register_script(_RELEASE_LUA)

    def redis_key(self, account_id: str, kind: str, *, explicit: str | None, basis: str) -> str:
        """Return the Redis key for a caller key or a derived one."""
        raw = f"explicit\x1f{explicit}" if explicit else f"derived\x1f{kind}\x1f{basis}"
        return self.ledger.account_key(account_id, "idem", hashlib.sha256(raw.encode()).hexdigest())

    def claim(
        self,
        account_id: str,
        kind: str,
        body: dict,
        *,
        explicit: str | None,
        basis: str,
        deadline: float | None = None,
        pending_ttl: int = PENDING_TTL,
        admit: tuple[AccountLimits, float] | None = None,
    ) -> Claim:
        """Claim the key, waiting for a concurrent peer until the deadline; raise on a mismatch.

        With `admit` (the account's limits, the hold seconds), a free key is taken only when the
        account admits one more job: the claim carries the reservation, a refusal raises
        AccountLimited and leaves the key as it was.
        """
        key = self.redis_key(account_id, kind, explicit=explicit, basis=basis)
        # A derived key is its basis: bodies sharing it (one brand domain) are one job, no 422.
        fp = fingerprint(kind, body if explicit else {"basis": basis})
        ttl = self.key_ttl if explicit else self.window
        token = uuid.uuid4().hex
        pending = json.dumps({"s": "pending", "f": fp, "t": token})
        job_prefix = self.ledger.job_key(account_id, "")
        reuse_failed = "1" if explicit else "0"  # a derived key never reuses a failed job
        give_up = time.monotonic() + PEER_WAIT_SECONDS
        if deadline is not None:
            give_up = min(give_up, deadline)  # a peer's slow create must not break our budget
        keys, args = [key], [fp, pending, pending_ttl, job_prefix, reuse_failed]
        script = self._claim
        if admit is not None:
            limits, hold = admit
            admit_keys, admit_args = limits.admission(account_id, token, hold)
            keys, args, script = keys + admit_keys, args + admit_args, self._claim_admit
        delay = 0.005
        while True:
            result = script(keys=keys, args=args)
            outcome = result[0].decode()
            if outcome == "refused":
                assert admit is not None
                admit[0].reservation(account_id, token, result[1:])  # raises AccountLimited
            if outcome == "mismatch":
                raise IdempotencyMismatch(
                    "this Idempotency-Key was already used with a different request body; "
                    "send a new key for a different request"
                )
            if outcome == "existing":
                return Claim("existing", key, token, fp, ttl, result[1].decode())
            if outcome == "intent":
                return Claim("intent", key, token, fp, ttl, intent_id=result[1].decode())
            if outcome == "claimed":
                reservation = Reservation(account_id, admit[0].member(token)) if admit else None
                return Claim("claimed", key, token, fp, ttl, reservation=reservation)
            if time.monotonic() > give_up:
                raise ServiceUnavailable(
                    "an identical request is still being submitted; retry in a moment",
                    code="duplicate_in_progress",
                    headers={"Retry-After": "2"},
                )
            time.sleep(delay)  # a peer is submitting the same job right now
            delay = min(delay * 2, 0.05)

    def bind(self, pipe, claim: Claim, job_id: str) -> None:
        """Point the claimed key at the job (inside the ledger write's transaction)."""
        value = json.dumps({"s": "job", "j": job_id, "f": claim.fingerprint, "t": claim.token})
        pipe.set(claim.redis_key, value, ex=claim.ttl)

    def release(self, claim: Claim) -> None:
        """Drop a claim whose submission failed."""
        self._release(keys=[claim.redis_key], args=[claim.token])

    def init_app(self, app) -> None:
        """Register on the app."""
        app.extensions["idempotency"] = self
