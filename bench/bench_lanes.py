"""Benchmark the worker's lanes: ManyChat pushes beside 50 Shopify installs on 60 s Pi jobs.

Issue 13, benchmark 3: a Shopify install waits on its Pi job on the worker's Shopify lane
(`CONNECTOR_SHOPIFY_THREADS` RQ threads), a ManyChat push (`setCustomFields`) runs on the
first-attempt threads the moment the tracker stores its job's end, so installs waiting on Pi
must not delay a push. Phase 1 sends `--pushes` ManyChat extractions with a push each (distinct
sites, 1 s Pi jobs, one every `--interval` s, open loop) with no install under way. Phase 2
installs `--installs` shops through OAuth whose brand extractions take `--install-seconds` on
the simulator (`secsN` in each shop's primary domain), waits until Pi runs as many of them as
the Shopify lane takes, then sends the same pushes while they wait. Push latency runs from the
job's end on Pi (the simulator's `ends_at`) to the `setCustomFields` call reaching the fake
ManyChat. Printed (`name: value` lines): push p50/p99/max, count over 100 ms and count
delivered for each phase, the p99 difference (goal: ≤ 100 ms, `goal_met`), the installs
in flight when the pushes start, the shops that got a `brand_id` (all expected) and install →
`brand_id` p50/max, the Pi jobs the installs created, the worker's RQ thread restarts (an
RQ thread that finds no Redis connection free starts over), the 1/5/15-minute load and the
worker's CPU seconds per phase.

Run: `.venv/bin/python bench/bench_lanes.py [--shopify-threads N] [--py-spy PATH]` (needs
redis-server on PATH). The pushes take under a minute; waiting for every install takes
ceil(installs / Shopify threads) job lengths: ~14 min with the shipped 4 threads, ~1.5 min
with `--shopify-threads 50`. It starts its own private Redis, Pi simulator (`--long-poll
wake`, 1 s jobs), fake ManyChat, fake Shopify, the web tier under the shipped
`gunicorn.conf.py` (WEB_CONCURRENCY=2) and one `pi-connector worker`, and stops them all.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import redis
import requests
from rq import Queue
from rq.registry import ScheduledJobRegistry, StartedJobRegistry

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stats import percentile  # noqa: E402
from connector.config import Settings  # noqa: E402
from connector.runtime.queues import SHOPIFY  # noqa: E402
from tests.shopify_app.conftest import stack_env  # noqa: E402
from tests.shopify_app.fake_shopify import FakeShopify  # noqa: E402
from tests.shopify_app.helpers import signed_query  # noqa: E402
from tests.support.fake_manychat import SET_FIELDS, VALID_KEY, FakeManyChat  # noqa: E402
from tests.support.pisim import DEFAULT_ARGS, start_simulator  # noqa: E402
from tests.support.redis import RedisServer  # noqa: E402
from tests.support.stack import LiveStack  # noqa: E402

KEY = "pi_test_bench_lanes_manychat"  # the ManyChat account; installs use the app's PI_API_KEY
EXTRACT = "/manychat/v1/brands/extract"
GOAL_MS = 100.0
OVER_MS = 100.0  # a push later than this after its job's end is counted
PHASE2_CONTACTS = 500_000  # phase 1's contacts start at 1,000
PLATEAU_SECONDS = 5.0  # no more install jobs on Pi for this long: the lane took what it can


def cpu_seconds(pid: int) -> float:
    """Return a process's user + system CPU seconds so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load() -> str:
    """Return the 1/5/15-minute load averages, as `uptime` prints them."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


# --- ManyChat pushes -------------------------------------------------------------------------


def send_pushes(base_url: str, count: int, interval: float, first_contact: int) -> list[tuple]:
    """Send extractions with a push, one every `interval` s; return (outcome, job, contact)."""
    rows: list[tuple[int, str, str | None, int]] = []
    lock = threading.Lock()
    sessions = threading.local()
    run = uuid.uuid4().hex[:8]

    def one(n: int) -> None:
        session = getattr(sessions, "s", None) or requests.Session()
        sessions.s = session
        contact = first_contact + n
        body = {
            "url": f"https://push{n}-{run}.example",
            "subscriber_id": str(contact),
            "manychat_api_key": VALID_KEY,
        }
        job_id = None
        try:
            response = session.post(
                base_url + EXTRACT,
                json=body,
                headers={"Authorization": f"Bearer {KEY}"},
                timeout=30,
            )
            answer = response.json()
            outcome = f"{response.status_code}/{answer.get('status', 'error')}"
            job_id = answer.get("job_id")
        except (requests.RequestException, ValueError) as exc:
            outcome = type(exc).__name__
        with lock:
            rows.append((n, outcome, job_id, contact))

    start = time.perf_counter()
    # Open loop: a slow answer never delays the next request (each waits up to ~7 s).
    with ThreadPoolExecutor(max_workers=64) as pool:
        for n in range(count):
            time.sleep(max(0.0, start + n * interval - time.perf_counter()))
            pool.submit(one, n)
    return [row[1:] for row in sorted(rows)]


def push_latencies(sim, fake: FakeManyChat, rows: list[tuple], timeout: float = 30) -> list[float]:
    """Return, per job, ms from its end on Pi to its setCustomFields reaching ManyChat."""
    deadline = time.monotonic() + timeout
    latencies = []
    for _, job_id, contact in rows:
        if not job_id:
            continue
        while not (calls := fake.calls_to(SET_FIELDS, contact)) and time.monotonic() < deadline:
            time.sleep(0.05)
        if calls:
            latencies.append((calls[0].at - sim.job(job_id)["ends_at"]) * 1000)
    return latencies


def push_figures(prefix: str, rows: list[tuple], latencies: list[float]) -> dict[str, object]:
    """Return one phase's push figures."""
    outcomes = Counter(row[0] for row in rows)
    return {
        f"{prefix}_requests": len(rows),
        f"{prefix}_outcomes": ",".join(f"{k}={v}" for k, v in sorted(outcomes.items())),
        f"{prefix}_pushes_delivered": len(latencies),
        f"{prefix}_push_p50_ms": statistics.median(latencies) if latencies else float("nan"),
        f"{prefix}_push_p99_ms": percentile(latencies, 99),
        f"{prefix}_push_max_ms": max(latencies, default=float("nan")),
        f"{prefix}_push_over_100ms": sum(ms > OVER_MS for ms in latencies),
    }


