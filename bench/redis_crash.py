"""Redis SIGKILLed under load (`appendfsync everysec` or always): what acknowledged work is lost.

The same run as tests/reliability/test_redis_crash.py (50 submissions a second, ManyChat with
push and Zapier with callbacks, Redis killed with SIGKILL and restarted on the same port and
AOF directory), printed as figures instead of asserted: with `everysec` a crash may lose the
writes of the last second, and how many depends on where the last fsync fell.

Run: `.venv/bin/python bench/redis_crash.py --fsync everysec --runs 3` (about 1 min a run).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.reliability.test_redis_crash import (  # noqa: E402
    LOAD_SECONDS,
    RATE,
    _diagnose,
    run_crashes,
)
from tests.support.fake_manychat import FakeManyChat  # noqa: E402
from tests.support.mixed_load import MixedLoad, fault_env, outage_windows  # noqa: E402
from tests.support.pisim import DEFAULT_ARGS, start_simulator  # noqa: E402
from tests.support.receiver import Receiver  # noqa: E402
from tests.support.redis import RedisServer  # noqa: E402
from tests.support.stack import LiveStack  # noqa: E402

KEY = "pi_test_bench_redis_crash"


def one_run(fsync: str, simulator) -> dict[str, object]:
    """Run the load with two crashes; return what was acknowledged, lost and duplicated."""
    simulator.simulator.reset()
    server = RedisServer(appendonly=True, appendfsync=fsync, restartable=True).start()
    fake, receiver = FakeManyChat().start(), Receiver().start()
    stack = LiveStack(server.url, simulator.base_url, fault_env(fake.url))
    try:
        stack.start()
        with MixedLoad(stack.base_url, KEY, receiver.url, rate=RATE) as load:
            outages = run_crashes(stack, server, load)
        missing = load.wait_delivered(fake, receiver, timeout=90)  # as the test waits
        if missing:
            print(_diagnose(stack, server, missing, outages))
        time.sleep(3)
        tally = load.tally(fake, receiver, simulator.simulator.jobs())
    finally:
        stack.stop()
        server.stop()
        fake.stop()
        receiver.stop()
    subs = load.snapshot()
    return {
        "sent": len(subs),
        "acknowledged": tally.acknowledged,
        "lost": len(missing),
        "duplicated": len(tally.duplicated),
        "pi_duplicates": len(tally.pi_duplicates),
        "refused": dict(tally.refused),
        "outages": outage_windows(subs, outages),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the crash scenario `--runs` times and print one line per run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fsync", choices=("always", "everysec"), default="everysec")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    simulator = start_simulator(*DEFAULT_ARGS)
    try:
        print(f"fsync: {args.fsync}  load_seconds: {LOAD_SECONDS}  rate: {RATE}/s  kills: 2/run")
        for n in range(args.runs):
            print(f"run_{n + 1}: {one_run(args.fsync, simulator)}")
    finally:
        simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
