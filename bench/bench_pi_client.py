"""Benchmark PiClient against local simulator processes.

Measures (a) result latency from a job's end to wait_for_job returning (wake vs faithful poll),
(b) Pi calls per 60 s job for wait_for_job vs a naive 1 s polling loop, and (c) the client's
overhead over a bare requests.Session. Run: .venv/bin/python bench/bench_pi_client.py
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.stats import percentile  # noqa: E402
from connector.pi import PiClient  # noqa: E402

API_KEY = "pi_test_bench"
JOBS_ROUTE = "GET /api/v1/jobs/:id"


class Sim:
    """A simulator child process on a free port (it prints the port it bound)."""

    def __init__(self, *flags: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "connector.pisim", "--host", "127.0.0.1", "--port", "0", *flags],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if "listening on " not in line:
            self.stop()
            raise RuntimeError(f"simulator did not start: {line!r}")
        self.url = line.strip().rsplit(" ", 1)[1]
        self.admin = requests.Session()

    def get(self, path: str) -> dict:
        return self.admin.get(self.url + path, timeout=10).json()

    def post(self, path: str, body: dict | None = None) -> dict:
        return self.admin.post(self.url + path, json=body or {}, timeout=10).json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def result_latency(sim: Sim, jobs: int = 50) -> list[float]:
    """Return, per job, seconds from the simulator marking it ended to wait_for_job returning."""

    def one(index: int) -> float:
        # Stagger starts so ends are spread out rather than one thundering herd.
        time.sleep(index * 0.02)
        with PiClient(API_KEY, base_url=sim.url) as client:
            job_id = client.extract_brand(url=f"https://shop{index}.example")
            # Start waiting at a different offset per job: Pi's 1 s re-reads then land anywhere
            # relative to the job's end, as they do for real jobs of arbitrary length.
            time.sleep(index / jobs)
            job = client.wait_for_job(job_id, deadline=time.monotonic() + 30, poll_timeout=20)
            returned = time.time()
        assert job.succeeded, job
        return returned - sim.get(f"/_sim/jobs/{job_id}")["ends_at"]

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, range(jobs)))


def calls_per_long_job(sim: Sim, seconds: int, out: dict) -> None:
    """Run one wait_for_job and one naive 1 s loop on two jobs of the same length."""
    url = f"https://secs{seconds}.example.com"
    naive_calls = 0

    def naive() -> None:
        nonlocal naive_calls
        with PiClient(API_KEY, base_url=sim.url) as client:
            job_id = client.extract_brand(url=url)
            while True:
                naive_calls += 1
                if client.get_job(job_id).is_terminal:
                    return
                time.sleep(1.0)

    loop = threading.Thread(target=naive)
    loop.start()
    with PiClient(API_KEY, base_url=sim.url) as client:
        job_id = client.extract_brand(url=url)
        started = time.monotonic()
        job = client.wait_for_job(job_id, deadline=time.monotonic() + seconds + 30, poll_timeout=20)
        out["wait_seconds"] = time.monotonic() - started
        out["status"] = job.status
    loop.join()
    total = sim.get("/_sim/stats")["requests"].get(JOBS_ROUTE, 0)
    out["naive"] = naive_calls
    out["long_poll"] = total - naive_calls


def overhead(sim: Sim, calls: int = 500, rounds: int = 5) -> tuple[float, float, float, float]:
    """Return median wall and CPU seconds for `calls` get_job calls via PiClient and bare."""
    with PiClient(API_KEY, base_url=sim.url) as client:
        job_id = client.extract_brand(url="https://overhead.example")
        sim.post(f"/_sim/jobs/{job_id}/complete")
        bare = requests.Session()
        bare.headers.update(
            {
                "Authorization": f"Bearer {API_KEY}",
                "User-Agent": "pi-connector/0.1",
                "Accept": "application/json",
            }
        )
        url = f"{sim.url}/api/v1/jobs/{job_id}"

        def via_client() -> None:
            client.get_job(job_id)

        def via_bare() -> None:
            response = bare.get(url, timeout=(3.05, 10))
            response.raise_for_status()
            response.json()

        def timed(fn: Callable[[], None]) -> tuple[float, float]:
            # This process's CPU too: the simulator's share and a busy machine stay out of it.
            started, cpu = time.perf_counter(), time.process_time()
            for _ in range(calls):
                fn()
            return time.perf_counter() - started, time.process_time() - cpu

        timed(via_client), timed(via_bare)  # warm up both connections
        client_times, bare_times = [], []
        for index in range(rounds):
            # Alternate the order so neither side always runs on a warmer machine.
            pairs = [(via_client, client_times), (via_bare, bare_times)]
            for fn, sink in pairs if index % 2 == 0 else reversed(pairs):
                sink.append(timed(fn))
        bare.close()
    return (
        statistics.median(wall for wall, _ in client_times),
        statistics.median(wall for wall, _ in bare_times),
        statistics.median(cpu for _, cpu in client_times),
        statistics.median(cpu for _, cpu in bare_times),
    )


def main(argv: list[str] | None = None) -> int:
    """Run the three measurements and print `name: value` lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50, help="jobs for the latency figures")
    parser.add_argument("--long-job-seconds", type=int, default=60, help="length of the long job")
    args = parser.parse_args(argv)

    wake = Sim("--long-poll", "wake", "--job-seconds", "2")
    poll = Sim("--long-poll", "poll", "--job-seconds", "2")  # same jobs, faithful 1 s re-reads
    faithful = Sim("--long-poll", "poll")
    started = time.monotonic()
    try:
        long_job: dict = {}
        background = threading.Thread(
            target=calls_per_long_job, args=(faithful, args.long_job_seconds, long_job)
        )
        background.start()

        wake_lat = result_latency(wake, args.jobs)
        poll_lat = result_latency(poll, args.jobs)
        client_s, bare_s, client_cpu, bare_cpu = overhead(wake)
        background.join()

        print("== result latency (job end -> wait_for_job returns) ==")
        print(f"jobs: {args.jobs}")
        print(f"wake_p50_ms: {percentile(wake_lat, 50) * 1000:.1f}")
        print(f"wake_p99_ms: {percentile(wake_lat, 99) * 1000:.1f}")
        print(f"poll_p50_ms: {percentile(poll_lat, 50) * 1000:.1f}")
        print(f"poll_p99_ms: {percentile(poll_lat, 99) * 1000:.1f}")
        print(f"== Pi calls for one {args.long_job_seconds} s job (faithful poll mode) ==")
        print(f"wait_for_job_poll_timeout_20_gets: {long_job['long_poll']}")
        print(f"naive_1s_loop_gets: {long_job['naive']}")
        print(f"wait_for_job_seconds: {long_job['wait_seconds']:.1f}")
        print("== client overhead (500 GET /jobs/:id, median of 5 rounds) ==")
        print(f"piclient_ms_per_call: {client_s / 500 * 1000:.3f}")
        print(f"bare_session_ms_per_call: {bare_s / 500 * 1000:.3f}")
        print(f"overhead_ratio: {client_s / bare_s:.3f}")
        print(f"piclient_cpu_ms_per_call: {client_cpu / 500 * 1000:.3f}")
        print(f"bare_session_cpu_ms_per_call: {bare_cpu / 500 * 1000:.3f}")
        print(f"total_runtime_s: {time.monotonic() - started:.1f}")
    finally:
        for sim in (wake, poll, faithful):
            sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
