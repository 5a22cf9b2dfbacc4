"""RQ on threads: a pool sized for its threads, idle keys spaced out, reads woken at a stop."""

from __future__ import annotations

import threading
import time

import redis

from connector.runtime.rq_threads import (
    RQ_SPARE_CONNECTIONS,
    blocked_reads,
    local_addresses,
    rq_pool_size,
    wake_idle_reads,
)


def test_an_rq_pool_holds_three_connections_per_thread():
    assert rq_pool_size(58) == 3 * 58 + RQ_SPARE_CONNECTIONS
    assert rq_pool_size(0) == 3 + RQ_SPARE_CONNECTIONS


def test_an_idle_rq_thread_renews_its_key_every_ten_seconds_not_every_read():
    from datetime import UTC, datetime, timedelta

    from connector.runtime.rq_threads import IDLE_HEARTBEAT_SECONDS, idle_heartbeat_due

    at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert idle_heartbeat_due(None, at)  # a new worker's key is written at once
    assert not idle_heartbeat_due(at - timedelta(seconds=1), at)
    assert not idle_heartbeat_due(at - timedelta(seconds=IDLE_HEARTBEAT_SECONDS - 0.1), at)
    assert idle_heartbeat_due(at - timedelta(seconds=IDLE_HEARTBEAT_SECONDS), at)


def test_only_queue_reads_from_this_process_are_woken():
    listed = [
        {"id": "1", "addr": "127.0.0.1:5001", "cmd": "blmove"},  # ours, reading a queue
        {"id": "2", "addr": "127.0.0.1:5002", "cmd": "evalsha"},  # ours, running a task
        {"id": "3", "addr": "127.0.0.1:6001", "cmd": "blmove"},  # another process's read
        {"id": "4", "addr": "127.0.0.1:5003", "cmd": "blpop"},  # ours, an older RQ's read
    ]
    ours = {"127.0.0.1:5001", "127.0.0.1:5002", "127.0.0.1:5003"}

    assert blocked_reads(listed, ours) == ["1", "4"]


def test_a_blocked_queue_read_answers_at_once_when_woken(redis_url):
    client = redis.Redis.from_url(redis_url, socket_timeout=30)
    other = redis.Redis.from_url(redis_url, socket_timeout=30)  # another process's read
    answers: dict[str, object] = {}

    def read(name, who):
        started = time.monotonic()
        answers[name] = (who.blmove(f"pic-test:{name}", "pic-test:dst", 20), started)
        answers[name] = (*answers[name], time.monotonic())

    ours = threading.Thread(target=read, args=("ours", client))
    theirs = threading.Thread(target=read, args=("theirs", other), daemon=True)
    ours.start()
    theirs.start()
    deadline = time.monotonic() + 5
    while len(blocked_reads(client.client_list(), local_addresses(client))) < 1:
        assert time.monotonic() < deadline, "the read never blocked"
        time.sleep(0.02)

    assert wake_idle_reads(client) == 1
    ours.join(5)

    assert not ours.is_alive()
    value, started, ended = answers["ours"]
    assert value is None and ended - started < 10  # as if its 20 s read timed out
    assert theirs.is_alive()  # the other process's read goes on
    other.lpush("pic-test:theirs", "x")
    theirs.join(5)
    assert answers["theirs"][0] == b"x"
