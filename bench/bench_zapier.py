"""Benchmark the Zapier endpoints on loopback with real processes (prints `name: value` lines).

1. GET /zapier/v1/triggers/brands?limit=100 for an account with 10,000 ledger entries
   (goal: p99 <= 50 ms).
2. REST hook delivery: from the simulator's job end (`ends_at`) to arrival at a local
   receiver, over 50 jobs (goal: p50 <= 100 ms).

Run: `.venv/bin/python bench/bench_zapier.py` (needs redis-server on PATH; about a minute).
It starts its own private Redis, Pi simulator, web (gunicorn) and worker processes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stats import percentile  # noqa: E402
from connector import create_app  # noqa: E402
from connector.auth import account_id_for  # noqa: E402
from connector.ledger import JobRecord, get_ledger  # noqa: E402
from tests.support.constants import TEST_SECRET_KEY  # noqa: E402
from tests.support.pisim import DEFAULT_ARGS, start_simulator  # noqa: E402
from tests.support.receiver import Receiver  # noqa: E402
from tests.support.redis import RedisServer  # noqa: E402
from tests.support.stack import LiveStack  # noqa: E402

KEY = "pi_test_bench_zapier_account"


def seed_ledger(redis_url: str, pi_url: str, entries: int) -> None:
    """Write `entries` completed brand extractions for the account straight into the ledger."""
    app = create_app(
        {"REDIS_URL": redis_url, "PI_BASE_URL": pi_url, "CONNECTOR_SECRET_KEY": TEST_SECRET_KEY}
    )
    account_id = account_id_for(KEY)
    start = time.time() - entries
    with app.app_context():
        ledger = get_ledger()
        for n in range(entries):
            record = JobRecord(
                job_id=str(uuid.uuid4()),
                account_id=account_id,
                kind="brand_extraction",
                input={"url": f"https://brand{n}.example"},
                origin="zapier",
                created_at=start + n,
                updated_at=start + n,
            )
            ledger.create(record)
            record.status, record.finished_at = "completed", start + n + 0.5
            record.brand_id = str(uuid.uuid4())
            record.brand = {
                "brand_id": record.brand_id,
                "brand_name": f"Brand {n}",
                "domain": f"brand{n}.example",
                "primary_hex": "#000000",
                "secondary_hex": "#FFFFFF",
                "logo_url": None,
            }
            ledger.finish(record)


def bench_trigger(stack: LiveStack, requests_count: int) -> dict[str, float]:
    """Time GET /triggers/brands?limit=100 over a keep-alive session."""
    session = requests.Session()
    headers = {"Authorization": f"Bearer {KEY}"}
    url = stack.base_url + "/zapier/v1/triggers/brands?limit=100"
    for _ in range(20):  # warm up connections and both gunicorn workers
        session.get(url, headers=headers, timeout=10)
    timings = []
    for _ in range(requests_count):
        started = time.perf_counter()
        response = session.get(url, headers=headers, timeout=10)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200 and len(response.json()) == 100
    return {
        "trigger_brands_requests": requests_count,
        "trigger_brands_p50_ms": statistics.median(timings),
        "trigger_brands_p99_ms": percentile(timings, 99),
        "trigger_brands_max_ms": max(timings),
    }


def bench_hooks(stack: LiveStack, sim, jobs: int) -> dict[str, float]:
    """Time job end (simulator ends_at) -> hook POST arrival, one job at a time."""
    headers = {"Authorization": f"Bearer {KEY}"}
    latencies = []
    with Receiver() as receiver:
        hook = requests.post(
            stack.base_url + "/zapier/v1/hooks",
            headers=headers,
            timeout=10,
            json={"target_url": receiver.url + "/hook", "event": "job.completed"},
        )
        assert hook.status_code == 201, hook.text
        for n in range(jobs):
            # Wait 0: the action answers at once, so the worker's tracking sees the end.
            response = requests.post(
                stack.base_url + "/zapier/v1/actions/extract_brand",
                headers=headers,
                json={"url": f"https://hookbench{n}-{uuid.uuid4().hex[:6]}.example"},
                timeout=30,
            )
            assert response.status_code == 200, response.text
            job_id = response.json()["job_id"]
            [*_, arrived] = receiver.wait_for(n + 1, timeout=30)
            assert arrived.json()["job_id"] == job_id
            ends_at = sim.job(job_id)["ends_at"]
            latencies.append((arrived.at - ends_at) * 1000)
    return {
        "hook_jobs": jobs,
        "hook_delivery_p50_ms": statistics.median(latencies),
        "hook_delivery_p90_ms": percentile(latencies, 90),
        "hook_delivery_max_ms": max(latencies),
    }


def main(argv: list[str] | None = None) -> int:
    """Start the stack, run both benchmarks, print `name: value` lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=50)
    args = parser.parse_args(argv)

    redis_server = RedisServer().start()
    simulator = start_simulator(*DEFAULT_ARGS)
    # A wait budget of 0 makes actions answer at once (the worker follows the job).
    stack = LiveStack(
        redis_server.url,
        simulator.base_url,
        {"CONNECTOR_ZAPIER_WAIT_SECONDS": "0", "CONNECTOR_LOG_LEVEL": "WARNING"},
    )
    try:
        started = time.perf_counter()
        seed_ledger(redis_server.url, simulator.base_url, args.entries)
        print(f"ledger_entries: {args.entries}")
        print(f"seed_seconds: {time.perf_counter() - started:.1f}")
        stack.start()
        results = bench_trigger(stack, args.requests)
        results.update(bench_hooks(stack, simulator.simulator, args.jobs))
        for name, value in results.items():
            print(f"{name}: {value:.1f}" if isinstance(value, float) else f"{name}: {value}")
    finally:
        stack.stop()
        simulator.stop()
        redis_server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
