"""Redis stopped and restarted under load: 503 JSON meanwhile, recovery without restarts.

Real processes: a private redis-server with appendonly (fsync always) in its own directory,
gunicorn web, an RQ worker, the Pi simulator; load comes from client threads.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass

import pytest
import requests

from tests.support.constants import NO_ACCOUNT_LIMITS
from tests.support.receiver import Receiver
from tests.support.redis import RedisServer
from tests.support.stack import LiveStack

KEY = "pi_test_redis_outage_account"
AUTH = {"Authorization": f"Bearer {KEY}"}
# A request whose Pi job exists waits out the outage to record it (by design), so a load
# thread caught there sends nothing more until Redis is back; probes that start only once
# Redis is down are always refused meanwhile.
LOAD_THREADS = 6
PROBE_THREADS = 2


@dataclass
class Answer:
    started: float
    ended: float
    status: int
    body: dict | None
    text: str


class Load:
    """Threads submitting distinct jobs back to back until stopped."""

    def __init__(self, base_url: str, threads: int = LOAD_THREADS) -> None:
        self.base_url = base_url
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            body = {
                "kind": "brand_extraction",
                "input": {"url": f"https://o-{uuid.uuid4().hex}.ex"},
            }
            started = time.monotonic()
            try:
                response = session.post(
                    self.base_url + "/v1/jobs", json=body, headers=AUTH, timeout=20
                )
            except requests.RequestException as exc:
                answer = Answer(started, time.monotonic(), 0, None, repr(exc))
            else:
                try:
                    parsed = response.json()
                except ValueError:
                    parsed = None
                answer = Answer(
                    started, time.monotonic(), response.status_code, parsed, response.text
                )
            with self._lock:
                self.answers.append(answer)
            time.sleep(0.02)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)


@pytest.fixture
def durable_redis():
    server = RedisServer(appendonly=True).start()
    yield server
    server.stop()


def _first_success_after(base_url: str, since: float, timeout: float = 30.0) -> float:
    """Return how long after `since` a submission first succeeded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = {"kind": "brand_extraction", "input": {"url": f"https://r-{uuid.uuid4().hex}.ex"}}
        try:
            response = requests.post(base_url + "/v1/jobs", json=body, headers=AUTH, timeout=10)
            if response.status_code in (200, 202):
                return time.monotonic() - since
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError("the app did not recover after Redis came back")


def test_a_redis_outage_answers_503_json_and_the_app_recovers_without_restart(durable_redis, pisim):
    # Back-to-back submissions from one account: its own limits would answer 429 meanwhile.
    stack = LiveStack(durable_redis.url, pisim.base_url, NO_ACCOUNT_LIMITS).start()
    web_pid, worker_pids = stack.web.pid, [w.pid for w in stack.workers]
    try:
        with Load(stack.base_url) as load:
            time.sleep(1.5)
            durable_redis.stop()  # SIGTERM: redis fsyncs the AOF and exits
            down_at = time.monotonic()
            time.sleep(0.25)
            with Load(stack.base_url, PROBE_THREADS) as probes:
                time.sleep(2.75)
            # Leaving waits for the probes' last answers: a request hung by the outage
            # ends here as a timeout (status 0), still inside it.
            up_at = time.monotonic()
            durable_redis.start()  # same port, same directory
            recovery = _first_success_after(stack.base_url, up_at)
            time.sleep(1.5)
        # Only a live worker tracks the job to its end and POSTs the callback.
        with Receiver() as receiver:
            after = stack.post(
                "/v1/jobs",
                json={
                    "kind": "brand_extraction",
                    "input": {"url": "https://after-outage.example"},
                    "callback_url": receiver.url + "/after",
                },
                headers=AUTH,
            )
            assert after.status_code == 202, after.text
            [callback] = receiver.wait_for(1, timeout=40)
        assert callback.json()["data"]["job_id"] == after.json()["job_id"]
        assert callback.json()["data"]["status"] == "completed"
        accepted = [a for a in load.answers if a.status in (200, 202)]
        stored = {
            a.body["job_id"]: stack.get(f"/v1/jobs/{a.body['job_id']}", headers=AUTH).status_code
            for a in accepted
        }
        assert stack.web.proc.poll() is None
        alive = [w.pid for w in stack.workers if w.proc.poll() is None]
        worker_log = "\n".join(w.output()[-5000:] for w in stack.workers)
    finally:
        stack.stop()

    answers = load.answers + probes.answers
    during = [a for a in answers if a.started > down_at + 0.2 and a.ended < up_at]
    statuses = sorted({a.status for a in answers})
    print(
        f"\nredis outage: requests={len(answers)} accepted={len(accepted)} "
        f"during_outage={len(during)} statuses={statuses} recovery={recovery:.2f}s"
    )
    assert any(a in during for a in probes.answers), "no probe fell inside the outage"
    for answer in during:
        assert answer.status == 503, answer.text
        assert answer.body["error"]["code"] == "redis_unavailable"
        assert answer.body["error"]["message"]
        assert "Traceback" not in answer.text
    # Requests in flight at the stop or the restart may land either way, but always as JSON.
    assert all(a.status in (200, 202, 503) and a.body for a in answers), statuses
    assert set(stored.values()) == {200}, "a request that got a 2xx has no ledger entry"
    assert len(accepted) > len(during) / 4  # load ran before and after the outage too
    assert stack.web.pid == web_pid and alive == worker_pids, worker_log
