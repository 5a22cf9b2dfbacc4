"""A Sentinel failover under load: no acknowledged job lost, none duplicated, 503 meanwhile.

Real processes: a Redis primary, one replica and three Sentinels (tests/support/sentinel.py),
the Pi simulator, gunicorn web and a worker pointed at the Sentinels. Client threads submit a
steady mix — /v1 jobs with a callback, ManyChat extractions with a push, Zapier actions with a
callback — each with its own idempotency key, and retry a 503 with the same key and body as a
platform would. Mid-stream the primary is SIGKILLed; the Sentinels promote the replica; a
supervisor brings the old primary back as a replica of the new one. Then every job answered
2xx is followed to its end and delivered exactly once, and every key made one Pi job.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import pytest
import requests

from connector.jobs.idempotency import INTENT_PENDING_TTL
from tests.support.fake_manychat import SEND_FLOW, VALID_KEY, FakeManyChat
from tests.support.receiver import Receiver
from tests.support.sentinel import SentinelSet
from tests.support.stack import LiveStack

KEY = "pi_test_sentinel_failover_account"
LOAD_THREADS = 4
RETRY_PAUSE = 0.2  # quicker than Retry-After, so the test sees when 503s stop
GIVE_UP_SECONDS = 60.0
DEBUG = bool(__import__("os").environ.get("PIC_FAILOVER_DEBUG"))
FAST_TRACKING = {
    # A tracker whose Redis write failed mid-job re-adopts it after a short lease.
    "CONNECTOR_TRACKER_LEASE_SECONDS": "3",
    "CONNECTOR_TRACKER_POLL_SECONDS": "3",
    "CONNECTOR_WORKER_MONITORING_SECONDS": "2",
    "CONNECTOR_WORKER_MAINTENANCE_SECONDS": "2",
    "CONNECTOR_WORKER_HEARTBEAT_GRACE_SECONDS": "5",
}


@dataclass
class Attempt:
    started: float
    ended: float
    status: int
    retry_after: str | None
    code: str | None


def _documented_refusal(earlier: list[Attempt], attempt: Attempt) -> bool:
    """Return True for a 503 RELIABILITY.md promises during a failover, with a Retry-After.

    `redis_unavailable` while Redis is away; `duplicate_in_progress` for a retry whose earlier
    attempt was refused after its claim reached the new primary, until that claim's pending
    marker lapses (INTENT_PENDING_TTL after the attempt that wrote it).
    """
    if int(attempt.retry_after or 0) <= 0:
        return False
    if attempt.code == "redis_unavailable":
        return True
    refused = [a for a in earlier if a.status == 503 and a.code == "redis_unavailable"]
    return (
        attempt.code == "duplicate_in_progress"
        and bool(refused)
        and attempt.started <= refused[0].started + INTENT_PENDING_TTL + 1.0
    )


@dataclass
class Submission:
    kind: str
    tag: str
    url: str
    attempts: list[Attempt] = field(default_factory=list)
    job_id: str | None = None


class Load:
    """Threads submitting mixed jobs back to back, each retried on 503 with the same key."""

    def __init__(self, base_url: str, receiver_url: str, manychat_url: str) -> None:
        self.base_url = base_url
        self.receiver_url = receiver_url
        self.manychat_url = manychat_url
        self.submissions: list[Submission] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(LOAD_THREADS)]

    def _request(self, sub: Submission, key: str) -> tuple[str, str, dict, dict]:
        auth = {"Authorization": f"Bearer {KEY}", "Idempotency-Key": key}
        if sub.kind == "v1":
            body = {
                "kind": "brand_extraction",
                "input": {"url": sub.url},
                "callback_url": f"{self.receiver_url}/v1/{sub.tag}",
            }
            return "POST", "/v1/jobs", body, auth
        if sub.kind == "zapier":
            body = {"url": sub.url, "callback_url": f"{self.receiver_url}/zap/{sub.tag}"}
            return "POST", "/zapier/v1/actions/extract_brand", body, auth
        body = {
            "url": sub.url,
            "subscriber_id": sub.tag,
            "manychat_api_key": VALID_KEY,
            "flow_ns": "content_failover",
        }
        return "POST", "/manychat/v1/brands/extract", body, auth

    def _run(self, n: int) -> None:
        session = requests.Session()
        rng = random.Random(n)
        while not self._stop.is_set():
            kind = rng.choice(("v1", "zapier", "manychat"))
            tag = f"{n + 1}{uuid.uuid4().int % 10**12:012d}"  # digits: a ManyChat subscriber id
            # secsN: some jobs are still running on Pi when the primary dies.
            sub = Submission(kind, tag, f"https://fo-{tag}-secs{rng.choice((1, 2, 4))}.example")
            with self._lock:
                self.submissions.append(sub)
            self._submit(session, sub)
            time.sleep(0.05)

    def _submit(self, session: requests.Session, sub: Submission) -> None:
        method, path, body, headers = self._request(sub, str(uuid.uuid4()))
        give_up = time.monotonic() + GIVE_UP_SECONDS
        while time.monotonic() < give_up:
            started = time.monotonic()
            try:
                response = session.request(
                    method, self.base_url + path, json=body, headers=headers, timeout=30
                )
            except requests.RequestException:
                sub.attempts.append(Attempt(started, time.monotonic(), 0, None, None))
                time.sleep(RETRY_PAUSE)
                continue
            payload = response.json() if response.content else {}
            code = (payload.get("error") or {}).get("code") if isinstance(payload, dict) else None
            sub.attempts.append(
                Attempt(
                    started,
                    time.monotonic(),
                    response.status_code,
                    response.headers.get("Retry-After"),
                    code,
                )
            )
            if response.status_code in (200, 201, 202):
                sub.job_id = payload["job_id"]
                return
            if response.status_code != 503:
                return  # anything else is a failure the assertions report
            time.sleep(RETRY_PAUSE)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(GIVE_UP_SECONDS + 35)

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _deliveries(receiver: Receiver, manychat: FakeManyChat) -> Counter:
    """Count deliveries per submission tag: callbacks by path, ManyChat flows by subscriber."""
    seen: Counter = Counter()
    for request in list(receiver.requests):
        seen[request.path.rsplit("/", 1)[1]] += 1
    for call in manychat.calls_to(SEND_FLOW):
        seen[str(call.subscriber_id)] += 1
    return seen


@pytest.mark.timeout(170)
def test_a_sentinel_failover_loses_and_duplicates_no_acknowledged_job(pisim):
    deployment = SentinelSet().start()
    receiver = Receiver().start()
    manychat = FakeManyChat().start()
    env = {**deployment.env(), **FAST_TRACKING, "MANYCHAT_API_URL": manychat.url}
    stack = LiveStack(deployment.primary.url, pisim.base_url, env)
    try:
        stack.start()
        with Load(stack.base_url, receiver.url, manychat.url) as load:
            time.sleep(3)
            old_port = deployment.primary.port
            deployment.primary.kill()
            killed_at = time.monotonic()
            promoted = deployment.wait_promoted(old_port)
            promoted_at = time.monotonic()
            deployment.primary.restart(replica_of=promoted.port)
            deployment.wait_replicated(promoted)
            rejoined_at = time.monotonic()
            time.sleep(6)
        submissions = list(load.submissions)
        acknowledged = [s for s in submissions if s.job_id]
        deadline = time.monotonic() + 60
        while True:
            seen = _deliveries(receiver, manychat)
            missing = [s for s in acknowledged if seen[s.tag] == 0]
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        time.sleep(3)  # a duplicate would arrive now
        seen = _deliveries(receiver, manychat)
        ledger = {
            s.job_id: stack.get(f"/v1/jobs/{s.job_id}", headers={"Authorization": f"Bearer {KEY}"})
            for s in acknowledged
        }
        pi_jobs = Counter(job["input"]["url"] for job in pisim.jobs())
        web_alive = stack.web.proc.poll() is None
        workers_alive = all(w.proc.poll() is None for w in stack.workers)
        logs = stack.logs()
    finally:
        stack.stop()
        manychat.stop()
        receiver.stop()
        deployment.stop()

    attempts = [a for s in submissions for a in s.attempts]
    unavailable = [a for a in attempts if a.status == 503]
    window = (
        (
            min(a.started for a in unavailable) - killed_at,
            max(a.ended for a in unavailable) - killed_at,
        )
        if unavailable
        else (0.0, 0.0)
    )
    lost = [s for s in acknowledged if seen[s.tag] == 0]
    duplicated = [s for s in acknowledged if seen[s.tag] > 1]
    by_kind = Counter(s.kind for s in acknowledged)
    after = [s for s in acknowledged if s.attempts[-1].started > rejoined_at]
    print(
        f"\nsentinel failover: submissions={len(submissions)} acknowledged={len(acknowledged)} "
        f"{dict(by_kind)} after_failover={len(after)} attempts={len(attempts)} "
        f"503s={len(unavailable)} "
        f"503 window={window[0]:.2f}..{window[1]:.2f}s after the kill; "
        f"promoted after {promoted_at - killed_at:.2f}s, old primary a replica after "
        f"{rejoined_at - killed_at:.2f}s; lost={len(lost)} duplicated={len(duplicated)} "
        f"max Pi jobs per key={max(pi_jobs.values())}"
    )
    if DEBUG:
        for s in submissions:
            for a in s.attempts:
                print(s.kind, f"{a.started - killed_at:+.2f} {a.ended - a.started:.2f} {a.status}")
    assert web_alive and workers_alive, logs[-4000:]
    assert {a.status for a in attempts} <= {200, 201, 202, 503}, Counter(a.status for a in attempts)
    for sub in submissions:
        for index, attempt in enumerate(sub.attempts):
            if attempt.status == 503:
                assert _documented_refusal(sub.attempts[:index], attempt), (sub.kind, attempt)
    assert unavailable, "no request fell inside the failover"
    assert len(acknowledged) == len(submissions), "a submission never got a 2xx"
    assert after, "nothing was acknowledged after the failover"
    assert not lost, [(s.kind, s.job_id) for s in lost]
    assert not duplicated, [(s.kind, s.job_id, seen[s.tag]) for s in duplicated]
    assert {r.status_code for r in ledger.values()} == {200}
    assert {r.json()["status"] for r in ledger.values()} == {"completed"}
    assert set(pi_jobs.values()) == {1}, [url for url, n in pi_jobs.items() if n > 1]
