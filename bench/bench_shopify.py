"""Benchmark the Shopify app on loopback with real processes (prints `name: value` lines).

1. Webhook handler latency over 500 signed deliveries (goal: p99 <= 50 ms), measured twice:
   in-process through Flask's test client (the handler alone) and over HTTP to gunicorn.
2. Install-to-brand_id-persisted: from the OAuth callback request to `brand_id` in the shop
   config, with a 2 s simulator job, over 20 installs of distinct shops (goal: p50 <= 2.2 s).

Run: `.venv/bin/python bench/bench_shopify.py` (needs redis-server on PATH; about a minute).
It starts its own private Redis, Pi simulator, fake Shopify, web (gunicorn) and worker.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import redis
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stats import percentile  # noqa: E402
from connector import create_app  # noqa: E402
from tests.shopify_app.conftest import stack_env  # noqa: E402
from tests.shopify_app.fake_shopify import FakeShopify  # noqa: E402
from tests.shopify_app.helpers import signed_query, webhook_body, webhook_headers  # noqa: E402
from tests.support.constants import TEST_SECRET_KEY  # noqa: E402
from tests.support.pisim import start_simulator  # noqa: E402
from tests.support.redis import RedisServer  # noqa: E402
from tests.support.stack import LiveStack  # noqa: E402

TOPICS = ("app/uninstalled", "customers/data_request", "shop/redact", "customers/redact")


def _delivery(n: int) -> tuple[bytes, dict[str, str]]:
    topic = TOPICS[n % len(TOPICS)]
    shop = f"bench-hook-{n % 50}.myshopify.com"
    body = webhook_body(topic, shop)
    return body, webhook_headers(body, topic, shop, webhook_id=str(uuid.uuid4()))


def bench_webhooks_in_process(
    redis_url: str, fake: FakeShopify, deliveries: int
) -> dict[str, float]:
    """Time the handler through the test client (no network, no server)."""
    config = {
        "REDIS_URL": redis_url,
        "PI_BASE_URL": "http://127.0.0.1:9",
        "CONNECTOR_SECRET_KEY": TEST_SECRET_KEY,
        "CONNECTOR_LOG_LEVEL": "WARNING",
        **stack_env(fake),
    }
    client = create_app(config).test_client()
    for n in range(20):
        body, headers = _delivery(n)
        client.post("/shopify/webhooks", data=body, headers=headers)
    timings = []
    for n in range(deliveries):
        body, headers = _delivery(n)
        started = time.perf_counter()
        response = client.post("/shopify/webhooks", data=body, headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200 and response.json["status"] == "accepted", response.json
    return {
        "webhook_in_process_deliveries": deliveries,
        "webhook_in_process_p50_ms": statistics.median(timings),
        "webhook_in_process_p99_ms": percentile(timings, 99),
    }


def bench_webhooks_http(stack: LiveStack, deliveries: int) -> dict[str, float]:
    """Time deliveries to the gunicorn server over a keep-alive session."""
    session = requests.Session()
    url = stack.base_url + "/shopify/webhooks"
    for n in range(20):
        body, headers = _delivery(n)
        session.post(url, data=body, headers=headers, timeout=10)
    timings = []
    for n in range(deliveries):
        body, headers = _delivery(n)
        started = time.perf_counter()
        response = session.post(url, data=body, headers=headers, timeout=10)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200 and response.json()["status"] == "accepted", (
            response.text
        )
    return {
        "webhook_http_deliveries": deliveries,
        "webhook_http_p50_ms": statistics.median(timings),
        "webhook_http_p99_ms": percentile(timings, 99),
        "webhook_http_max_ms": max(timings),
    }


def bench_installs(
    stack: LiveStack, fake: FakeShopify, redis_url: str, installs: int
) -> dict[str, float]:
    """Time OAuth callback -> brand_id in the shop config, one install at a time."""
    r = redis.Redis.from_url(redis_url)
    session = requests.Session()
    durations = []
    run = uuid.uuid4().hex[:6]
    for n in range(installs):
        shop = f"bench-{run}-{n}.myshopify.com"
        # A distinct primary domain per shop, so every install is a new 2 s Pi job.
        fake.add_shop(shop, primary_url=f"https://www.bench{n}-{run}.example")
        response = session.get(
            f"{stack.base_url}/shopify/install?shop={shop}", allow_redirects=False, timeout=10
        )
        state = parse_qs(urlsplit(response.headers["Location"]).query)["state"][0]
        params = signed_query({"code": fake.issue_code(shop), "shop": shop, "state": state})
        config_key = f"pic:shop:{{{shop}}}:config"
        started = time.perf_counter()
        response = session.get(
            f"{stack.base_url}/shopify/callback", params=params, allow_redirects=False, timeout=10
        )
        assert response.status_code == 302, response.text
        deadline = started + 30
        while not r.hget(config_key, "brand_id"):
            if time.perf_counter() > deadline:
                raise RuntimeError(f"no brand_id for {shop}: {r.hgetall(config_key)}")
            time.sleep(0.002)
        durations.append(time.perf_counter() - started)
    return {
        "installs": installs,
        "install_to_brand_id_p50_s": statistics.median(durations),
        "install_to_brand_id_p90_s": percentile(durations, 90),
        "install_to_brand_id_max_s": max(durations),
        "install_overhead_p50_ms": (statistics.median(durations) - 2.0) * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    """Start the processes, run both benchmarks, print `name: value` lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=500)
    parser.add_argument("--installs", type=int, default=20)
    args = parser.parse_args(argv)

    redis_server = RedisServer().start()
    simulator = start_simulator("--long-poll", "wake", "--job-seconds", "2")
    fake = FakeShopify().start()
    stack = LiveStack(
        redis_server.url, simulator.base_url, {**stack_env(fake), "CONNECTOR_LOG_LEVEL": "WARNING"}
    )
    try:
        results = bench_webhooks_in_process(redis_server.url, fake, args.deliveries)
        redis_server.client().flushall()  # the queued webhook tasks are not part of the install run
        stack.start()
        results.update(bench_webhooks_http(stack, args.deliveries))
        redis_server.client().flushall()
        stack.stop()
        stack.start()  # a fresh worker that did not register with the flushed Redis
        results.update(bench_installs(stack, fake, redis_server.url, args.installs))
        print("simulator_job_seconds: 2")
        for name, value in results.items():
            print(f"{name}: {value:.3f}" if isinstance(value, float) else f"{name}: {value}")
    finally:
        stack.stop()
        fake.stop()
        simulator.stop()
        redis_server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
