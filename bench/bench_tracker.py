"""Benchmark tracker capacity against the naive one-process-per-job baseline (prints `name: value`).

Shipped: one `pi-connector worker` process follows N jobs in flight at once (default 500)
through the tracker; each job has a callback, so "delivered" is the callback's arrival at a
local receiver. Baseline: the design the tracker replaces — one process per job in flight,
each asking Pi for its job once a second — run for fewer jobs (default 40: it needs one
Python process per job) and compared per job.

Figures: processes per 100 jobs in flight, Pi calls per job, p50/p99 time from the job's end on
Pi (the simulator's `ends_at`) to the result recorded in the ledger (and, shipped, delivered),
and memory per job in flight (PSS, so pages shared between forked processes count once).

Issue 12 adds the worker's cost: its CPU seconds (utime + stime from /proc, robust to a noisy
machine) per followed job, gross and net of what the idle worker burns over the same time; the
peak depth of the delivery queue; and the "Connection pool is full" warnings and RQ thread
restarts in the worker's log.

Run: `.venv/bin/python bench/bench_tracker.py` (needs redis-server on PATH; about 3 minutes).
It starts its own private Redis, Pi simulator (`--long-poll wake`), web (gunicorn) and worker.
Issue 12's runs: `--jobs 2000 --spread 50 --baseline-jobs 0` (2,000 jobs of 40-89 s in one
process) and `--jobs 500 --base-seconds 60 --spread 1 --baseline-jobs 0` (CPU per 60 s job).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.stats import percentile  # noqa: E402
from tests.support.constants import NO_ACCOUNT_LIMITS  # noqa: E402
from tests.support.pisim import start_simulator  # noqa: E402
from tests.support.receiver import Receiver  # noqa: E402
from tests.support.redis import RedisServer  # noqa: E402
from tests.support.stack import LiveStack  # noqa: E402

KEY = "pi_test_bench_tracker_account"
HEADERS = {"Authorization": f"Bearer {KEY}"}
JOB_READS = "GET /api/v1/jobs/:id"
BASE_SECONDS = 40  # every job is still running when the last one is submitted
SPREAD_SECONDS = 20  # job n lasts BASE_SECONDS + n % SPREAD_SECONDS
DELIVER_QUEUE = "rq:queue:pic-deliver"
IDLE_SAMPLE_SECONDS = 10.0  # the idle worker's CPU rate is measured over this long


def memory_kb(pid: int) -> tuple[int, int]:
    """Return (RSS, PSS) of a process in kB."""
    rss = pss = 0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def cpu_seconds(pid: int) -> float:
    """Return a process's user + system CPU seconds so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def system_cpu_seconds(pid: int) -> float:
    """Return a process's system (kernel) CPU seconds so far: syscalls, thread wake-ups."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[12]) / os.sysconf("SC_CLK_TCK")


def job_url(n: int, tag: str) -> str:
    """Return a brand URL whose simulated job lasts BASE_SECONDS plus a spread of seconds."""
    seconds = BASE_SECONDS + n % SPREAD_SECONDS
    return f"https://secs{seconds}-{tag}{n}-{uuid.uuid4().hex[:6]}.example"


class Sampler:
    """Sample a process's memory and the tracker's lease count until stopped."""

    def __init__(self, pid: int, conn: redis.Redis) -> None:
        self.pid, self.conn = pid, conn
        self.peak_rss = self.peak_pss = self.peak_following = self.peak_deliver_queue = 0
        self.idle_rss, self.idle_pss = memory_kb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            rss, pss = memory_kb(self.pid)
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            following = self.conn.hlen("pic:tracker:owners")
            self.peak_following = max(self.peak_following, following)
            queued = self.conn.llen(DELIVER_QUEUE)
            self.peak_deliver_queue = max(self.peak_deliver_queue, queued)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def submit(stack: LiveStack, count: int, tag: str, callback: str | None) -> list[str]:
    """Submit `count` brand extractions over the connector's API; return the job ids."""

    def one(n: int) -> str:
        body = {"kind": "brand_extraction", "input": {"url": job_url(n, tag)}}
        if callback:
            body["callback_url"] = f"{callback}/cb/{n}"
        response = requests.post(
            stack.base_url + "/v1/jobs", json=body, headers=HEADERS, timeout=30
        )
        response.raise_for_status()
        return response.json()["job_id"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, range(count)))


def ledger_finish_times(conn: redis.Redis, job_ids: list[str]) -> dict[str, float]:
    """Return the ledger's finished_at of each ended job."""
    found: dict[str, float] = {}
    for key in conn.scan_iter("pic:{*}:job:*", count=1000):
        parts = key.decode().split(":job:")
        if len(parts) != 2 or ":" in parts[1]:
            continue
        finished = conn.hget(key, "finished_at")
        if finished and parts[1] in job_ids:
            found[parts[1]] = float(finished)
    return found


