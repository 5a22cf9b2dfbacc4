"""Benchmark the web tier's floor: CPU per bare request, no Redis and no Pi (prints `name: value`).

Every connector request pays at least what gunicorn (the shipped `gunicorn.conf.py`), gevent
and Flask cost to accept a connection, parse a request and answer it. This bench measures that
with `GET /healthz`, which touches neither Redis nor Pi, sent by 1,000 requests on fresh
connections through 200 client threads: the web processes' CPU seconds (utime + stime from
/proc) over the round, divided by the requests. Issue 12's per-submission target is read
against it.

Run: `.venv/bin/python bench/bench_web_floor.py [--requests 1000] [--rounds 2]` (~15 s).
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_web_concurrency import cpu_seconds, start_web  # noqa: E402
from tests.support.pisim import start_simulator  # noqa: E402
from tests.support.redis import RedisServer  # noqa: E402

CLIENT_THREADS = 200
WARM_REQUESTS = 50


def main(argv: list[str] | None = None) -> int:
    """Start Redis, the simulator and gunicorn; time rounds of bare requests; print figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    redis_server = RedisServer().start()
    simulator = start_simulator()
    web = start_web(redis_server.url, simulator.base_url, 2, ())
    url = f"http://127.0.0.1:{web.port}/healthz"
    try:
        for _ in range(WARM_REQUESTS):
            requests.get(url, timeout=10)
        print(f"loadavg_1min_before: {os.getloadavg()[0]:.3f}")

        def hit(_: int) -> int:
            with requests.Session() as session:  # a fresh connection, as each caller brings
                return session.get(url, timeout=30).status_code

        for n in range(args.rounds):
            before = cpu_seconds(web.proc.pid)
            with ThreadPoolExecutor(CLIENT_THREADS) as pool:
                statuses = list(pool.map(hit, range(args.requests)))
            used = cpu_seconds(web.proc.pid) - before
            print(f"round_{n + 1}_non_200: {sum(s != 200 for s in statuses)}")
            print(f"round_{n + 1}_web_cpu_ms_per_bare_request: {used * 1000 / args.requests:.3f}")
        print(f"loadavg_1min_after: {os.getloadavg()[0]:.3f}")
    finally:
        web.stop()
        simulator.stop()
        redis_server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
