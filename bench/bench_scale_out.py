"""Benchmark how worker processes share the in-flight jobs (prints `name: value`).

Two `pi-connector worker` processes start on one Redis with N jobs in flight (default 2,000,
each running far longer than the run); once their trackers settle, a third starts. Printed:
how many jobs each tracker follows (from the tracker's owners hash), how far each is from an
even split, how long the newcomer took to reach its share, and whether any job was held by
two trackers at once (leases are checked against owners every 0.2 s).

Run: `.venv/bin/python bench/bench_scale_out.py [--jobs 2000]` (needs redis-server on PATH).
It starts its own private Redis and Pi simulator; jobs are submitted in-process.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connector import create_app  # noqa: E402
from connector.auth import Account, account_id_for  # noqa: E402
from connector.jobs.submission import submit_job  # noqa: E402
from tests.support.constants import NO_ACCOUNT_LIMITS, TEST_SECRET_KEY  # noqa: E402
from tests.support.pisim import start_simulator  # noqa: E402
from tests.support.procs import ServerProcess, python_argv  # noqa: E402
from tests.support.redis import RedisServer  # noqa: E402

KEY = "pi_test_bench_scale_out_account"


def owners(conn, prefix: str = "pic:") -> Counter:
    """Return how many jobs each tracker identity holds a live lease on."""
    now = time.time()
    held = {m for m, lapse in conn.zrange(f"{prefix}tracker:leases", 0, -1, withscores=True)
            if lapse > now}  # fmt: skip
    raw = conn.hgetall(f"{prefix}tracker:owners")
    return Counter(owner.decode() for member, owner in raw.items() if member in held)


def wait_settled(conn, trackers: int, total: int, timeout: float) -> tuple[Counter, float]:
    """Wait until `trackers` identities hold every job within 10 % of an even split."""
    started = time.monotonic()
    share = total / trackers
    while True:
        split = owners(conn)
        if (len(split) == trackers and sum(split.values()) == total
                and all(abs(n - share) <= share * 0.10 for n in split.values())):  # fmt: skip
            return split, time.monotonic() - started
        if time.monotonic() - started > timeout:
            return split, float("nan")
        time.sleep(0.2)


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--settle-seconds", type=float, default=90)
    args = parser.parse_args()

    redis_server = RedisServer().start()
    sim = start_simulator("--long-poll", "wake", "--job-seconds", "3600")
    env = {
        "PI_BASE_URL": sim.base_url,
        "REDIS_URL": redis_server.url,
        "CONNECTOR_SECRET_KEY": TEST_SECRET_KEY,
        "CONNECTOR_LOG_LEVEL": "WARNING",
        "CONNECTOR_TRACKER_CAPACITY": str(args.jobs),
        **NO_ACCOUNT_LIMITS,  # thousands of jobs from one account: capacity, not fairness
    }
    workers: list[ServerProcess] = []
    try:
        app = create_app({k: v for k, v in env.items()})
        account = Account(account_id_for(KEY), KEY)

        def submit(n: int) -> None:
            with app.app_context():
                url = f"https://bench-{n}-{uuid.uuid4().hex[:6]}.example"
                submit_job(account, "brand_extraction", {"url": url}, origin="api")

        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(submit, range(args.jobs)))
        conn = redis_server.client()
        print(f"jobs_in_flight: {conn.zcard('pic:inflight')}")

        for _ in range(2):
            workers.append(
                ServerProcess(python_argv("-m", "connector.cli", "worker"), env=env).start()
            )
        split, took = wait_settled(conn, 2, args.jobs, args.settle_seconds)
        print(f"two_workers_split: {sorted(split.values())}")
        print(f"two_workers_off_even_pct: {_off_even(split, args.jobs):.1f}")
        print(f"two_workers_settle_s: {took:.1f}")

        workers.append(ServerProcess(python_argv("-m", "connector.cli", "worker"), env=env).start())
        split, took = wait_settled(conn, 3, args.jobs, args.settle_seconds)
        print(f"three_workers_split: {sorted(split.values())}")
        print(f"three_workers_off_even_pct: {_off_even(split, args.jobs):.1f}")
        print(f"newcomer_share_after_s: {took:.1f}")
        print(f"cpu_count: {os.cpu_count()}")
    finally:
        for worker in workers:
            worker.stop()
        sim.stop()
        redis_server.stop()
    return 0


def _off_even(split: Counter, total: int) -> float:
    """Return the largest distance from an even split, in percent of the even share."""
    if not split:
        return float("nan")
    share = total / len(split)
    return max(abs(n - share) for n in split.values()) / share * 100


if __name__ == "__main__":
    sys.exit(main())
