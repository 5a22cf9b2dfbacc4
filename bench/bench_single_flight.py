"""Benchmark single flight: N requests waiting on one Pi job vs the naive one-poll-per-waiter.

Shipped: N concurrent `GET /manychat/v1/jobs/<id>` (each waits its 7 s budget) on one running
job, served by gunicorn with the shipped config (two processes), with and without a worker's
tracker also following the job. Baseline: N waiters that each long-poll Pi themselves for the
same 7 s. Pi calls are read from the simulator's stats (`GET /api/v1/jobs/:id`).

Run: `.venv/bin/python bench/bench_single_flight.py` (needs redis-server on PATH; ~1 minute).
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector.pi import PiClient  # noqa: E402
from tests.support.pisim import start_simulator  # noqa: E402
from tests.support.redis import RedisServer  # noqa: E402
from tests.support.stack import LiveStack  # noqa: E402

KEY = "pi_test_bench_single_flight"
HEADERS = {"Authorization": f"Bearer {KEY}"}
JOB_READS = "GET /api/v1/jobs/:id"
BUDGET = 7.0


def new_job(stack: LiveStack) -> str:
    """Submit a job that runs far longer than the waits; return its id."""
    body = {"kind": "brand_extraction", "input": {"url": f"https://secs60-{uuid.uuid4().hex}.ex"}}
    response = requests.post(stack.base_url + "/v1/jobs", json=body, headers=HEADERS, timeout=30)
    response.raise_for_status()
    return response.json()["job_id"]


def connector_waiters(stack: LiveStack, sim, waiters: int) -> dict[str, float]:
    """N ManyChat reads wait on one job at once; count Pi reads and time the answers."""
    job_id = new_job(stack)
    time.sleep(1.0)  # let a tracker (if any) take its first lease term
    before = sim.count(JOB_READS)

    def wait(_: int) -> float:
        started = time.monotonic()
        response = requests.get(
            f"{stack.base_url}/manychat/v1/jobs/{job_id}", headers=HEADERS, timeout=30
        )
        response.raise_for_status()
        return time.monotonic() - started

    with ThreadPoolExecutor(max_workers=waiters) as pool:
        times = list(pool.map(wait, range(waiters)))
    return {"pi_reads": sim.count(JOB_READS) - before, "slowest_s": round(max(times), 2)}


def naive_waiters(sim, base_url: str, job_id: str, waiters: int) -> int:
    """N waiters that each long-poll Pi for the budget; return Pi reads."""
    before = sim.count(JOB_READS)

    def wait(_: int) -> None:
        client = PiClient(KEY, base_url=base_url, timeout=30)
        try:
            client.wait_for_job(job_id, deadline=time.monotonic() + BUDGET, expand="brand")
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=waiters) as pool:
        list(pool.map(wait, range(waiters)))
    return sim.count(JOB_READS) - before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiters", type=int, default=100)
    args = parser.parse_args()
    redis_server = RedisServer().start()
    simulator = start_simulator("--long-poll", "wake")
    sim = simulator.simulator
    stack = LiveStack(redis_server.url, simulator.base_url)
    try:
        stack.web.start()
        web_only = connector_waiters(stack, sim, args.waiters)
        stack.start_worker()
        with_tracker = connector_waiters(stack, sim, args.waiters)
        naive = naive_waiters(sim, simulator.base_url, new_job(stack), args.waiters)
    finally:
        stack.stop()
        simulator.stop()
        redis_server.stop()

    print(f"waiters: {args.waiters} (one job, {BUDGET:.0f} s budget each)")
    print(f"shipped_web_only_pi_reads: {web_only['pi_reads']}")
    print(f"shipped_web_only_slowest_answer_s: {web_only['slowest_s']}")
    print(f"shipped_with_tracker_pi_reads: {with_tracker['pi_reads']}")
    print(f"shipped_with_tracker_slowest_answer_s: {with_tracker['slowest_s']}")
    print(f"baseline_pi_reads: {naive}")
    print(f"ratio_pi_reads_web_only (shipped/baseline): {web_only['pi_reads'] / naive:.3f}")
    print(f"ratio_pi_reads_with_tracker: {with_tracker['pi_reads'] / naive:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