# --- Shopify installs ------------------------------------------------------------------------


def install(stack: LiveStack, fake: FakeShopify, shop: str) -> float:
    """Run a shop's OAuth install (install redirect, then callback); return the callback's time."""
    with requests.Session() as session:
        answer = session.get(
            f"{stack.base_url}/shopify/install?shop={shop}", allow_redirects=False, timeout=30
        )
        state = parse_qs(urlsplit(answer.headers["Location"]).query)["state"][0]
        query = signed_query({"code": fake.issue_code(shop), "shop": shop, "state": state})
        at = time.time()
        answer = session.get(
            f"{stack.base_url}/shopify/callback", params=query, allow_redirects=False, timeout=30
        )
    if answer.status_code != 302:
        raise RuntimeError(f"install of {shop}: {answer.status_code} {answer.text[:200]}")
    return at


def start_installs(
    stack: LiveStack, fake: FakeShopify, count: int, seconds: int, run: str
) -> dict[str, float]:
    """Install `count` shops whose brand extractions take `seconds` on Pi; return shop → time."""
    started = {}
    for n in range(count):
        shop = f"lanes-{run}-{n}.myshopify.com"
        # `secsN` in the primary domain's host sets the simulator's job length.
        fake.add_shop(shop, primary_url=f"https://www.secs{seconds}-lanes{n}-{run}.example")
        started[shop] = install(stack, fake, shop)
    return started


def install_jobs_on_pi(sim, run: str) -> int:
    """Return how many of this run's install jobs Pi is running."""
    return sum(
        1
        for job in sim.jobs()
        if run in str(job["input"].get("url", "")) and job["status"] not in ("completed", "failed")
    )


def shopify_lane(client: redis.Redis) -> dict[str, int]:
    """Return the Shopify queue: tasks running, waiting on the queue, and paced (scheduled)."""
    return {
        "running": StartedJobRegistry(SHOPIFY, connection=client).count,
        "queued": Queue(SHOPIFY, connection=client).count,
        "scheduled": ScheduledJobRegistry(SHOPIFY, connection=client).count,
    }