def bench_shipped(stack: LiveStack, sim, conn: redis.Redis, jobs: int) -> dict[str, float]:
    """One worker process follows `jobs` jobs at once; time results and deliveries."""
    worker = stack.workers[-1] if stack.workers else stack.start_worker()
    time.sleep(2)  # past the start-up work
    idle_before = cpu_seconds(worker.pid)
    time.sleep(IDLE_SAMPLE_SECONDS)
    idle_rate = (cpu_seconds(worker.pid) - idle_before) / IDLE_SAMPLE_SECONDS
    reads_before = sim.count(JOB_READS)
    load_before = os.getloadavg()[0]
    with Receiver() as receiver, Sampler(worker.pid, conn) as sampler:
        cpu_before, started = cpu_seconds(worker.pid), time.monotonic()
        sys_before = system_cpu_seconds(worker.pid)
        job_ids = submit(stack, jobs, "t", receiver.url)
        commands_before = command_calls(conn)  # from here on, Redis work is the worker's
        deadline = time.monotonic() + BASE_SECONDS + SPREAD_SECONDS + 60
        while len(receiver.requests) < jobs and time.monotonic() < deadline:
            time.sleep(0.5)
        worker_cpu, elapsed = cpu_seconds(worker.pid) - cpu_before, time.monotonic() - started
        worker_sys = system_cpu_seconds(worker.pid) - sys_before
        arrivals = {r.json()["data"]["job_id"]: r.at for r in list(receiver.requests)}
        commands = command_calls(conn)
    per_job = {
        name: (calls - commands_before.get(name, 0)) / jobs for name, calls in commands.items()
    }
    log_text = worker.output()
    ends = {job_id: sim.job(job_id)["ends_at"] for job_id in job_ids}
    finished = ledger_finish_times(conn, job_ids)
    recorded = [finished[j] - ends[j] for j in job_ids if j in finished]
    delivered = [arrivals[j] - ends[j] for j in job_ids if j in arrivals]
    grown_pss = max(0, sampler.peak_pss - sampler.idle_pss)
    return {
        "jobs": jobs,
        "delivered": len(delivered),
        "peak_jobs_followed_by_one_process": sampler.peak_following,
        "worker_peak_rss_mb": round(sampler.peak_rss / 1024, 1),
        "worker_idle_rss_mb": round(sampler.idle_rss / 1024, 1),
        "memory_per_job_kb": round(grown_pss / max(1, sampler.peak_following), 1),
        "pi_calls_per_job": round((sim.count(JOB_READS) - reads_before) / jobs, 2),
        "recorded_p50_s": round(percentile(recorded, 50), 3),
        "recorded_p99_s": round(percentile(recorded, 99), 3),
        "delivered_p50_s": round(percentile(delivered, 50), 3),
        "delivered_p99_s": round(percentile(delivered, 99), 3),
        "delivered_max_s": round(max(delivered), 3),
        "delivered_over_1s": sum(1 for d in delivered if d > 1.0),
        "processes_per_100_jobs": round(100 / max(1, sampler.peak_following), 2),
        "deliver_queue_peak": sampler.peak_deliver_queue,
        "worker_cpu_s": round(worker_cpu, 2),
        "worker_idle_cpu_ms_per_s": round(idle_rate * 1000, 2),
        "worker_cpu_ms_per_job": round(worker_cpu * 1000 / jobs, 2),
        "worker_system_cpu_share": round(worker_sys / worker_cpu, 2) if worker_cpu else 0,
        "worker_cpu_ms_per_job_net_of_idle": round(
            (worker_cpu - idle_rate * elapsed) * 1000 / jobs, 2
        ),
        "run_seconds": round(elapsed, 1),
        "redis_commands_per_job": round(sum(per_job.values()), 1),
        "redis_commands_per_job_top": ", ".join(
            f"{name} {count:.1f}"
            for name, count in sorted(per_job.items(), key=lambda kv: -kv[1])[:12]
            if count >= 0.05
        ),
        "pool_full_warnings": log_text.count("Connection pool is full"),
        "rq_thread_restarts": log_text.count("an RQ thread stopped"),
        "loadavg_1min_before": load_before,
        "loadavg_1min_after": os.getloadavg()[0],
    }


def command_calls(conn: redis.Redis) -> dict[str, int]:
    """Return how many times each command ran on the private Redis so far (INFO commandstats)."""
    stats = conn.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def naive_follower(job_id: str) -> None:
    """Baseline process: ask Pi for one job every second until it ends, then record it."""
    from connector import create_app
    from connector.jobs.completion import apply_pi_job
    from connector.jobs.pi_clients import pi_client
    from connector.ledger import get_ledger

    app = create_app()
    with app.app_context():
        account_id = get_account_id(KEY)
        record = get_ledger().get(account_id, job_id)
        client = pi_client(KEY)
        while record is not None and not record.is_terminal:
            job = client.get_job(job_id, expand="brand")
            if job.is_terminal:
                record = apply_pi_job(record, job, fetch_brand=client.get_brand)
                break
            time.sleep(1.0)


def get_account_id(key: str) -> str:
    """Return the account id of a key."""
    from connector.auth import account_id_for

    return account_id_for(key)


