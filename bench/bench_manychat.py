"""Benchmark the ManyChat endpoints on loopback with real processes (prints `name: value` lines).

1. Push latency: from the simulator finishing a job (`ends_at`) to the setCustomFields call
   arriving at a local fake ManyChat API, over 50 jobs (goal: p50 <= 100 ms).
2. 50 identical concurrent POST /manychat/v1/brands/extract -> Pi create calls (goal: 1).
3. A request whose Pi job hangs: response time p100 over 20 concurrent tries (goal: <= 7.5 s).

Run: `.venv/bin/python bench/bench_manychat.py` (needs redis-server on PATH; about 1.5 minutes).
It starts its own private Redis, Pi simulator (`--long-poll wake`, 1 s jobs), web (gunicorn)
and worker processes, and an in-process fake ManyChat API.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stats import percentile  # noqa: E402
from tests.support.fake_manychat import SEND_FLOW, SET_FIELDS, VALID_KEY, FakeManyChat  # noqa: E402
from tests.support.pisim import DEFAULT_ARGS, start_simulator  # noqa: E402
from tests.support.redis import RedisServer  # noqa: E402
from tests.support.stack import LiveStack  # noqa: E402

KEY = "pi_test_bench_manychat_account"
HEADERS = {"Authorization": f"Bearer {KEY}"}
EXTRACT = "/manychat/v1/brands/extract"
CREATE_ROUTE = "POST /api/v1/brands/extract"


def bench_push(stack: LiveStack, sim, fake: FakeManyChat, jobs: int) -> dict[str, float]:
    """Time job end (simulator ends_at) -> push arrival at ManyChat, one job at a time."""
    fields_ms, flow_ms = [], []
    for n in range(jobs):
        body = {
            "url": f"https://pushbench{n}-{uuid.uuid4().hex[:6]}.example",
            "subscriber_id": str(1000 + n),
            "manychat_api_key": VALID_KEY,
            "flow_ns": "content_bench_flow",
        }
        response = requests.post(stack.base_url + EXTRACT, json=body, headers=HEADERS, timeout=30)
        assert response.status_code == 200, response.text
        job_id = response.json()["job_id"]
        fake.wait_for(SEND_FLOW, n + 1, timeout=30)
        [fields] = fake.calls_to(SET_FIELDS, 1000 + n)
        [flow] = fake.calls_to(SEND_FLOW, 1000 + n)
        assert fields.fields()["job_id"] == job_id
        ends_at = sim.job(job_id)["ends_at"]
        fields_ms.append((fields.at - ends_at) * 1000)
        flow_ms.append((flow.at - ends_at) * 1000)
    return {
        "push_jobs": jobs,
        "push_fields_p50_ms": statistics.median(fields_ms),
        "push_fields_p99_ms": percentile(fields_ms, 99),
        "push_fields_max_ms": max(fields_ms),
        "push_flow_p50_ms": statistics.median(flow_ms),
        "push_flow_p99_ms": percentile(flow_ms, 99),
    }


def bench_concurrent(stack: LiveStack, sim, count: int) -> dict[str, float]:
    """Send `count` identical requests at once; count Pi create calls."""
    before = sim.count(CREATE_ROUTE)
    body = {"url": f"https://concurrent-{uuid.uuid4().hex[:8]}.example"}

    def post(_: int) -> requests.Response:
        return requests.post(stack.base_url + EXTRACT, json=body, headers=HEADERS, timeout=30)

    with ThreadPoolExecutor(max_workers=count) as pool:
        answers = list(pool.map(post, range(count)))
    statuses = {a.status_code for a in answers}
    return {
        "concurrent_requests": count,
        "concurrent_statuses": ",".join(str(s) for s in sorted(statuses)),
        "concurrent_distinct_job_ids": len({a.json().get("job_id") for a in answers}),
        "concurrent_pi_create_calls": sim.count(CREATE_ROUTE) - before,
    }


def bench_hang(stack: LiveStack, tries: int) -> dict[str, float]:
    """Time requests whose Pi job hangs (`hang` host), all at once."""

    def timed(n: int) -> tuple[float, int, str]:
        body = {"url": f"https://hang-{n}-{uuid.uuid4().hex[:6]}.example"}
        started = time.perf_counter()
        response = requests.post(stack.base_url + EXTRACT, json=body, headers=HEADERS, timeout=30)
        elapsed = time.perf_counter() - started
        return elapsed, response.status_code, response.json().get("status", "?")

    with ThreadPoolExecutor(max_workers=tries) as pool:
        results = list(pool.map(timed, range(tries)))
    seconds = [r[0] for r in results]
    return {
        "hang_tries": tries,
        "hang_statuses": ",".join(sorted({f"{r[1]}/{r[2]}" for r in results})),
        "hang_response_p50_s": statistics.median(seconds),
        "hang_response_p100_s": max(seconds),
    }


def main(argv: list[str] | None = None) -> int:
    """Start the stack, run the three benchmarks, print `name: value` lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--hang-tries", type=int, default=20)
    args = parser.parse_args(argv)

    redis_server = RedisServer().start()
    simulator = start_simulator(*DEFAULT_ARGS)
    fake = FakeManyChat().start()
    stack = LiveStack(
        redis_server.url,
        simulator.base_url,
        {"MANYCHAT_API_URL": fake.url, "CONNECTOR_LOG_LEVEL": "WARNING"},
    )
    try:
        stack.start()
        results: dict[str, object] = {}
        results.update(bench_push(stack, simulator.simulator, fake, args.jobs))
        results.update(bench_concurrent(stack, simulator.simulator, args.concurrent))
        results.update(bench_hang(stack, args.hang_tries))
        for name, value in results.items():
            print(f"{name}: {value:.1f}" if isinstance(value, float) else f"{name}: {value}")
    finally:
        for worker in list(stack.workers):
            stack.kill_worker(worker)  # it is stuck in hanging long-polls; no need to wait
        stack.stop()
        fake.stop()
        simulator.stop()
        redis_server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
