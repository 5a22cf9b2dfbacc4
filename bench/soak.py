"""Soak: a steady mixed load for N minutes while sampling every process's RSS, fds and threads.

Load (open loop, `--rate` submissions a second, cycling through the platforms): ManyChat
extract with push to a fake ManyChat, Zapier extract with callback_url, /v1 jobs with a
callback (every 10th to a target that always answers 500, so deliveries retry with backoff
and then give up), plus `GET /manychat/v1/jobs/<id>` waits on recent jobs. Sampled every
`--sample-seconds` from /proc (no debug endpoint): VmRSS, open fds and threads of the
gunicorn master and workers, the worker process, the Pi simulator and redis-server; Redis
`INFO memory` used_memory and DBSIZE. After `--warmup-minutes`, the growth of each figure is
fitted (least squares) and printed per hour and as a share of its post-warm-up value.

Run: `.venv/bin/python bench/soak.py` (20 min) or `--minutes 5`; needs redis-server on PATH.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import redis
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.shopify_app.conftest import stack_env  # noqa: E402
from tests.shopify_app.fake_shopify import FakeShopify  # noqa: E402
from tests.shopify_app.helpers import signed_query, webhook_body, webhook_headers  # noqa: E402
from tests.support.fake_manychat import FakeManyChat  # noqa: E402
from tests.support.faults import descendants  # noqa: E402
from tests.support.mixed_load import API, MANYCHAT, ZAPIER, MixedLoad, fault_env  # noqa: E402
from tests.support.pisim import start_simulator  # noqa: E402
from tests.support.receiver import Receiver  # noqa: E402
from tests.support.redis import RedisServer  # noqa: E402
from tests.support.stack import LiveStack  # noqa: E402

KEY = "pi_test_soak_account"


def proc_figures(pid: int) -> dict[str, float]:
    """Return RSS (MB), open fds and threads of a process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "rss_mb": int(fields["VmRSS"].split()[0]) / 1024,
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": int(fields["Threads"]),
    }


@dataclass
class Series:
    """Samples of one figure: (seconds since start, value)."""

    points: list[tuple[float, float]] = field(default_factory=list)

    def growth(self, after: float) -> tuple[float, float, float]:
        """Return (first value after warm-up, slope per hour, growth over the run in %)."""
        kept = [(t, v) for t, v in self.points if t >= after]
        if len(kept) < 2:
            return float("nan"), float("nan"), float("nan")
        n = len(kept)
        mean_t = sum(t for t, _ in kept) / n
        mean_v = sum(v for _, v in kept) / n
        var = sum((t - mean_t) ** 2 for t, _ in kept) or 1.0
        slope = sum((t - mean_t) * (v - mean_v) for t, v in kept) / var  # per second
        start = kept[0][1]
        span = kept[-1][0] - kept[0][0]
        percent = 100 * slope * span / start if start else float("nan")
        return start, slope * 3600, percent


class Sampler:
    """Sample every process of the stack and Redis on a thread."""

    def __init__(self, stack: LiveStack, redis_server: RedisServer, sim_pid: int, every: float):
        self.stack, self.redis, self.sim_pid, self.every = stack, redis_server, sim_pid, every
        self.series: dict[str, Series] = {}
        self.began = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _processes(self) -> dict[str, int]:
        master = self.stack.web.pid
        workers = sorted(p for p in descendants(master))
        named = {"web-master": master, "worker": self.stack.workers[0].pid}
        named.update({f"web-worker-{n}": pid for n, pid in enumerate(workers)})
        named.update({"pisim": self.sim_pid, "redis": self.redis.process.pid})
        return named

    def sample(self) -> None:
        at = time.monotonic() - self.began
        for name, pid in self._processes().items():
            try:
                figures = proc_figures(pid)
            except OSError:
                continue  # a gunicorn worker being replaced
            for figure, value in figures.items():
                self.series.setdefault(f"{name}.{figure}", Series()).points.append((at, value))
        client = self.redis.client()
        memory = client.info("memory")["used_memory"] / 1e6
        self.series.setdefault("redis.used_memory_mb", Series()).points.append((at, memory))
        self.series.setdefault("redis.dbsize", Series()).points.append((at, client.dbsize()))
        client.close()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def start(self) -> Sampler:
        self.sample()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def poll_waits(stack: LiveStack, load: MixedLoad, stop: threading.Event, rate: float) -> None:
    """GET recent jobs the way a ManyChat flow re-polls (each waits up to its budget)."""
    session = requests.Session()
    headers = {"Authorization": f"Bearer {KEY}"}
    while not stop.wait(1.0 / rate):
        recent = [s for s in load.snapshot()[-200:] if s.job_id]
        if recent:
            job_id = random.choice(recent).job_id
            session.get(f"{stack.base_url}/manychat/v1/jobs/{job_id}", headers=headers, timeout=20)


