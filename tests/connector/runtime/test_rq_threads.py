"""RQ on threads: a Redis pool sized for its threads."""

from __future__ import annotations

from connector.runtime.rq_threads import RQ_SPARE_CONNECTIONS, rq_pool_size


def test_an_rq_pool_holds_three_connections_per_thread():
    assert rq_pool_size(58) == 3 * 58 + RQ_SPARE_CONNECTIONS
    assert rq_pool_size(0) == 3 + RQ_SPARE_CONNECTIONS
