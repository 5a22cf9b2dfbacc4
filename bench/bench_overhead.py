"""Benchmark what the connector adds to a job's creation (prints `name: value` lines).

`POST /v1/jobs` through the connector (gunicorn with the shipped `gunicorn.conf.py`) against the
baseline of the same create sent straight to the Pi simulator, one request at a time over one
kept-alive connection each, alternating between the two so the machine's noise hits both
alike. Every request extracts a distinct URL (a new Pi job each time). Figures: median and p90
latency of each, their ratio (goal: connector median ≤ 2× direct), and the web processes' CPU
per request (utime + stime from /proc, robust to a noisy machine).

Run: `.venv/bin/python bench/bench_overhead.py [--requests 300]` (needs redis-server on PATH;
about 20 s). It starts its own private Redis, Pi simulator and gunicorn; no worker.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_web_concurrency import (  # noqa: E402
    cpu_seconds,
    percentile,
    start_py_spy,
    start_web,
)
from tests.support.pisim import start_simulator  # noqa: E402
from tests.support.redis import RedisServer  # noqa: E402

KEY = "pi_test_bench_overhead_account"
HEADERS = {"Authorization": f"Bearer {KEY}"}
WARM_REQUESTS = 20  # per side: imports, first connections, the first pool slots


def main(argv: list[str] | None = None) -> int:
    """Start Redis, the simulator and gunicorn; time both sides; print `name: value` lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per side")
    parser.add_argument("--workers", type=int, default=2, help="WEB_CONCURRENCY")
    parser.add_argument("--profile", help="py-spy record the web workers (collapsed) to PATH")
    args = parser.parse_args(argv)

    redis_server = RedisServer().start()
    simulator = start_simulator("--long-poll", "wake", "--job-seconds", "600")
    web = start_web(redis_server.url, simulator.base_url, args.workers, ())
    connector_url = f"http://127.0.0.1:{web.port}/v1/jobs"
    direct_url = simulator.base_url.rstrip("/") + "/api/v1/brands/extract"
    run_id = uuid.uuid4().hex[:8]
    via, direct = requests.Session(), requests.Session()
    profiler = None

    def through_connector(n: int) -> float:
        body = {"kind": "brand_extraction", "input": {"url": f"https://c{n}-{run_id}.example"}}
        started = time.perf_counter()
        response = via.post(connector_url, json=body, headers=HEADERS, timeout=30)
        elapsed = time.perf_counter() - started
        assert response.status_code == 202, response.text
        return elapsed

    def straight_to_pi(n: int) -> float:
        body = {"url": f"https://d{n}-{run_id}.example"}
        started = time.perf_counter()
        response = direct.post(direct_url, json=body, headers=HEADERS, timeout=30)
        elapsed = time.perf_counter() - started
        assert response.status_code == 202, response.text
        return elapsed

    try:
        for n in range(WARM_REQUESTS):
            through_connector(-1 - n)
            straight_to_pi(-1 - n)
        if args.profile:
            profiler = start_py_spy(web.pid, args.profile)
        load_before = os.getloadavg()[0]
        web_cpu, sim_cpu = cpu_seconds(web.pid), cpu_seconds(simulator.pid)
        connector_s, direct_s = [], []
        for n in range(args.requests):
            connector_s.append(through_connector(n))
            direct_s.append(straight_to_pi(n))
        web_cpu, sim_cpu = cpu_seconds(web.pid) - web_cpu, cpu_seconds(simulator.pid) - sim_cpu
    finally:
        if profiler is not None:
            profiler.send_signal(2)
            profiler.wait(timeout=60)
        web.stop()
        simulator.stop()
        redis_server.stop()

    ms = 1000.0
    connector_p50, direct_p50 = statistics.median(connector_s), statistics.median(direct_s)
    figures: dict[str, object] = {
        "requests_per_side": args.requests,
        "loadavg_1min_before": load_before,
        "connector_p50_ms": connector_p50 * ms,
        "connector_p90_ms": percentile(connector_s, 90) * ms,
        "direct_p50_ms": direct_p50 * ms,
        "direct_p90_ms": percentile(direct_s, 90) * ms,
        "ratio_p50_connector_vs_direct": connector_p50 / direct_p50,
        # The simulator serves both sides' creates, so half its CPU is the connector's share.
        "web_cpu_ms_per_request": web_cpu * ms / args.requests,
        "pisim_cpu_ms_per_create": sim_cpu * ms / (2 * args.requests),
        "loadavg_1min_after": os.getloadavg()[0],
    }
    for name, value in figures.items():
        print(f"{name}: {value:.3f}" if isinstance(value, float) else f"{name}: {value}")
    print(f"goal_met: {connector_p50 <= 2 * direct_p50}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
