"""Fault-injection helpers: kill a worker's whole process tree, run a scheduler on its own."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import redis

from tests.support.procs import ServerProcess, python_argv


def _children(pid: int) -> list[int]:
    """Return the pids whose parent is pid (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name sits in parentheses and may hold spaces; ppid follows the state.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    """Return every process below pid, children first."""
    result: list[int] = []
    queue = [pid]
    while queue:
        kids = _children(queue.pop())
        result.extend(kids)
        queue.extend(kids)
    return result


def kill_tree(proc: ServerProcess) -> list[int]:
    """SIGKILL a process and everything below it; return the pids killed.

    RQ's work-horse calls setpgrp(), so killing the worker's process group alone would leave
    the horse running the job: a real crash (OOM, lost host) takes the horse too.
    """
    assert proc.proc is not None
    pids = [proc.pid, *descendants(proc.pid)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.proc.wait(timeout=10)
    for pid in pids[1:]:
        _wait_gone(pid)
    return pids


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists():
        status = Path(f"/proc/{pid}/status")
        with contextlib.suppress(OSError):
            if "\nState:\tZ" in status.read_text():
                return  # dead, waiting for its (dead) parent's reaper
        if time.monotonic() > deadline:
            raise TimeoutError(f"process {pid} survived SIGKILL")
        time.sleep(0.02)


def start_scheduler(redis_url: str, env: dict[str, str] | None = None) -> ServerProcess:
    """Start an RQ scheduler process for the connector's queues (it holds the scheduler locks)."""
    argv = python_argv("-m", "tests.support.faults", "scheduler", redis_url)
    return ServerProcess(argv, env=env).start()


def _run_scheduler(redis_url: str) -> int:
    """Hold the scheduler locks and move due jobs onto their queues until killed."""
    from rq.scheduler import RQScheduler, run

    from connector.runtime.queues import ALL_QUEUES

    scheduler = RQScheduler(list(ALL_QUEUES), connection=redis.Redis.from_url(redis_url))
    if set(scheduler.acquire_locks()) != set(ALL_QUEUES):
        print("another scheduler holds the locks", file=sys.stderr)
        return 1
    run(scheduler)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["scheduler"]:
        raise SystemExit(_run_scheduler(sys.argv[2]))
    raise SystemExit("usage: python -m tests.support.faults scheduler REDIS_URL")
