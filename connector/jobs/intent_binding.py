"""Bind a submission intent to its job (or its failure): the writes, in one round trip if it can.

The writes are staged once, on a pipeline (`stage_binding`), and go to Redis one of two ways.
Usually the intent is still pending exactly as this process wrote or read it: one Lua call
checks that and applies the staged commands as they are, with the account's reservation
settled in the same step. When the guard fails (another process bound the intent, a retry
attached subscribers, the intent was lost in a failover) or Redis hiccups, the careful path
reads the intent under WATCH and stages the same writes from what is stored now.
"""

from __future__ import annotations

import contextlib
import logging
import time

import redis

from connector.jobs.account_limits import SETTLE_RESERVATION_LUA, Reservation, get_account_limits
from connector.ledger import JobRecord
from connector.runtime.secrets import remember_encrypted_field
from connector.runtime.staged_writes import APPLY_STAGED_LUA, staged_json

log = logging.getLogger(__name__)

PENDING, BOUND, FAILED = "pending", "bound", "failed"
ATTACHED = "attached"  # an intent's field counting the retries that attached subscribers

# KEYS[1]: the intent. ARGV[1]: its field count as this process knows it; ARGV[2..5]: the
# reservation's key, member, job id and slot seconds ('' key: none); ARGV[6]: the staged
# commands (`staged_writes`). Any field added since (an attach bumps ATTACHED)
# changes the count, so a stale view of the subscribers never binds.
GUARDED_BIND_LUA = (
    SETTLE_RESERVATION_LUA
    + APPLY_STAGED_LUA
    + """
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return 0 end
if redis.call('HLEN', KEYS[1]) ~= tonumber(ARGV[1]) then return 0 end
apply_staged(ARGV[6])
if ARGV[2] ~= '' then settle_reservation(ARGV[2], ARGV[3], ARGV[4], ARGV[5]) end
return 1
"""
)


def stage_binding(intents, pipe, intent, key: str, record: JobRecord, sealed_key, failure) -> None:
    """Stage every write that binds the intent to `record` (a failure when no sealed key)."""
    job_id, failing = record.job_id, sealed_key is None
    extra = {"idem": intent.claim.redis_key}
    if not failing:
        extra["api_key"] = sealed_key
    intents.ledger.create(record, pipe, extra=extra)
    if not failing:
        job_key = intents.ledger.job_key(intent.account_id, job_id)
        remember_encrypted_field(intents.ledger.store, job_key, "api_key", pipe)
    else:
        # Nothing to follow on Pi: the failure is stored and fanned out next.
        pipe.zrem(intents.ledger.inflight_key(), f"{intent.account_id}|{job_id}")
    intents.idem.bind(pipe, intent.claim, job_id)
    for sub in intent.subscribers:
        intents.subs.add(pipe, intent.account_id, job_id, sub, intent.sealed_secrets.get(sub.id))
    state = {"state": FAILED if failing else BOUND, "job_id": job_id}
    if failure:
        state["error"] = failure
    pipe.hset(key, mapping=state)
    # The create's material is no longer needed (the job holds its own copies of the key and
    # the subscribers); the id keeps resolving.
    spent = ["payload", "api_key"]
    for sub in intent.subscribers:
        spent += [f"sub:{sub.id}", f"subsec:{sub.id}"]
    pipe.hdel(key, *spent)
    pipe.expire(key, intents.ledger.retention)
    if not failing:
        # A failure keeps its lease until its deliveries are queued.
        pipe.zrem(intents.leases_key(), intent.member)


def settle(
    intents,
    intent,
    key: str,
    deadline: float,
    *,
    job_id: str,
    sealed_key: str | None,
    failure: str | None = None,
    reservation: Reservation | None = None,
) -> JobRecord:
    """Bind the intent to a job (or its failure) unless another process did; return it.

    The reservation, when given, becomes the job's place among the account's jobs in flight.
    """
    record = intent.record(job_id)
    if intent.stored_fields is not None:
        try:
            if _bind_guarded(intents, intent, key, record, sealed_key, failure, reservation):
                return record
        except (redis.ConnectionError, redis.TimeoutError):
            pass  # it may have been applied: the careful path reads what is stored
    record = _settle_watched(intents, intent, key, deadline, record, sealed_key, failure)
    if reservation is not None:
        with contextlib.suppress(redis.RedisError):  # unsettled, it lapses on its own
            get_account_limits().settle(reservation, record.job_id)
    return record


def _bind_guarded(intents, intent, key, record, sealed_key, failure, reservation) -> bool:
    """Apply the staged writes in one call if the intent is as this process knows it."""
    pipe = intents.redis.pipeline(transaction=False)
    stage_binding(intents, pipe, intent, key, record, sealed_key, failure)
    args: list = [intent.stored_fields]
    if reservation is not None:
        args += get_account_limits().settle_args(reservation, record.job_id)
    else:
        args += ["", "", "", ""]
    staged = staged_json(pipe)
    if staged is None:
        return False  # not expressible as JSON text: the watched path sends it as it is
    args.append(staged)
    if not intents.guarded_bind(keys=[key], args=args):
        return False
    intent.state, intent.job_id = (FAILED if sealed_key is None else BOUND), record.job_id
    return True


def _settle_watched(intents, intent, key, deadline, record, sealed_key, failure) -> JobRecord:
    """Bind under WATCH from the intent as stored now, retrying a reconnect until the deadline."""
    pause = 0.25
    while True:
        try:
            with intents.redis.pipeline() as pipe:
                pipe.watch(key)
                raw = {k.decode(): v.decode() for k, v in pipe.hgetall(key).items()}
                if raw.get("state") in (BOUND, FAILED):
                    pipe.reset()
                    # Bound already: by another process, or by our guarded call whose reply
                    # a reconnect lost.
                    intent.state, intent.job_id = raw["state"], raw.get("job_id") or None
                    return _settled_record(intents, intent, raw.get("job_id"), record)
                if raw.get("state") == PENDING:
                    # As stored now: a retry of the request may have added subscribers.
                    intent.subscribers = intents.stored_subscribers(raw)
                    intent.sealed_secrets = {
                        name.removeprefix("subsec:"): token
                        for name, token in raw.items()
                        if name.startswith("subsec:")
                    }
                # Else the intent was lost in a failover: Pi holds the job, so record it from
                # what this process knows rather than orphan it.
                pipe.multi()
                stage_binding(intents, pipe, intent, key, record, sealed_key, failure)
                pipe.execute()
                intent.state = FAILED if sealed_key is None else BOUND
                intent.job_id = record.job_id
                return record
        except redis.WatchError:
            continue
        except (redis.ConnectionError, redis.TimeoutError):
            # Pi may hold the job now: keep trying within the lease, so it is not orphaned.
            if time.monotonic() + pause >= deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 1.0)


def _settled_record(intents, intent, job_id: str | None, fallback: JobRecord) -> JobRecord:
    if job_id and job_id != fallback.job_id:
        # Only a lease that lapsed under a live sender gets here: Pi has two jobs.
        log.warning(
            "intent %s was bound to %s by another process; job %s is an orphan",
            intent.intent_id,
            job_id,
            fallback.job_id,
        )
    return (intents.ledger.get(intent.account_id, job_id) if job_id else None) or fallback
