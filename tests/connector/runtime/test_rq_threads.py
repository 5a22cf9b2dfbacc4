"""RQ on threads: a Redis pool sized for its threads."""

from __future__ import annotations

from connector.runtime.rq_threads import RQ_SPARE_CONNECTIONS, rq_pool_size


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
