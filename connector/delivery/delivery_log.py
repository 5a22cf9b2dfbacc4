"""The delivery log: every attempt of every delivery of a job, kept beside the ledger."""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app

from connector.delivery.subscriptions import DeliveryRef
from connector.ledger import Ledger, iso
from connector.runtime.logs import redact
from connector.runtime.script_trips import ScriptCall, execute_scripts, queue_script

KEEP_FIRST = 3  # a long retry chain keeps its first attempts (what went wrong at first) ...
KEEP_LAST = 17  # ... and its last ones (what is going wrong now)
MAX_MESSAGE = 200
MINUTE_COUNTER_TTL = 2 * 3600
_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]+")


class DeliveryState(StrEnum):
    """A delivery's state after its latest attempt."""

    DELIVERED = "delivered"
    RETRYING = "retrying"
    FAILED = "failed"
    GONE = "gone"
    SKIPPED = "skipped"


STATES = tuple(DeliveryState)

# One attempt, atomically: store the delivery's state hash when given (skipping an attempt it
# shows already stored: a retried write whose reply was lost), merge the summary, append the
# attempt (dropping one from the middle when there are too many), move the delivery to its
# state's index, and clear its busy mark once no attempt follows.
_RECORD_LUA = """
local ttl = tonumber(ARGV[3])
if KEYS[9] then
  local state = cjson.decode(ARGV[11])
  if redis.call('HGET', KEYS[9], 'updated_at') == state['updated_at'] then return 0 end
  local fields = {}
  for k, v in pairs(state) do fields[#fields + 1] = k; fields[#fields + 1] = v end
  redis.call('HSET', KEYS[9], unpack(fields))
  redis.call('EXPIRE', KEYS[9], ttl)
end
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local summary = raw and cjson.decode(raw) or {}
local n = (tonumber(summary['attempts']) or 0) + 1
for k, v in pairs(cjson.decode(ARGV[6])) do summary[k] = v end
summary['attempts'] = n
if not summary['first_at'] then summary['first_at'] = tonumber(ARGV[2]) end
local rawlist = redis.call('HGET', KEYS[2], ARGV[1])
local list = rawlist and cjson.decode(rawlist) or {}
local attempt = cjson.decode(ARGV[7])
attempt['n'] = n
table.insert(list, attempt)
if #list > tonumber(ARGV[4]) + tonumber(ARGV[5]) then table.remove(list, tonumber(ARGV[4]) + 1) end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(summary))
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(list))
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
for i = 4, 8 do
  if i - 3 == tonumber(ARGV[8]) then
    redis.call('ZADD', KEYS[i], ARGV[2], ARGV[9])
    redis.call('EXPIRE', KEYS[i], ttl)
  else
    redis.call('ZREM', KEYS[i], ARGV[9])
  end
end
if ARGV[10] == '1' then redis.call('HDEL', KEYS[3], ARGV[1]) end
return n
"""


def delivery_id(ref_text: str) -> str:
    """Return the stable public id of a delivery from its stored reference."""
    return "dlv_" + hashlib.sha256(ref_text.encode()).hexdigest()[:20]


def host_of(url: str | None) -> str | None:
    """Return host[:port] of a URL: never its path, query or credentials."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    return f"{host}:{port}" if port else host


def sanitize_message(text: str | None, *secrets: str | None) -> str | None:
    """Return a platform's message fit for the log: no secrets, one line, short."""
    if not text:
        return None
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    text = _CONTROL.sub(" ", redact(text)).strip()
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


@dataclass(frozen=True)
class AttemptEntry:
    """What the log keeps of one attempt (no URL, no token)."""

    at: float
    result: str
    host: str | None = None
    status: int | None = None
    error: str | None = None
    latency_ms: float | None = None
    message: str | None = None
    next_retry_at: float | None = None


