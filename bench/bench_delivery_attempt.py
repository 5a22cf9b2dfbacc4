"""Benchmark the worker's CPU per first delivery attempt of a signed /v1 webhook (`name: value`).

Times `connector.delivery.dispatch.attempt_first` (mark busy, read the target, sign, POST,
log) in this process against a keep-alive receiver in another process and a private
redis-server, in three variants interleaved round by round so all see the same machine:

- `new`: the signing secrets read with the target, the POST straight on the pinned pool;
- `requests_path`: the same, with the POST forced through requests (as under `responses`);
- `old`: the POST through requests and the secrets read on their own (as before issue 12).

CPU is this process's (`time.process_time()`: user + system, every thread); the receiver's is
not counted. Reported: the median over rounds of each round's CPU per attempt.

Run: `.venv/bin/python bench/bench_delivery_attempt.py [--rounds 9] [--attempts 300]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connector import create_app  # noqa: E402
from connector.delivery import direct_send  # noqa: E402
from connector.delivery.dispatch import attempt_first  # noqa: E402
from connector.delivery.subscriptions import DeliveryRef, Subscriber  # noqa: E402
from connector.ledger import JobStatus  # noqa: E402
from tests.support.constants import TEST_SECRET_KEY, WEBHOOK_SECRET  # noqa: E402
from tests.support.jobs import stored_job  # noqa: E402
from tests.support.redis import RedisServer  # noqa: E402
from tests.support.round_trips import counting  # noqa: E402

VARIANTS = ("new", "requests_path", "old")
ACCOUNT = "bench-account"
# The receiver: tests/support/wire.py's keep-alive server, alone in its own process.
RECEIVER = (
    "import sys, time; from tests.support.wire import WireServer; s = WireServer(); "
    "print(s.port, flush=True); sys.stdin.read()"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="rounds of each variant")
    parser.add_argument("--attempts", type=int, default=300, help="attempts per variant a round")
    args = parser.parse_args()
    redis_server = RedisServer().start()
    receiver = subprocess.Popen(
        [sys.executable, "-c", RECEIVER], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        port = int(receiver.stdout.readline())
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
        results = run(app, f"http://127.0.0.1:{port}/hooks/catch/42/abc", args)
    finally:
        receiver.stdin.close()
        receiver.wait(timeout=10)
        redis_server.stop()
    load = os.getloadavg()
    print(f"rounds: {args.rounds}")
    print(f"attempts_per_variant_per_round: {args.attempts}")
    for name in VARIANTS:
        per_round, trips = results[name]
        print(f"cpu_us_per_attempt_{name}_p50: {statistics.median(per_round):.1f}")
        print(f"cpu_us_per_attempt_{name}_min: {min(per_round):.1f}")
        print(f"redis_round_trips_per_attempt_{name}: {trips}")
    new, old = statistics.median(results["new"][0]), statistics.median(results["old"][0])
    print(f"saved_us_per_attempt_old_minus_new: {old - new:.1f}")
    # Each round ran the variants back to back: their difference sees the same machine.
    for name in ("requests_path", "old"):
        paired = [b - a for a, b in zip(results["new"][0], results[name][0], strict=True)]
        print(f"saved_us_per_attempt_vs_{name}_paired_p50: {statistics.median(paired):.1f}")
    print(f"ratio_new_over_old: {new / old:.3f}")
    print(f"loadavg_1_5_15: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0


class Variant:
    """Switch the app to one variant for the block (and back)."""

    def __init__(self, app, name: str) -> None:
        self.app, self.name = app, name
        self.prefetches = app.extensions["delivery_prefetches"]
        self.webhook = self.prefetches["webhook"]
        self.stock = direct_send.stock

    def __enter__(self) -> Variant:
        if self.name != "new":
            direct_send.stock = lambda adapter: False  # as a patched adapter would be
        if self.name == "old":
            del self.prefetches["webhook"]  # deliver_webhook reads the secrets itself
        return self

    def __exit__(self, *exc: object) -> None:
        direct_send.stock = self.stock
        self.prefetches["webhook"] = self.webhook


def run(app, url: str, args) -> dict[str, tuple[list[float], int]]:
    """Return, per variant, each round's CPU µs per attempt and the Redis trips of one attempt."""
    per_round: dict[str, list[float]] = {name: [] for name in VARIANTS}
    trips: dict[str, int] = {}
    serial = 0

    def prepared(count: int) -> list:
        nonlocal serial
        work = []
        for _ in range(count):
            serial += 1
            sub = Subscriber("webhook", f"{url}?n={serial}")
            record = stored_job(app, ACCOUNT, f"bench-{serial:08d}", sub)
            record.status, record.brand_id = JobStatus.COMPLETED, f"brand-{serial}"
            work.append((record, DeliveryRef.to_subscriber(sub.id)))
        return work

    with app.app_context():
        for name in VARIANTS:  # warm up: connections, scripts, code paths
            with Variant(app, name):
                for record, ref in prepared(50):
                    assert attempt_first(record, ref) == "delivered"
                [(record, ref)] = prepared(1)
                with counting() as counted:
                    attempt_first(record, ref)
                trips[name] = counted.count
        for _ in range(args.rounds):
            for name in VARIANTS:
                work = prepared(args.attempts)
                with Variant(app, name):
                    started = time.process_time()
                    for record, ref in work:
                        attempt_first(record, ref)
                    spent = time.process_time() - started
                per_round[name].append(spent / args.attempts * 1e6)
    return {name: (per_round[name], trips[name]) for name in VARIANTS}


if __name__ == "__main__":
    sys.exit(main())