class ShopifyLoad:
    """Install a new shop, then move an installed shop's primary domain, every `every` s."""

    def __init__(self, stack: LiveStack, fake: FakeShopify, redis_url: str, every: float):
        self.stack, self.fake, self.every = stack, fake, every
        self.redis_url = redis_url
        self.installed: list[str] = []
        self.failed: list[str] = []
        self.updates = 0
        self.run = f"{random.randrange(16**6):06x}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _install(self, session: requests.Session, n: int) -> None:
        shop = f"soak-{self.run}-{n}.myshopify.com"
        self.fake.add_shop(shop, primary_url=f"https://www.soak{n}-{self.run}.example")
        base = self.stack.base_url
        answer = session.get(f"{base}/shopify/install?shop={shop}", allow_redirects=False)
        state = parse_qs(urlsplit(answer.headers["Location"]).query)["state"][0]
        query = signed_query({"code": self.fake.issue_code(shop), "shop": shop, "state": state})
        answer = session.get(f"{base}/shopify/callback", params=query, allow_redirects=False)
        (self.installed if answer.status_code == 302 else self.failed).append(shop)

    def _move_domain(self, session: requests.Session, n: int) -> None:
        shop = random.choice(self.installed)
        domain = f"www.moved{n}-{self.run}.example"
        self.fake.set_primary_domain(shop, f"https://{domain}")
        body = webhook_body("shop/update", shop, domain=domain)
        headers = webhook_headers(body, "shop/update", shop)
        session.post(f"{self.stack.base_url}/shopify/webhooks", data=body, headers=headers)
        self.updates += 1

    def _loop(self) -> None:
        n = 0
        while not self._stop.wait(self.every):
            n += 1
            # A fresh connection each time: one idle for `every` s (5 s = gunicorn's keepalive)
            # was closed by the server just as the next install went out on it.
            session = requests.Session()
            try:
                self._install(session, n)
                if len(self.installed) > 1:
                    self._move_domain(session, n)
            except (requests.RequestException, KeyError) as exc:
                self.failed.append(f"{n}: {type(exc).__name__}")
            finally:
                session.close()

    def start(self) -> ShopifyLoad:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def with_brand(self, timeout: float = 60.0) -> int:
        """Wait until every installed shop has a `brand_id`; return how many have one."""
        client = redis.Redis.from_url(self.redis_url)
        deadline = time.monotonic() + timeout
        while True:
            done = sum(
                bool(client.hget(f"pic:shop:{{{shop}}}:config", "brand_id"))
                for shop in self.installed
            )
            if done == len(self.installed) or time.monotonic() > deadline:
                client.close()
                return done
            time.sleep(1.0)


def report(sampler: Sampler, warmup: float, load: MixedLoad, minutes: float) -> None:
    """Print `name: value` lines: load figures, then growth per series."""
    subs = load.snapshot()
    acknowledged = sum(s.acknowledged for s in subs)
    print(f"soak_minutes: {minutes}")
    print(f"submissions: {len(subs)}")
    print(f"acknowledged: {acknowledged}")
    print(f"failed_requests: {len(subs) - acknowledged}")
    for name in sorted(sampler.series):
        start, per_hour, percent = sampler.series[name].growth(warmup)
        last = sampler.series[name].points[-1][1]
        # Quartiles after warm-up tell a pool filling up (steps that stop) from a leak (a ramp).
        kept = [v for t, v in sampler.series[name].points if t >= warmup]
        quarters = [kept[min(len(kept) - 1, len(kept) * q // 4)] for q in range(5)] if kept else []
        print(
            f"{name}: after_warmup={start:.1f} last={last:.1f} "
            f"growth_per_hour={per_hour:+.1f} growth_over_run={percent:+.2f}% "
            f"quartiles={'/'.join(f'{v:.0f}' for v in quarters)}"
        )
    memory = sampler.series["redis.used_memory_mb"].points
    if acknowledged and len(memory) > 1:
        per_job_kb = (memory[-1][1] - memory[0][1]) * 1000 / acknowledged
        print(f"redis_kb_per_job: {per_job_kb:.2f}")


def main(argv: list[str] | None = None) -> int:
    """Start the stack, run the load, sample, print the growth figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--warmup-minutes", type=float, default=None)
    parser.add_argument("--rate", type=float, default=20.0, help="submissions per second")
    parser.add_argument("--wait-rate", type=float, default=5.0, help="job GETs per second")
    parser.add_argument("--sample-seconds", type=float, default=15.0)
    parser.add_argument("--install-seconds", type=float, default=5.0, help="between installs")
    args = parser.parse_args(argv)
    warmup = 60 * (args.warmup_minutes if args.warmup_minutes is not None else args.minutes / 5)

    redis_server = RedisServer(appendonly=True, appendfsync="everysec").start()
    simulator = start_simulator("--long-poll", "wake", "--job-seconds", "1")
    fake, receiver, failing = FakeManyChat().start(), Receiver().start(), Receiver().start()
    failing.answers = [(500, {})] * 10_000_000  # every delivery to it fails, then gives up
    shopify = FakeShopify().start()
    env = fault_env(fake.url, **stack_env(shopify))
    stack = LiveStack(redis_server.url, simulator.base_url, env)
    stop = threading.Event()
    try:
        stack.start()
        load = MixedLoad(
            stack.base_url,
            KEY,
            receiver.url,
            rate=args.rate,
            platforms=(MANYCHAT, ZAPIER, API),
            hints=("secs1", "secs3", "fail"),
            failing_url=failing.url,
        )
        sampler = Sampler(stack, redis_server, simulator.pid, args.sample_seconds).start()
        waits = threading.Thread(target=poll_waits, args=(stack, load, stop, args.wait_rate))
        shops = ShopifyLoad(stack, shopify, redis_server.url, args.install_seconds)
        with load:
            waits.start()
            shops.start()
            time.sleep(args.minutes * 60)
            stop.set()
            shops.stop()
        waits.join()
        sampler.stop()
        report(sampler, warmup, load, args.minutes)
        print(f"shopify_installs: {len(shops.installed)}")
        print(f"shopify_install_failures: {len(shops.failed)} {shops.failed[:5]}")
        print(f"shopify_installs_with_brand_id: {shops.with_brand()}")
        print(f"shopify_domain_moves: {shops.updates}")
    finally:
        stop.set()
        stack.stop()
        for server in (fake, receiver, failing, shopify):
            server.stop()
        simulator.stop()
        redis_server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
