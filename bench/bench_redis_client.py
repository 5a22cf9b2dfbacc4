"""Benchmark what a Redis round trip and a new connection cost the client (prints `name: value`).

Every figure is client CPU (`time.process_time`) in one process against a private
`redis-server` on loopback, so the machine's noise shows less than in latencies:

- a new connection and its first command: redis-py's defaults (redis-py 8: HELLO 3, CLIENT
  MAINT_NOTIFICATIONS, two CLIENT SETINFO, then a health-check PING) against the connector's
  (`handshake_options`: RESP2, no labels, the connect counted as the health check);
- one `GET`, one 20-field `HGETALL` and a pipeline of 10 `HGET`s on a pooled connection, with
  whichever reply parser is installed (hiredis when it is, redis-py's own otherwise: run it
  once with and once without hiredis to compare).

Run: `.venv/bin/python bench/bench_redis_client.py [--rounds 3]` (~20 s).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector.runtime.redis_connect import RedisConnector, RedisTarget  # noqa: E402
from tests.support.redis import RedisServer  # noqa: E402

CONNECTIONS = 500
CALLS = 2000


def connection_cost(make_client) -> float:
    """Return client CPU µs per new connection and its first command."""
    started = time.process_time()
    for _ in range(CONNECTIONS):
        client = make_client()
        client.get("pic-bench:none")
        client.connection_pool.disconnect()
    return (time.process_time() - started) / CONNECTIONS * 1e6


def call_cost(call) -> float:
    """Return client CPU µs per call."""
    started = time.process_time()
    for _ in range(CALLS):
        call()
    return (time.process_time() - started) / CALLS * 1e6


def main(argv: list[str] | None = None) -> int:
    """Start a private Redis; print the cost of connections and calls, medians of the rounds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    server = RedisServer().start()
    try:
        target = RedisTarget.from_url(server.url)
        connector = RedisConnector(target)

        def ours():
            return connector.client(socket_timeout=5, max_connections=10)

        def defaults():
            return redis.Redis.from_url(server.url, socket_timeout=5, health_check_interval=30)

        client = ours()
        client.hset("pic-bench:h", mapping={f"field{n}": "x" * 20 for n in range(20)})

        def pipeline():
            pipe = client.pipeline(transaction=False)
            for n in range(10):
                pipe.hget("pic-bench:h", f"field{n}")
            pipe.execute()

        figures: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for name, make in (("redis_py_defaults", defaults), ("connector", ours)):
                figures.setdefault(f"new_connection_us_{name}", []).append(connection_cost(make))
            for name, call in (
                ("get", lambda: client.get("pic-bench:none")),
                ("hgetall_20_fields", lambda: client.hgetall("pic-bench:h")),
                ("pipeline_10_hget", pipeline),
            ):
                figures.setdefault(f"{name}_us", []).append(call_cost(call))
        parser_class = type(client.connection_pool.get_connection()._parser).__name__
        print(f"reply_parser: {parser_class}")
        for name, values in figures.items():
            print(f"{name}: {statistics.median(values):.0f}")
        default_cost = statistics.median(figures["new_connection_us_redis_py_defaults"])
        ours_cost = statistics.median(figures["new_connection_us_connector"])
        print(f"new_connection_ratio_connector_vs_defaults: {ours_cost / default_cost:.2f}")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
