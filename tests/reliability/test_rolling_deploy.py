"""A rolling deploy under load: every gunicorn worker, then every `pi-connector worker`, restarted.

Real processes: gunicorn web (2 gevent workers), two `pi-connector worker` processes, a
private redis-server (AOF, fsync always), the Pi simulator; a fake ManyChat API and a callback
receiver in this process. 50 submissions a second (ManyChat extract with push, Zapier extract
with callback_url; jobs of 2 s and 6 s, so ManyChat requests wait in the web and jobs are in
flight in the workers) run while each process is sent SIGTERM in turn and replaced, the way an
orchestrator rolls a deploy. Expected: no failed request, every job delivered exactly once.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.support.fake_manychat import FakeManyChat
from tests.support.faults import descendants
from tests.support.mixed_load import MixedLoad, explain, fault_env
from tests.support.procs import ServerProcess
from tests.support.receiver import Receiver
from tests.support.redis import RedisServer
from tests.support.stack import LiveStack

KEY = "pi_test_rolling_deploy_account"
RATE = 50.0
SETTLE = 3.0  # seconds of plain load between two restarts


def web_workers(stack: LiveStack) -> list[int]:
    """Return the gunicorn worker pids (the master's children)."""
    master = stack.web.pid
    return [pid for pid in descendants(master) if _parent(pid) == master]


def _parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return -1


def restart_web_worker(stack: LiveStack, pid: int, timeout: float = 40.0) -> float:
    """SIGTERM one gunicorn worker; return how long until the master had replaced it."""
    before = set(web_workers(stack))
    started = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    while time.monotonic() - started < timeout:
        now = set(web_workers(stack))
        if pid not in now and len(now) == len(before):
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"gunicorn did not replace worker {pid}")


def restart_worker(stack: LiveStack, worker: ServerProcess) -> tuple[float, int]:
    """SIGTERM one worker process, start its replacement; return (stop seconds, exit code)."""
    started = time.monotonic()
    worker.kill(signal.SIGTERM)
    code = worker.proc.wait(timeout=60)
    took = time.monotonic() - started
    stack.workers.remove(worker)
    stack.start_worker()
    return took, code


@pytest.mark.timeout(300)
def test_a_rolling_deploy_under_load_fails_no_request_and_delivers_every_job_once(pisim):
    server = RedisServer(appendonly=True).start()
    fake, receiver = FakeManyChat().start(), Receiver().start()
    stack = LiveStack(server.url, pisim.base_url, fault_env(fake.url))
    steps: list[str] = []
    try:
        stack.web.start()
        for _ in range(2):
            stack.start_worker()
        began = time.monotonic()
        with MixedLoad(
            stack.base_url, KEY, receiver.url, rate=RATE, hints=("secs2", "secs6")
        ) as load:
            time.sleep(SETTLE)
            for pid in web_workers(stack):
                at = time.monotonic() - began
                took = restart_web_worker(stack, pid)
                steps.append(f"web {pid}: SIGTERM at {at:.2f}s, replaced in {took:.2f}s")
                time.sleep(SETTLE)
            for worker in list(stack.workers):
                at = time.monotonic() - began
                took, code = restart_worker(stack, worker)
                steps.append(
                    f"worker {worker.pid}: SIGTERM at {at:.2f}s, stopped in {took:.2f}s, "
                    f"exit {code}"
                )
                time.sleep(SETTLE)
        missing = load.wait_delivered(fake, receiver, timeout=60)
        why = explain(server.client(), [s.job_id for s in missing]) if missing else ""
        time.sleep(3)  # a duplicate delivery would arrive now
        tally = load.tally(fake, receiver, pisim.jobs())
        failed = load.failed()
        web_log = [
            line[:700]
            for line in stack.web.output().splitlines()
            if '"ERROR"' in line or "Traceback" in line or "[CRITICAL]" in line or "Error" in line
        ]
    finally:
        stack.stop()
        server.stop()
        fake.stop()
        receiver.stop()

    print(f"\nrolling deploy: sent={len(load.snapshot())} {tally.summary()}\n" + "\n".join(steps))
    report = "\n".join(
        [f"{s.platform} {s.status} {s.detail} at {s.started - began:.2f}s" for s in failed[:20]]
        + [why]
        + web_log[-10:]
    )
    assert failed == [] and not missing, report
    assert tally.lost == [] and tally.duplicated == [] and tally.pi_duplicates == []
    assert all(step.endswith("exit 0") for step in steps if step.startswith("worker"))
