"""A paced, mixed load of ManyChat, Zapier and /v1 submissions, and the ledger of what came back.

Every submission has its own site (`https://<hint>-<token>.example`), so its Pi job, its
ManyChat contact and its callback path are all found again from one token: the fault tests
count, per acknowledged submission, the Pi jobs created for its URL (the simulator's admin
API) and the deliveries that reached the fakes.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

from tests.support.fake_manychat import SET_FIELDS, VALID_KEY, FakeManyChat
from tests.support.receiver import Receiver

MANYCHAT, ZAPIER, API = "manychat", "zapier", "api"
PATHS = {
    MANYCHAT: "/manychat/v1/brands/extract",
    ZAPIER: "/zapier/v1/actions/extract_brand",
    API: "/v1/jobs",
}
CLIENT_TIMEOUT = 40.0  # past every budget: a client timeout is a failure, not a slow answer
_SUBSCRIBERS = itertools.count(10_000)


@dataclass
class Submission:
    """One request the load sent, and what it got back."""

    platform: str
    token: str
    url: str
    subscriber_id: int | None
    started: float = 0.0
    ended: float = 0.0
    status: int = 0  # 0: no HTTP answer (connection error, client timeout)
    job_id: str | None = None
    detail: str = ""

    @property
    def acknowledged(self) -> bool:
        return 200 <= self.status < 300 and bool(self.job_id)

    @property
    def callback_path(self) -> str:
        return f"/cb/{self.token}"


@dataclass
class Tally:
    """Deliveries and Pi jobs counted per submission after a run."""

    acknowledged: int = 0
    refused: Counter = field(default_factory=Counter)  # status -> count, non-2xx answers
    lost: list[str] = field(default_factory=list)  # acknowledged, never delivered
    duplicated: list[str] = field(default_factory=list)  # delivered (or created) twice
    pi_duplicates: list[str] = field(default_factory=list)  # more than one Pi job for a URL
    unacknowledged_delivered: int = 0  # a 503'd submission that still ran (allowed)

    def summary(self) -> str:
        return (
            f"acknowledged={self.acknowledged} refused={dict(self.refused)} "
            f"lost={len(self.lost)} duplicated={len(self.duplicated)} "
            f"pi_duplicates={len(self.pi_duplicates)} "
            f"unacknowledged_delivered={self.unacknowledged_delivered}"
        )


class MixedLoad:
    """Send `rate` submissions per second, cycling through `platforms`, until stopped."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        receiver_url: str,
        *,
        rate: float = 50.0,
        platforms: tuple[str, ...] = (MANYCHAT, ZAPIER),
        hints: tuple[str, ...] = ("secs2",),
        max_in_flight: int = 400,
        failing_url: str | None = None,
    ) -> None:
        self.base_url = base_url
        # A fresh connection per request: a reused keep-alive connection that the server closes
        # (its 5 s keepalive) just as a request goes out fails on the client side, whatever
        # the server does; load balancers avoid it with an idle timeout below the server's.
        self.headers = {"Authorization": f"Bearer {api_key}", "Connection": "close"}
        self.receiver_url = receiver_url
        self.rate = rate
        self.platforms = platforms
        self.hints = hints
        self.failing_url = failing_url  # every 10th /v1 callback goes here (a failing target)
        self.submissions: list[Submission] = []
        self._pool = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="load")
        self._local = threading.local()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pacer = threading.Thread(target=self._pace, name="load-pacer", daemon=True)

    # -- sending ----------------------------------------------------------------------------

    def _pace(self) -> None:
        """Start one submission every 1/rate seconds on the pool (open loop: no back-pressure)."""
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        for n in itertools.count():
            if self._stop.is_set():
                return
            submission = self._new(n)
            with self._lock:
                self.submissions.append(submission)
            self._pool.submit(self._send, submission)
            next_at += interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _new(self, n: int) -> Submission:
        platform = self.platforms[n % len(self.platforms)]
        hint = self.hints[(n // len(self.platforms)) % len(self.hints)]
        token = uuid.uuid4().hex[:16]
        subscriber = next(_SUBSCRIBERS) if platform == MANYCHAT else None
        return Submission(platform, token, f"https://{hint}-{token}.example", subscriber)

    def _body(self, sub: Submission) -> dict:
        callback = self.receiver_url + sub.callback_path
        if sub.platform == MANYCHAT:
            return {
                "url": sub.url,
                "subscriber_id": str(sub.subscriber_id),
                "manychat_api_key": VALID_KEY,
                "flow_ns": "content_load_flow",
            }
        if sub.platform == ZAPIER:
            return {"url": sub.url, "callback_url": callback}
        if self.failing_url and int(sub.token, 16) % 10 == 0:
            callback = self.failing_url + sub.callback_path
        return {"kind": "brand_extraction", "input": {"url": sub.url}, "callback_url": callback}

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _send(self, sub: Submission) -> None:
        sub.started = time.monotonic()
        try:
            response = self._session().post(
                self.base_url + PATHS[sub.platform],
                json=self._body(sub),
                headers=self.headers,
                timeout=CLIENT_TIMEOUT,
            )
        except requests.RequestException as exc:
            sub.detail = type(exc).__name__
        else:
            sub.status = response.status_code
            try:
                body = response.json()
            except ValueError:
                body = None
            if isinstance(body, dict):
                sub.job_id = body.get("job_id")
                if sub.status >= 400:
                    sub.detail = str(body.get("error", {}).get("code", ""))
            else:
                sub.detail = response.text[:200]
        sub.ended = time.monotonic()

    def start(self) -> MixedLoad:
        self._pacer.start()
        return self

    def stop(self, timeout: float = CLIENT_TIMEOUT + 5) -> None:
        """Stop sending and wait for every answer."""
        self._stop.set()
        self._pacer.join()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> MixedLoad:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- reading the outcome ----------------------------------------------------------------

    def snapshot(self) -> list[Submission]:
        with self._lock:
            return list(self.submissions)

    def failed(self) -> list[Submission]:
        """Return submissions that got no 2xx answer with a job id."""
        return [s for s in self.snapshot() if not s.acknowledged]

    def _delivered(self, sub: Submission, fake: FakeManyChat, receiver: Receiver) -> int:
        if sub.platform == MANYCHAT:
            return len(fake.calls_to(SET_FIELDS, sub.subscriber_id))
        return sum(1 for r in list(receiver.requests) if r.path == sub.callback_path)

    def tally(self, fake: FakeManyChat, receiver: Receiver, pi_jobs: list[dict]) -> Tally:
        """Count deliveries and Pi jobs per submission."""
        per_url = Counter((job.get("input") or {}).get("url") for job in pi_jobs)
        tally = Tally()
        for sub in self.snapshot():
            delivered = self._delivered(sub, fake, receiver)
            if per_url[sub.url] > 1:
                tally.pi_duplicates.append(sub.url)
            if delivered > 1:
                tally.duplicated.append(sub.url)
            if sub.acknowledged:
                tally.acknowledged += 1
                if delivered == 0:
                    tally.lost.append(sub.url)
            else:
                tally.refused[sub.status or sub.detail] += 1
                tally.unacknowledged_delivered += delivered > 0
        return tally

    def wait_delivered(
        self, fake: FakeManyChat, receiver: Receiver, timeout: float
    ) -> list[Submission]:
        """Wait until every acknowledged submission was delivered; return those still missing."""
        deadline = time.monotonic() + timeout
        while True:
            missing = [
                s
                for s in self.snapshot()
                if s.acknowledged and self._delivered(s, fake, receiver) == 0
            ]
            if not missing or time.monotonic() > deadline:
                return missing
            time.sleep(0.5)


# Short RQ heartbeats and tracker leases, so a task or job left behind by a crash is picked up
# in seconds; the grace stays long enough that a busy 2-core machine never looks dead.
FAST_RECOVERY = {
    "CONNECTOR_WORKER_MONITORING_SECONDS": "1",
    "CONNECTOR_WORKER_MAINTENANCE_SECONDS": "1",
    "CONNECTOR_WORKER_HEARTBEAT_GRACE_SECONDS": "3",
    "CONNECTOR_TRACKER_LEASE_SECONDS": "3",
    "CONNECTOR_TRACKER_POLL_SECONDS": "3",
}


def fault_env(manychat_url: str, **extra: str) -> dict[str, str]:
    """Return a live stack's environment for fault runs: the fake ManyChat, quick recovery."""
    return {
        "MANYCHAT_API_URL": manychat_url,
        "CONNECTOR_LOG_LEVEL": "WARNING",
        **FAST_RECOVERY,
        **extra,
    }


def outage_windows(subs: list[Submission], outages: list[tuple[float, float]]) -> list[str]:
    """Describe, per outage, how many requests failed and from when to when (seconds)."""
    described = []
    failed = [s for s in subs if not s.acknowledged]
    for down_at, up_at in outages:
        # Each failure counts for the outage whose kill is nearest to its start: windows of
        # +-10 s around kills 8 s apart made one outage's refusals look like the other's.
        near = [
            s
            for s in failed
            if down_at - 10 <= s.started <= up_at + 10
            and min(outages, key=lambda o: abs(s.started - o[0]))[0] == down_at
        ]
        if not near:
            described.append(f"down {up_at - down_at:.2f}s: 0 failed")
            continue
        first = min(s.started for s in near) - down_at
        last_start = max(s.started for s in near) - up_at
        last = max(s.ended for s in near) - up_at
        # A request that started before the restart may fail late (its wait or its write
        # outlived the outage); the last failing *start* is how long new requests were refused.
        described.append(
            f"down {up_at - down_at:.2f}s: {len(near)} failed, started from {first:+.2f}s "
            f"after the kill to {last_start:+.2f}s after the restart, the last answered "
            f"{last:+.2f}s after the restart"
        )
    return described


def explain(client, job_ids: list[str], limit: int = 5) -> str:
    """Describe what Redis holds about some jobs: their keys, in-flight and lease state."""
    lines = []
    for job_id in job_ids[:limit]:
        lines.append(f"job {job_id}:")
        for key in sorted(client.scan_iter(match=f"*{job_id}*", count=1000)):
            kind = client.type(key).decode()
            if kind == "hash":
                value = {
                    k.decode(): v.decode(errors="replace")[:80]
                    for k, v in client.hgetall(key).items()
                    if k.decode() not in ("input", "brand", "api_key", "secret")
                }
            else:
                value = kind
            lines.append(f"  {key.decode()}: {value}")
        member = next(
            (m for m in client.zrange("pic:inflight", 0, -1) if job_id in m.decode()), None
        )
        lines.append(f"  in flight: {member is not None}")
        registries = {
            name: client.zcard(f"rq:{name}:pic-deliver") for name in ("wip", "failed", "scheduled")
        }
        intermediate = client.llen("rq:queue:pic-deliver:intermediate")
        lines.append(
            f"  rq: queued={client.llen('rq:queue:pic-deliver')} "
            f"intermediate={intermediate} {registries}"
        )
    now = time.time()
    for member, score in client.zrange("rq:wip:pic-deliver", 0, -1, withscores=True)[:limit]:
        job = client.hgetall(f"rq:job:{member.decode().split(':')[0]}")
        fields = (b"status", b"worker_name", b"started_at", b"last_heartbeat", b"retries_left")
        lines.append(
            f"  wip {member.decode()} lapses in {score - now:.0f}s: "
            f"{ {k.decode(): job.get(k) for k in fields} }"
        )
    return "\n".join(lines)
