"""Redis SIGKILLed and restarted (same port, same AOF directory) under a mixed load.

Real processes: a private redis-server with `appendonly yes` and `appendfsync always`,
gunicorn web (2 gevent workers), a `pi-connector worker`, the Pi simulator; a fake ManyChat API
and a callback receiver in this process. 50 submissions a second (ManyChat extract with push,
Zapier extract with callback_url) run for the whole test; Redis is killed twice. Every
submission that got a 2xx must be delivered exactly once, and no URL may get two Pi jobs.

`appendfsync everysec` is measured by bench/redis_crash.py instead: what it loses depends on
where the last fsync fell, so it is a figure, not a pass/fail.
"""

from __future__ import annotations

import time

import pytest

from tests.support.fake_manychat import FakeManyChat
from tests.support.mixed_load import MixedLoad, Submission, explain, fault_env, outage_windows
from tests.support.receiver import Receiver
from tests.support.redis import RedisServer
from tests.support.stack import LiveStack

KEY = "pi_test_redis_crash_account"
RATE = 50.0
KILLS_AT = (6.0, 14.0)  # seconds into the load
DOWN_SECONDS = 1.0
LOAD_SECONDS = 22.0


def crash_and_restart(server: RedisServer, down_seconds: float) -> tuple[float, float]:
    """SIGKILL Redis, keep it down, start it on the same port and directory; return the times."""
    server.crash()
    down_at = time.monotonic()
    time.sleep(down_seconds)
    server.start()
    return down_at, time.monotonic()


def run_crashes(stack: LiveStack, server: RedisServer, load: MixedLoad) -> list[tuple]:
    """Run the load and the crashes on their schedule; return (down, up) pairs."""
    began = time.monotonic()
    outages = []
    for at in KILLS_AT:
        time.sleep(max(0.0, began + at - time.monotonic()))
        outages.append(crash_and_restart(server, DOWN_SECONDS))
    time.sleep(max(0.0, began + LOAD_SECONDS - time.monotonic()))
    return outages


@pytest.mark.timeout(300)
def test_acknowledged_jobs_survive_redis_sigkill_with_fsync_always(pisim):
    server = RedisServer(appendonly=True, appendfsync="always", restartable=True).start()
    fake, receiver = FakeManyChat().start(), Receiver().start()
    stack = LiveStack(server.url, pisim.base_url, fault_env(fake.url))
    try:
        stack.start()
        with MixedLoad(stack.base_url, KEY, receiver.url, rate=RATE) as load:
            outages = run_crashes(stack, server, load)
        missing = load.wait_delivered(fake, receiver, timeout=90)
        why = _diagnose(stack, server, missing, outages) if missing else ""
        time.sleep(3)  # a duplicate delivery would arrive now
        tally = load.tally(fake, receiver, pisim.jobs())
        subs = load.snapshot()
    finally:
        stack.stop()
        server.stop()
        fake.stop()
        receiver.stop()

    windows = outage_windows(subs, outages)
    print(f"\nredis sigkill (always): sent={len(subs)} {tally.summary()} refusals={windows}")
    assert not missing, f"{len(missing)} acknowledged never delivered: {_show(missing)}\n{why}"
    shown = _timeline([s for s in subs if s.url in tally.lost + tally.duplicated], outages)
    assert tally.lost == [] and tally.duplicated == [] and tally.pi_duplicates == [], shown
    assert tally.acknowledged > RATE * LOAD_SECONDS * 0.6
    # Refusals happen only around the outages, and as JSON 503s (never a 500 or a hang).
    assert set(tally.refused) <= {503}, tally.refused


def _show(subs: list[Submission]) -> str:
    return ", ".join(f"{s.platform}:{s.url}:{s.job_id}" for s in subs[:10])


def _timeline(subs: list[Submission], outages: list[tuple[float, float]]) -> str:
    """Show when each submission ran relative to the kills."""
    kills = [down for down, _ in outages]
    return "\n".join(
        f"{s.platform} {s.status} {s.job_id} {s.url}: started "
        + ", ".join(f"{s.started - k:+.2f}s" for k in kills)
        + f" from the kills, took {s.ended - s.started:.2f}s"
        for s in subs
    )


def _in_aof(server: RedisServer, subs: list[Submission]) -> str:
    """Say in which AOF files each submission's job id appears (debugging a loss)."""
    from pathlib import Path

    files = sorted(Path(server.dir).rglob("*"))
    lines = [f"aof files: {[f.name for f in files]}"]
    for sub in subs:
        hits = [
            f.name for f in files if f.is_file() and (sub.job_id or "?").encode() in f.read_bytes()
        ]
        lines.append(f"{sub.job_id} in {hits}")
    return "\n".join(lines)


def _diagnose(stack: LiveStack, server: RedisServer, missing: list[Submission], outages) -> str:
    """Say what Redis, the AOF and the logs know about undelivered submissions."""
    errors = [
        line[:400]
        for line in stack.logs().splitlines()
        if ('"ERROR"' in line or "Traceback" in line) and "could not connect" not in line
    ]
    return "\n".join(
        [
            _timeline(missing, outages),
            _in_aof(server, missing),
            explain(server.client(), [s.job_id for s in missing]),
            *errors[-15:],
        ]
    )
