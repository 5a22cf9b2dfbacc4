"""Benchmark what the delivery log adds to one delivery attempt (prints `name: value` lines).

Times `connector.delivery.dispatch._attempt` (a signed /v1 webhook POSTed to a local
receiver answering 200) with the delivery log written, and with its writes replaced by no-ops,
interleaved so both see the same machine. Goal: the log adds <= 1 ms at the median.

Run: `.venv/bin/python bench/bench_delivery_log.py [--attempts 1000]` (needs redis-server on PATH).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector import create_app  # noqa: E402
from connector.delivery import dispatch, outcomes  # noqa: E402
from connector.delivery.delivery_log import DeliveryLog  # noqa: E402
from connector.delivery.subscriptions import DeliveryRef  # noqa: E402
from connector.ledger import JobRecord, get_ledger  # noqa: E402
from tests.support.constants import TEST_SECRET_KEY, WEBHOOK_SECRET  # noqa: E402
from tests.support.receiver import Receiver  # noqa: E402
from tests.support.redis import RedisServer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=1000, help="attempts per variant")
    args = parser.parse_args()
    redis_server = RedisServer().start()
    receiver = Receiver().start()
    try:
        app = create_app(
            {
                "REDIS_URL": redis_server.url,
                "PI_BASE_URL": "http://pi.invalid",
                "CONNECTOR_SECRET_KEY": TEST_SECRET_KEY,
                "CONNECTOR_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "CONNECTOR_ALLOW_PRIVATE_TARGETS": True,
                "CONNECTOR_LOG_LEVEL": "WARNING",
            }
        )
        with_log, without_log = run(app, receiver, args.attempts)
    finally:
        receiver.stop()
        redis_server.stop()
    p50_with, p50_without = statistics.median(with_log), statistics.median(without_log)
    print(f"attempts_per_variant: {args.attempts}")
    print(f"attempt_p50_with_log_ms: {p50_with:.3f}")
    print(f"attempt_p50_without_log_ms: {p50_without:.3f}")
    print(f"log_overhead_p50_ms: {p50_with - p50_without:.3f}")
    print(f"ratio_with_over_without: {p50_with / p50_without:.3f}")
    return 0


def run(app, receiver: Receiver, attempts: int) -> tuple[list[float], list[float]]:
    """Return per-attempt milliseconds with and without the log, interleaved."""
    with_log: list[float] = []
    without_log: list[float] = []
    real = DeliveryLog.record
    with app.app_context():
        ledger = get_ledger()
        for n in range(attempts * 2 + 50):
            record = JobRecord(
                job_id=str(uuid.uuid4()),
                account_id="bench",
                kind="brand_extraction",
                input={"url": "https://acme.example"},
                origin="api",
                status="completed",
                brand_id=str(uuid.uuid4()),
            )
            ref = DeliveryRef.to_subscriber(f"s{n}")
            target = outcomes.Target(ref, "webhook", receiver.url + "/hook", {})
            logged = n % 2 == 0
            if not logged:
                DeliveryLog.record = lambda *a, **k: None  # type: ignore[method-assign]
            started = time.perf_counter()
            dispatch._attempt(ledger, record, target, ref, 1)
            elapsed = (time.perf_counter() - started) * 1000
            DeliveryLog.record = real  # type: ignore[method-assign]
            if n < 50:
                continue  # warm-up: connection pools, script loading
            (with_log if logged else without_log).append(elapsed)
    return with_log, without_log


if __name__ == "__main__":
    sys.exit(main())
