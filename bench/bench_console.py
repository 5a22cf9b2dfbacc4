"""Benchmark the operator console's pages over 100,000 ledger entries (prints `name: value`).

Seeds a private redis-server with finished jobs (each with a logged delivery, every tenth
failed), signs in with the Flask test client and times each page 50 times. Goal: p99 < 200 ms.

Run: `.venv/bin/python bench/bench_console.py [--entries 100000] [--runs 50]`.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stats import percentile  # noqa: E402
from connector import create_app  # noqa: E402
from connector.delivery.delivery_log import AttemptEntry, get_delivery_log  # noqa: E402
from connector.ledger import JobRecord, get_ledger  # noqa: E402
from tests.support.constants import TEST_SECRET_KEY  # noqa: E402
from tests.support.redis import RedisServer  # noqa: E402

TOKEN = "bench-console-token"
ACCOUNTS = 50


def seed(app, entries: int) -> str:
    """Write `entries` finished jobs with one logged delivery each; return one job's id."""
    start = time.time() - entries
    with app.app_context():
        ledger, log = get_ledger(), get_delivery_log()
        sample = ""
        for batch in range(0, entries, 1000):
            pipe = ledger.redis.pipeline(transaction=False)
            records = []
            for n in range(batch, min(batch + 1000, entries)):
                record = JobRecord(
                    job_id=str(uuid.uuid4()),
                    account_id=f"acct{n % ACCOUNTS:04d}",
                    kind="brand_extraction",
                    input={"url": f"https://brand{n}.example"},
                    origin="api",
                    request_id=f"req_pic_bench{n:08d}",
                    created_at=start + n,
                )
                ledger.create(record, pipe)
                records.append(record)
            pipe.execute()
            for record in records:
                record.status, record.brand_id = "completed", str(uuid.uuid4())
                ledger.finish(record)
                state = "failed" if hash(record.job_id) % 10 == 0 else "delivered"
                entry = AttemptEntry(time.time(), state, host="hooks.example", status=200)
                log.record(record.account_id, record.job_id, "sub:s1", "webhook", entry, state)
            sample = records[-1].job_id
        return sample


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    server = RedisServer().start()
    try:
        app = create_app(
            {
                "REDIS_URL": server.url,
                "PI_BASE_URL": "http://pi.invalid",
                "CONNECTOR_SECRET_KEY": TEST_SECRET_KEY,
                "CONNECTOR_CONSOLE_TOKEN": TOKEN,
                "CONNECTOR_LOG_LEVEL": "WARNING",
            }
        )
        began = time.time()
        job_id = seed(app, args.entries)
        print(f"seeded_entries: {args.entries} in {time.time() - began:.0f} s")
        client = app.test_client()
        form = client.get("/console/login").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        client.post("/console/login", data={"token": TOKEN, "csrf_token": csrf})
        with app.app_context():
            account = get_ledger().redis.get(get_ledger().index_key("job", job_id)).decode()
        pages = {
            "home": "/console/",
            "find_domain": f"/console/find?q=brand{args.entries - 1}.example",
            "find_request_id": f"/console/find?q=req_pic_bench{args.entries // 2:08d}",
            "job": f"/console/jobs/{account}/{job_id}",
            "failed": "/console/failed",
        }
        for name, path in pages.items():
            timings = []
            for _ in range(args.runs):
                started = time.perf_counter()
                response = client.get(path)
                timings.append((time.perf_counter() - started) * 1000)
                assert response.status_code in (200, 302), (path, response.get_data(as_text=True))
            p50, p99 = percentile(timings, 50), percentile(timings, 99)
            print(f"{name}_p50_ms: {p50:.1f}")
            print(f"{name}_p99_ms: {p99:.1f}")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
