"""Benchmark fairness between accounts: a noisy neighbour (prints `name: value` lines).

Account B sends one ManyChat extraction every 100 ms (distinct sites, 1 s Pi jobs, so each
answer is `completed` after ~1 s) for `--seconds`, first alone, then while account A sends
1,000 concurrent ManyChat extractions (distinct sites) 2 s into the run. Printed: B's answer
times alone and with A (p50/p99/max, and the p99 difference; goal: within 100 ms), B's
statuses, and A's status counts (goal: over its limits 429, never a 5xx).

Run: `.venv/bin/python bench/bench_noisy_neighbour.py [--seconds 20] [--noisy 1000]`
(needs redis-server on PATH; about a minute). It starts its own private Redis, Pi simulator
(`--long-poll wake`, 1 s jobs), the web tier under the shipped `gunicorn.conf.py` (gevent,
WEB_CONCURRENCY=2) and one `pi-connector worker`, all with the default account limits. A's
requests come from one asyncio loop in a process of its own (raw HTTP/1.1, one connection
each), B's from threads in this process on a fixed schedule (open loop: a slow answer does
not delay the next request). Everything shares this machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stats import percentile  # noqa: E402
from tests.support.fake_manychat import SET_FIELDS, VALID_KEY, FakeManyChat  # noqa: E402
from tests.support.pisim import DEFAULT_ARGS, start_simulator  # noqa: E402
from tests.support.redis import RedisServer  # noqa: E402
from tests.support.stack import LiveStack  # noqa: E402

KEY_A = "pi_test_bench_noisy_account_a"
KEY_B = "pi_test_bench_quiet_account_b"
EXTRACT = "/manychat/v1/brands/extract"
B_INTERVAL = 0.1
NOISE_AT = 2.0  # seconds into the run when A's burst starts
P99_GOAL_MS = 100.0
NOISY_CONTACTS = 900000  # A's ManyChat contacts start here (B's at 1000 and 100000)


# --- account B: one request every 100 ms -----------------------------------------------------


def quiet_account(base_url: str, seconds: float, first_contact: int) -> list[tuple]:
    """Send B's requests on a fixed schedule; return (ms, outcome, job id, contact), in order."""
    results: list[tuple[int, float, str, str | None, int]] = []
    lock = threading.Lock()
    session_local = threading.local()
    run_id = uuid.uuid4().hex[:8]

    def one(n: int) -> None:
        session = getattr(session_local, "s", None) or requests.Session()
        session_local.s = session
        contact = first_contact + n
        body = {
            "url": f"https://quiet{n}-{run_id}.example",
            "subscriber_id": str(contact),
            "manychat_api_key": VALID_KEY,  # a push (setCustomFields) when the job ends
        }
        started = time.perf_counter()
        job_id = None
        try:
            response = session.post(
                base_url + EXTRACT,
                json=body,
                headers={"Authorization": f"Bearer {KEY_B}", "Connection": "close"},
                timeout=30,
            )
            answer = response.json()
            outcome = f"{response.status_code}/{answer.get('status', 'error')}"
            job_id = answer.get("job_id")
        except (requests.RequestException, ValueError) as exc:
            outcome = type(exc).__name__
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            results.append((n, elapsed, outcome, job_id, contact))

    count = int(seconds / B_INTERVAL)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=64) as pool:
        for n in range(count):
            time.sleep(max(0.0, start + n * B_INTERVAL - time.perf_counter()))
            pool.submit(one, n)
    return [row[1:] for row in sorted(results)]


# --- account A: 1,000 requests at once, from a process of its own ----------------------------