def wait_until_running(sim, run: str, expected: int, timeout: float = 60) -> int:
    """Wait until Pi runs `expected` install jobs, or their count stops growing; return it."""
    deadline = time.monotonic() + timeout
    best, grew_at = 0, time.monotonic()
    while time.monotonic() < deadline:
        running = install_jobs_on_pi(sim, run)
        if running >= expected:
            return running
        if running > best:
            best, grew_at = running, time.monotonic()
        # A lane that takes fewer tasks than it has threads must not keep the pushes waiting
        # until the installs' jobs have ended.
        if best and time.monotonic() - grew_at > PLATEAU_SECONDS:
            return running
        time.sleep(0.25)
    return install_jobs_on_pi(sim, run)


def wait_for_brands(
    client: redis.Redis, started: dict[str, float], timeout: float
) -> tuple[dict[str, float], int]:
    """Poll the shop configs until every shop has a brand_id; return shop → seconds, max paced."""
    done: dict[str, float] = {}
    paced = 0  # the most installs waiting in RQ's scheduled registry (paced or retrying) at once
    deadline = time.monotonic() + timeout
    while len(done) < len(started) and time.monotonic() < deadline:
        waiting = [shop for shop in started if shop not in done]
        pipe = client.pipeline(transaction=False)
        for shop in waiting:
            pipe.hget(f"pic:shop:{{{shop}}}:config", "brand_id")
        now = time.time()
        for shop, brand_id in zip(waiting, pipe.execute(), strict=True):
            if brand_id:
                done[shop] = now - started[shop]
        paced = max(paced, shopify_lane(client)["scheduled"])
        time.sleep(0.2)
    return done, paced


def shop_statuses(client: redis.Redis, shops: list[str]) -> str:
    """Return the count of each shop config status, e.g. `completed=50`."""
    pipe = client.pipeline(transaction=False)
    for shop in shops:
        pipe.hget(f"pic:shop:{{{shop}}}:config", "status")
    counts = Counter((status or b"none").decode() for status in pipe.execute())
    return ",".join(f"{k}={v}" for k, v in sorted(counts.items()))


# --- the run ---------------------------------------------------------------------------------