class DeliveryLog:
    """Write and read the delivery log in the account's keyspace, within the ledger's retention."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.redis = ledger.redis
        self._record = self.redis.register_script(_RECORD_LUA)

    # -- keys ---------------------------------------------------------------------------
    def _summary_key(self, account_id: str, job_id: str) -> str:
        return self.ledger.account_key(account_id, "job", job_id, "dl")

    def _attempts_key(self, account_id: str, job_id: str) -> str:
        return self.ledger.account_key(account_id, "job", job_id, "dla")

    def _busy_key(self, account_id: str, job_id: str) -> str:
        return self.ledger.account_key(account_id, "job", job_id, "dlbusy")

    def _state_key(self, account_id: str, state: str) -> str:
        return self.ledger.account_key(account_id, "dlstate", state)

    def failed_key(self) -> str:
        """Return the key of the global index of failed deliveries (member "acct|job|id")."""
        return self.ledger.store.key("dlfailed")

    def _minute_key(self, minute: int) -> str:
        return self.ledger.store.key("dlstats", str(minute))

    # -- writing ------------------------------------------------------------------------
    def record(
        self,
        account_id: str,
        job_id: str,
        ref_text: str,
        kind: str,
        entry: AttemptEntry,
        state: DeliveryState | str,
        *,
        settled: bool = False,
        state_hash: tuple[str, dict[str, Any]] | None = None,
    ) -> None:
        """Append one attempt and set the delivery's state (one round trip to Redis).

        `settled`: no attempt follows this one, so the delivery is no longer in flight.
        `state_hash`: (key, fields) of the delivery's own state, stored in the same atomic
        step; its `updated_at` makes the write safe to repeat (`write_patiently`).
        """
        state = DeliveryState(state)
        did = delivery_id(ref_text)
        summary = {
            "delivery_id": did,
            "ref": ref_text,
            "kind": kind,
            "host": entry.host,
            "state": state.value,
            "status": entry.status,
            "error": entry.error,
            "message": entry.message,
            "updated_at": entry.at,
            "next_retry_at": entry.next_retry_at or False,
        }
        attempt = {k: v for k, v in asdict(entry).items() if v is not None}
        keys = [
            self._summary_key(account_id, job_id),
            self._attempts_key(account_id, job_id),
            self._busy_key(account_id, job_id),
        ]
        keys += [self._state_key(account_id, s) for s in STATES]
        args = [did, repr(entry.at), self.ledger.retention, KEEP_FIRST, KEEP_LAST]
        args += [json.dumps(summary), json.dumps(attempt), STATES.index(state) + 1]
        args += [f"{job_id}|{did}", "1" if settled else "0"]
        if state_hash is not None:
            key, fields = state_hash
            keys.append(key)
            args.append(json.dumps({k: str(v) for k, v in fields.items()}))
        pipe = self.redis.pipeline(transaction=False)
        record = ScriptCall(self._record, keys, args)
        index = queue_script(pipe, record)
        member = f"{account_id}|{job_id}|{did}"
        if state == DeliveryState.FAILED:
            pipe.zadd(self.failed_key(), {member: entry.at})
        else:
            pipe.zrem(self.failed_key(), member)
        minute_key = self._minute_key(int(entry.at // 60))
        pipe.hincrby(minute_key, entry.result, 1)
        pipe.expire(minute_key, MINUTE_COUNTER_TTL)
        execute_scripts(pipe, {index: record})

    def mark_busy(
        self, account_id: str, job_id: str, ref_text: str, seconds: float, pipe: Any = None
    ) -> None:
        """Note that an attempt is queued or running for the next `seconds`.

        With `pipe`, only queue the writes there (the caller's round trip sends them).
        """
        key = self._busy_key(account_id, job_id)
        own = pipe is None
        if own:
            pipe = self.redis.pipeline(transaction=False)
        pipe.hset(key, delivery_id(ref_text), repr(time.time() + seconds))
        pipe.expire(key, self.ledger.retention)
        if own:
            pipe.execute()

    def clear_busy(self, account_id: str, job_id: str, ref_text: str) -> None:
        """Note that no attempt of the delivery is queued or running any more."""
        self.redis.hdel(self._busy_key(account_id, job_id), delivery_id(ref_text))

    def claim(self, account_id: str, job_id: str, ref_text: str, seconds: float) -> bool:
        """Mark the delivery busy unless it already is; True for the caller that may enqueue."""
        key, did = self._busy_key(account_id, job_id), delivery_id(ref_text)
        until = self.redis.hget(key, did)
        if until is not None and float(until) > time.time():
            return False
        # A lost race here costs one duplicate attempt, which receivers dedupe (webhook-id).
        self.mark_busy(account_id, job_id, ref_text, seconds)
        return True

    # -- reading ------------------------------------------------------------------------
    def deliveries(self, account_id: str, job_id: str) -> list[dict[str, Any]]:
        """Return every logged delivery of a job with its attempts, oldest first."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(self._summary_key(account_id, job_id))
        pipe.hgetall(self._attempts_key(account_id, job_id))
        pipe.hgetall(self._busy_key(account_id, job_id))
        summaries, attempts, busy = pipe.execute()
        now = time.time()
        found = []
        for did, raw in summaries.items():
            item = _summary(raw)
            item["attempt_log"] = json.loads(attempts.get(did) or "[]")
            until = busy.get(did)
            item["in_flight"] = until is not None and float(until) > now
            found.append(item)
        return sorted(found, key=lambda d: d.get("first_at") or 0)

    def delivery(self, account_id: str, job_id: str, did: str) -> dict[str, Any] | None:
        """Return one delivery of a job with its attempts, or None."""
        found = [d for d in self.deliveries(account_id, job_id) if d["delivery_id"] == did]
        return found[0] if found else None

    def by_state(self, account_id: str, state: str, limit: int = 50) -> list[dict[str, Any]]:
        """Return the account's deliveries now in `state`, newest first."""
        members = self.redis.zrevrange(self._state_key(account_id, state), 0, max(limit, 1) - 1)
        pairs = [m.decode().split("|", 1) for m in members]
        return [d for d in self._summaries(account_id, pairs) if d["state"] == state]

    def failed(self, limit: int = 50, since: float = 0.0) -> list[dict[str, Any]]:
        """Return failed deliveries of every account, newest first (with account and job)."""
        members = self.redis.zrevrangebyscore(
            self.failed_key(), "+inf", since, start=0, num=max(limit, 1)
        )
        found = []
        for member in members:
            account_id, job_id, did = member.decode().split("|", 2)
            for item in self._summaries(account_id, [(job_id, did)]):
                if item["state"] == DeliveryState.FAILED:
                    found.append(item)
        return found

    def _summaries(self, account_id: str, pairs: list[list[str] | tuple[str, str]]) -> list[dict]:
        pipe = self.redis.pipeline(transaction=False)
        for job_id, did in pairs:
            pipe.hget(self._summary_key(account_id, job_id), did)
        found = []
        for (job_id, _), raw in zip(pairs, pipe.execute(), strict=True):
            if raw is not None:  # expired with its job: the index entry is stale
                found.append({**_summary(raw), "job_id": job_id, "account_id": account_id})
        return found

    def outcomes_last_hour(self, now: float | None = None) -> dict[str, int]:
        """Return attempts by result over the last 60 minutes."""
        minute = int((now or time.time()) // 60)
        pipe = self.redis.pipeline(transaction=False)
        for m in range(minute - 59, minute + 1):
            pipe.hgetall(self._minute_key(m))
        totals: dict[str, int] = dict.fromkeys(STATES, 0)
        for counts in pipe.execute():
            for result, count in counts.items():
                name = result.decode()
                totals[name] = totals.get(name, 0) + int(count)
        return totals

    def init_app(self, app: Flask) -> None:
        """Register the log on the app."""
        app.extensions["delivery_log"] = self


def _summary(raw: bytes) -> dict[str, Any]:
    item = json.loads(raw)
    # Lua's cjson writes an absent retry time as false and may write integers as floats.
    item["next_retry_at"] = item.get("next_retry_at") or None
    item["attempts"] = int(item.get("attempts") or 0)
    return item


def public_view(item: dict[str, Any]) -> dict[str, Any]:
    """Return a delivery as the API, the console and the CLI show it (no reference, no URL)."""
    view = {
        "delivery_id": item["delivery_id"],
        "kind": item.get("kind"),
        "host": item.get("host"),
        "state": item.get("state"),
        "attempts": item.get("attempts", 0),
        "in_flight": bool(item.get("in_flight")),
        "redeliverable": redeliverable(item),
        "status": item.get("status"),
        "error": item.get("error"),
        "message": item.get("message"),
        "first_at": iso(item.get("first_at")),
        "updated_at": iso(item.get("updated_at")),
        "next_retry_at": iso(item.get("next_retry_at")),
    }
    if "job_id" in item:
        view["job_id"] = item["job_id"]
    if "attempt_log" in item:
        view["attempt_log"] = [_attempt_view(a) for a in item["attempt_log"]]
    return view


def redeliverable(item: dict[str, Any]) -> bool:
    """Return True when dispatch can send the delivery again (not a task's own write)."""
    try:
        DeliveryRef.parse(str(item.get("ref", "")))
    except ValueError:
        return False
    return True


def _attempt_view(attempt: dict[str, Any]) -> dict[str, Any]:
    return {
        "n": int(attempt.get("n") or 0),
        "at": iso(attempt.get("at")),
        "state": attempt.get("result"),
        "host": attempt.get("host"),
        "status": int(attempt["status"]) if attempt.get("status") is not None else None,
        "error": attempt.get("error"),
        "latency_ms": attempt.get("latency_ms"),
        "message": attempt.get("message"),
        "next_retry_at": iso(attempt.get("next_retry_at")),
    }


def get_delivery_log() -> DeliveryLog:
    """Return the delivery log of the current app."""
    return current_app.extensions["delivery_log"]