async def _noisy_one(port: int, n: int, run_id: str, control: bool) -> str:
    """POST one of A's extractions (GET /healthz as the control); return its status code."""
    if control:  # the same connections and HTTP work, none of the connector's
        head = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
        body = b""
    else:
        body = json.dumps(
            {
                "url": f"https://noisy{n}-{run_id}.example",
                "subscriber_id": str(NOISY_CONTACTS + n),
                "manychat_api_key": VALID_KEY,  # A's jobs push too: deliveries share the lane
            }
        ).encode()
        head = (
            f"POST {EXTRACT} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {KEY_A}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
    head = head.encode()
    writer = None
    try:
        async with asyncio.timeout(30):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(head + body)
            await writer.drain()
            raw = await reader.read()
    except (TimeoutError, OSError) as exc:
        return type(exc).__name__
    finally:
        if writer is not None:
            writer.close()
    parts = raw.partition(b"\r\n")[0].split()
    return parts[1].decode() if len(parts) > 1 else "none"


def noisy_account(port: int, count: int, delay: float, control: bool, out) -> None:
    """Wait `delay` s, send A's `count` requests at once; send the status counts to `out`."""
    time.sleep(delay)
    run_id = uuid.uuid4().hex[:8]

    async def burst() -> list[str]:
        return await asyncio.gather(*(_noisy_one(port, n, run_id, control) for n in range(count)))

    started = time.perf_counter()
    statuses = asyncio.run(burst())
    out.send((dict(Counter(statuses)), time.perf_counter() - started))
    out.close()


# --- the run ---------------------------------------------------------------------------------


def push_times(sim, fake: FakeManyChat, results: list[tuple], timeout: float = 30) -> list[float]:
    """Return, per B job, ms from its end on Pi to its setCustomFields reaching ManyChat."""
    deadline = time.monotonic() + timeout
    times = []
    for _, _, job_id, contact in results:
        if not job_id:
            continue
        while not (calls := fake.calls_to(SET_FIELDS, contact)) and time.monotonic() < deadline:
            time.sleep(0.05)
        if calls:
            times.append((calls[0].at - sim.job(job_id)["ends_at"]) * 1000)
    return times


def summary(prefix: str, results: list[tuple], pushes: list[float]) -> dict[str, object]:
    """Return the figures of one of B's phases."""
    times = [row[0] for row in results]
    outcomes = Counter(row[1] for row in results)
    return {
        f"{prefix}_requests": len(results),
        f"{prefix}_outcomes": ",".join(f"{k}={v}" for k, v in outcomes.items()),
        f"{prefix}_p50_ms": statistics.median(times),
        f"{prefix}_p99_ms": percentile(times, 99),
        f"{prefix}_max_ms": max(times),
        f"{prefix}_pushes": len(pushes),
        f"{prefix}_push_p50_ms": statistics.median(pushes) if pushes else float("nan"),
        f"{prefix}_push_p99_ms": percentile(pushes, 99),
    }


def main(argv: list[str] | None = None) -> int:
    """Start the stack, run B alone, then B beside A's burst; print `name: value` lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--noisy", type=int, default=1000)
    parser.add_argument("--settle", type=float, default=15.0, help="pause between the phases")
    parser.add_argument("--dump", action="store_true", help="print B's answer times with A")
    parser.add_argument("--log", help="write the web and worker logs to this file")
    parser.add_argument(
        "--control", action="store_true", help="A sends GET /healthz instead (HTTP load only)"
    )
    args = parser.parse_args(argv)

    redis_server = RedisServer().start()
    simulator = start_simulator(*DEFAULT_ARGS)
    fake = FakeManyChat().start()
    env = {"MANYCHAT_API_URL": fake.url, "CONNECTOR_LOG_LEVEL": "WARNING"}
    stack = LiveStack(redis_server.url, simulator.base_url, env)
    try:
        stack.start()
        # Warm both gunicorn workers and the worker's tracker (imports, first connections).
        for n in range(8):
            body = {"url": f"https://warm{n}-{uuid.uuid4().hex[:6]}.example"}
            headers = {"Authorization": f"Bearer pi_test_bench_warm_{n}"}
            requests.post(stack.base_url + EXTRACT, json=body, headers=headers, timeout=30)

        results: dict[str, object] = {}
        sim = simulator.simulator
        alone = quiet_account(stack.base_url, args.seconds, 1000)
        results.update(summary("b_alone", alone, push_times(sim, fake, alone)))
        time.sleep(args.settle)

        receive, send = multiprocessing.Pipe(duplex=False)
        noisy = multiprocessing.Process(
            target=noisy_account, args=(stack.port, args.noisy, NOISE_AT, args.control, send)
        )
        noisy.start()
        with_a = quiet_account(stack.base_url, args.seconds, 100000)
        a_statuses, a_seconds = receive.recv()
        noisy.join(60)
        results.update(summary("b_with_a", with_a, push_times(sim, fake, with_a)))
        if args.dump:
            print("b_with_a_ms:", " ".join(f"{row[0]:.0f}" for row in with_a))
        # B's requests sent while A's burst was being answered, and how many missed the goal.
        window = with_a[int(NOISE_AT / B_INTERVAL) : int((NOISE_AT + a_seconds) / B_INTERVAL) + 1]
        results["b_during_burst_p50_ms"] = statistics.median(row[0] for row in window)
        limit = results["b_alone_p99_ms"] + P99_GOAL_MS
        results["b_over_goal"] = sum(row[0] > limit for row in with_a)
        results["b_push_p99_difference_ms"] = (
            results["b_with_a_push_p99_ms"] - results["b_alone_push_p99_ms"]
        )
        results["b_p99_difference_ms"] = results["b_with_a_p99_ms"] - results["b_alone_p99_ms"]
        results["b_p99_goal_met"] = results["b_p99_difference_ms"] <= P99_GOAL_MS
        results["a_requests"] = args.noisy
        results["a_burst_seconds"] = a_seconds
        for status in sorted(a_statuses):
            results[f"a_status_{status}"] = a_statuses[status]
        results["a_5xx"] = sum(v for k, v in a_statuses.items() if k.isdigit() and k >= "500")
        results["pi_creates"] = sim.count("POST /api/v1/brands/extract")
        results["manychat_pushes"] = len(fake.calls_to(SET_FIELDS))
        # What any 5xx was, from the web log (the app logs each unhandled error's type).
        errors = Counter(
            line.split("unhandled error ", 1)[1].split()[0]
            for line in stack.logs().splitlines()
            if "unhandled error " in line
        )
        results["web_unhandled_errors"] = ",".join(f"{k}={v}" for k, v in errors.items()) or 0
        if args.log:
            Path(args.log).write_text(stack.logs())
        for name, value in results.items():
            print(f"{name}: {value:.1f}" if isinstance(value, float) else f"{name}: {value}")
    finally:
        stack.stop()
        fake.stop()
        simulator.stop()
        redis_server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