def dump_stacks(pid: int, path: str, delay: float) -> threading.Thread:
    """Write `py-spy dump` of the worker to `path` after `delay` s, on a thread."""

    def run() -> None:
        time.sleep(delay)
        py_spy = Path(sys.executable).with_name("py-spy")
        out = subprocess.run(
            [str(py_spy), "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=60
        )
        Path(path).write_text(out.stdout + out.stderr)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def phase_pushes(ctx: dict, prefix: str, first_contact: int, results: dict) -> float:
    """Send one phase's pushes and add its figures; return the push p99 (ms)."""
    args, sim, fake, worker = ctx["args"], ctx["sim"], ctx["fake"], ctx["worker"]
    cpu = cpu_seconds(worker)
    rows = send_pushes(ctx["base_url"], args.pushes, args.interval, first_contact)
    latencies = push_latencies(sim, fake, rows)
    results.update(push_figures(prefix, rows, latencies))
    results[f"{prefix}_worker_cpu_s"] = cpu_seconds(worker) - cpu
    return results[f"{prefix}_push_p99_ms"]


def run_bench(args, stack: LiveStack, simulator, fake: FakeManyChat, shopify, r) -> dict:
    """Run both phases and the wait for the installs; return the figures in print order."""
    settings = Settings.load(environ=stack.env)
    threads = settings.shopify_threads
    worker = stack.workers[0].pid
    sim = simulator.simulator
    ctx = {"args": args, "sim": sim, "fake": fake, "worker": worker, "base_url": stack.base_url}
    results: dict[str, object] = {
        "shopify_threads": threads,
        "first_attempt_threads": settings.first_attempt_threads,
        "delivery_threads": settings.delivery_threads,
        "installs": args.installs,
        "install_job_seconds": args.install_seconds,
        "pushes_per_phase": args.pushes,
        "push_interval_ms": round(args.interval * 1000),
        "load_before": load(),
    }
    # Warm both gunicorn workers and the worker's tracker (imports, first connections).
    for n in range(8):
        body = {"url": f"https://warm{n}-{uuid.uuid4().hex[:6]}.example"}
        headers = {"Authorization": f"Bearer pi_test_bench_lanes_warm_{n}"}
        requests.post(stack.base_url + EXTRACT, json=body, headers=headers, timeout=30)

    alone_p99 = phase_pushes(ctx, "alone", 1000, results)
    results["load_after_alone"] = load()

    run = uuid.uuid4().hex[:6]
    cpu = cpu_seconds(worker)
    started = start_installs(stack, shopify, args.installs, args.install_seconds, run)
    results["install_requests_s"] = time.time() - min(started.values())
    running = wait_until_running(sim, run, min(args.installs, threads))
    results["install_jobs_on_pi_at_push_start"] = running
    lane = shopify_lane(r)
    for name, value in lane.items():
        results[f"shopify_lane_{name}_at_push_start"] = value
    results["worker_cpu_s_installs_starting"] = cpu_seconds(worker) - cpu
    if args.py_spy:
        dump_stacks(worker, args.py_spy, args.pushes * args.interval / 2)
    with_p99 = phase_pushes(ctx, "with_installs", PHASE2_CONTACTS, results)
    results["install_jobs_on_pi_at_push_end"] = install_jobs_on_pi(sim, run)
    results["load_after_with_installs"] = load()
    results["push_p99_difference_ms"] = with_p99 - alone_p99
    results["goal_met"] = with_p99 - alone_p99 <= GOAL_MS

    # Every install waits its turn on the lane: ceil(installs / threads) job lengths.
    timeout = args.install_timeout or (
        math.ceil(args.installs / threads) * (args.install_seconds + 5) + 60
    )
    cpu = cpu_seconds(worker)
    done, paced = wait_for_brands(r, started, timeout)
    results["worker_cpu_s_install_wait"] = cpu_seconds(worker) - cpu
    results["shops_with_brand_id"] = len(done)
    results["shop_statuses"] = shop_statuses(r, list(started))
    taken = list(done.values())
    results["install_to_brand_id_p50_s"] = statistics.median(taken) if taken else float("nan")
    results["install_to_brand_id_max_s"] = max(taken, default=float("nan"))
    # Installs share the app's one Pi key: over its limits they are rescheduled, never failed.
    results["shopify_scheduled_peak"] = paced
    # More Pi jobs than installs: an extraction ran again (an RQ retry after it had finished).
    results["install_pi_jobs_created"] = sum(run in str(j["input"].get("url")) for j in sim.jobs())
    lines = stack.logs().splitlines()
    results["install_failures_logged"] = sum(
        "brand extraction for" in line and " failed: " in line for line in lines
    )
    # An RQ thread that lost its Redis connection (or found none free) starts over: the lanes'
    # capacity, not the pushes (first attempts run on threads of their own).
    results["worker_rq_thread_restarts"] = sum("RQ thread stopped" in line for line in lines)
    results["worker_rq_unhandled_exceptions"] = sum(
        "found an unhandled exception" in line for line in lines
    )
    results["manychat_pushes_total"] = len(fake.calls_to(SET_FIELDS))
    results["load_after"] = load()
    return results


def main(argv: list[str] | None = None) -> int:
    """Start everything, run the phases, print `name: value` lines, stop everything."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--installs", type=int, default=50)
    parser.add_argument("--install-seconds", type=int, default=60)
    parser.add_argument("--pushes", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.075, help="seconds between pushes")
    parser.add_argument("--shopify-threads", type=int, help="default: the shipped setting")
    parser.add_argument("--install-timeout", type=float, help="seconds to wait for brand_ids")
    parser.add_argument("--py-spy", help="write `py-spy dump` of the worker mid-phase 2 here")
    parser.add_argument("--log", help="write the web and worker logs to this file")
    args = parser.parse_args(argv)

    redis_server = RedisServer().start()
    simulator = start_simulator(*DEFAULT_ARGS)
    fake = FakeManyChat().start()
    shopify = FakeShopify().start()
    env = {**stack_env(shopify), "MANYCHAT_API_URL": fake.url, "CONNECTOR_LOG_LEVEL": "WARNING"}
    if args.shopify_threads:
        env["CONNECTOR_SHOPIFY_THREADS"] = str(args.shopify_threads)
    stack = LiveStack(redis_server.url, simulator.base_url, env)
    r = redis_server.client()
    try:
        stack.start()
        results = run_bench(args, stack, simulator, fake, shopify, r)
        if args.log:
            Path(args.log).write_text(stack.logs())
        for name, value in results.items():
            print(f"{name}: {value:.1f}" if isinstance(value, float) else f"{name}: {value}")
    finally:
        r.close()
        stack.stop()
        shopify.stop()
        fake.stop()
        simulator.stop()
        redis_server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
