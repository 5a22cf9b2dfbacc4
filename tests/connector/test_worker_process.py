"""The worker process end to end: one process follows many jobs, hands leases back on SIGTERM,
and its log lines carry the request id of the HTTP request that submitted the job."""

from __future__ import annotations

import json
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import redis
import requests

from tests.support.procs import free_port
from tests.support.receiver import Receiver

KEY = "pi_test_worker_process_account"
AUTH = {"Authorization": f"Bearer {KEY}"}


def _submit(stack, receiver: Receiver, count: int, seconds: int, tag: str) -> list[str]:
    def one(n: int) -> str:
        body = {
            "kind": "brand_extraction",
            "input": {"url": f"https://secs{seconds}-{tag}-{n}.example"},
            "callback_url": f"{receiver.url}/cb/{tag}/{n}",
        }
        response = stack.post("/v1/jobs", json=body, headers=AUTH)
        assert response.status_code == 202, response.text
        return response.json()["job_id"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, range(count)))


def _deliveries(receiver: Receiver) -> dict[str, int]:
    counts: dict[str, int] = {}
    for request in list(receiver.requests):
        job_id = request.json()["data"]["job_id"]
        counts[job_id] = counts.get(job_id, 0) + 1
    return counts


def _json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def _wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_one_worker_process_follows_sixty_jobs_at_once_and_delivers_each_once(live_stack):
    conn = redis.Redis.from_url(live_stack.redis_url)
    [worker] = live_stack.workers
    with Receiver() as receiver:
        job_ids = _submit(live_stack, receiver, 60, 6, "many")
        peak = 0
        deadline = time.monotonic() + 60
        while len(_deliveries(receiver)) < 60 and time.monotonic() < deadline:
            owners = {v.decode() for v in conn.hgetall("pic:tracker:owners").values()}
            peak = max(peak, conn.hlen("pic:tracker:owners"))
            assert len(owners) <= 1  # all of them in the one process
            time.sleep(0.1)
        time.sleep(1)  # a duplicate would arrive now
        delivered = _deliveries(receiver)

    assert peak == 60, peak  # every job followed at the same time by one process
    assert delivered == dict.fromkeys(job_ids, 1)
    assert worker.proc.poll() is None
    assert conn.zcard("pic:tracker:leases") == 0 and conn.zcard("pic:inflight") == 0


def test_a_stopping_worker_hands_its_jobs_to_the_next_one_at_once(live_stack):
    conn = redis.Redis.from_url(live_stack.redis_url)
    [worker] = live_stack.workers
    with Receiver() as receiver:
        job_ids = _submit(live_stack, receiver, 10, 8, "restart")
        _wait_until(lambda: conn.hlen("pic:tracker:owners") == 10, 15, "jobs were not adopted")
        worker.kill(signal.SIGTERM)
        assert worker.proc.wait(timeout=20) == 0
        live_stack.workers.remove(worker)
        scores = [score for _, score in conn.zrange("pic:tracker:leases", 0, -1, withscores=True)]
        assert scores == [0] * 10  # handed back, not left to lapse
        assert _deliveries(receiver) == {}

        successor = live_stack.start_worker()
        _wait_until(lambda: len(_deliveries(receiver)) == 10, 40, "jobs were not delivered")
        time.sleep(1)
        delivered = _deliveries(receiver)

    assert delivered == dict.fromkeys(job_ids, 1)
    assert conn.hgetall("pic:tracker:owners") == {}  # all ended: the successor cleared them
    assert successor.proc.poll() is None


def test_worker_log_lines_carry_the_request_id_of_the_submitting_request(live_stack):
    request_id = "req_trace_follow_me_0001"
    with Receiver() as receiver:
        body = {
            "kind": "brand_extraction",
            "input": {"url": "https://secs1-trace.example"},
            "callback_url": f"{receiver.url}/cb/trace",
        }
        response = live_stack.post(
            "/v1/jobs", json=body, headers={**AUTH, "X-Request-Id": request_id}
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        _wait_until(lambda: receiver.requests, 30, "the job was not delivered")
        time.sleep(0.5)  # the delivery's log line follows the POST

    [worker] = live_stack.workers
    lines = [json.loads(line) for line in worker.output().splitlines() if line.startswith("{")]
    web_lines = [
        json.loads(ln) for ln in live_stack.web.output().splitlines() if ln.startswith("{")
    ]
    delivery = [
        line
        for line in lines
        if line.get("logger") == "connector.delivery.dispatch" and line.get("job_id") == job_id
    ]
    assert delivery and all(line.get("request_id") == request_id for line in delivery)
    assert any(line.get("request_id") == request_id for line in web_lines)


def test_a_worker_with_a_metrics_port_exposes_its_pi_calls(live_stack_factory):
    port = free_port()
    stack = live_stack_factory(CONNECTOR_WORKER_METRICS_PORT=str(port))
    with Receiver() as receiver:
        _submit(stack, receiver, 1, 1, "metrics")
        _wait_until(lambda: receiver.requests, 30, "the job was not delivered")
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert 'pic_pi_calls_total{endpoint="GET /api/v1/jobs/:id",status="200"}' in text
    assert 'pic_deliveries_total{kind="webhook",outcome="delivered"} 1.0' in text