def bench_baseline(stack: LiveStack, sim, conn: redis.Redis, jobs: int) -> dict[str, float]:
    """One process per job in flight, each polling Pi once a second."""
    reads_before = sim.count(JOB_READS)
    job_ids = submit(stack, jobs, "n", None)
    env = {**os.environ, **stack.env}
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--naive-follower", job_id],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for job_id in job_ids
    ]
    time.sleep(8)  # all started and waiting
    pss = [memory_kb(p.pid)[1] for p in procs if p.poll() is None]
    for proc in procs:
        proc.wait(timeout=BASE_SECONDS + 60)
    ends = {job_id: sim.job(job_id)["ends_at"] for job_id in job_ids}
    finished = ledger_finish_times(conn, job_ids)
    recorded = [finished[j] - ends[j] for j in job_ids if j in finished]
    return {
        "jobs": jobs,
        "recorded": len(recorded),
        "processes_per_100_jobs": 100.0,
        "memory_per_job_kb": round(statistics.median(pss), 1),
        "pi_calls_per_job": round((sim.count(JOB_READS) - reads_before) / jobs, 2),
        "recorded_p50_s": round(percentile(recorded, 50), 3),
        "recorded_p99_s": round(percentile(recorded, 99), 3),
    }


def start_profiler(stack: LiveStack, path: str) -> subprocess.Popen:
    """Start the worker, then py-spy (a dev extra) recording it until interrupted."""
    worker = stack.start_worker()
    py_spy = Path(sys.executable).with_name("py-spy")
    argv = [str(py_spy), "record", "-p", str(worker.pid), "-o", path, "-f", "raw", "-r", "200"]
    return subprocess.Popen(
        [*argv, "--nonblocking", "--gil"],  # the GIL holder: where CPU goes
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def ratio(a: float, b: float) -> str:
    """Return a / b as text (b == 0 → 'inf')."""
    return f"{a / b:.3f}" if b else "inf"


def main() -> int:
    global BASE_SECONDS, SPREAD_SECONDS  # the job lengths job_url hands out
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500, help="jobs in flight for the tracker")
    parser.add_argument(
        "--baseline-jobs", type=int, default=40, help="jobs for the baseline (0: skip it)"
    )
    parser.add_argument("--base-seconds", type=int, default=BASE_SECONDS, help="shortest job")
    parser.add_argument(
        "--spread", type=int, default=SPREAD_SECONDS, help="job n lasts base + n %% spread s"
    )
    parser.add_argument("--profile", help="py-spy record the worker (collapsed stacks) to PATH")
    parser.add_argument("--naive-follower", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_follower:
        naive_follower(args.naive_follower)
        return 0
    BASE_SECONDS, SPREAD_SECONDS = args.base_seconds, max(1, args.spread)

    redis_server = RedisServer().start()
    simulator = start_simulator("--long-poll", "wake")
    # One process must be able to follow every job of the run, all from one account: the
    # tracker's capacity is measured, not fairness.
    stack = LiveStack(
        redis_server.url,
        simulator.base_url,
        {"CONNECTOR_TRACKER_CAPACITY": str(max(1000, args.jobs)), **NO_ACCOUNT_LIMITS},
    )
    conn = redis.Redis(port=redis_server.port)
    baseline: dict[str, float] = {}
    try:
        stack.web.start()
        profiler = start_profiler(stack, args.profile) if args.profile else None
        shipped = bench_shipped(stack, simulator.simulator, conn, args.jobs)
        if profiler is not None:
            profiler.send_signal(2)
            profiler.wait(timeout=60)
        for worker in list(stack.workers):
            stack.kill_worker(worker)
        if args.baseline_jobs:
            baseline = bench_baseline(stack, simulator.simulator, conn, args.baseline_jobs)
    finally:
        stack.stop()
        simulator.stop()
        redis_server.stop()

    for name, value in shipped.items():
        print(f"shipped_{name}: {value}")
    ok = (
        shipped["peak_jobs_followed_by_one_process"] >= min(args.jobs, 500)
        and shipped["worker_peak_rss_mb"] <= 300
        and shipped["delivered"] == args.jobs
        and shipped["delivered_over_1s"] == 0
    )
    if not baseline:
        print(f"targets_met: {ok}")
        return 0
    for name, value in baseline.items():
        print(f"baseline_{name}: {value}")
    print(
        "ratio_processes_per_100_jobs (shipped/baseline): "
        + ratio(shipped["processes_per_100_jobs"], baseline["processes_per_100_jobs"])
    )
    print(
        "ratio_pi_calls_per_job: "
        + ratio(shipped["pi_calls_per_job"], baseline["pi_calls_per_job"])
    )
    print("ratio_recorded_p50: " + ratio(shipped["recorded_p50_s"], baseline["recorded_p50_s"]))
    print("ratio_recorded_p99: " + ratio(shipped["recorded_p99_s"], baseline["recorded_p99_s"]))
    print("ratio_memory_per_job: "
          + ratio(shipped["memory_per_job_kb"], baseline["memory_per_job_kb"]))  # fmt: skip
    print(f"targets_met: {ok}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
