"""RQ workers inside the worker process: their blocking reads never trip the app's Redis timeout."""

from __future__ import annotations

import time

import pytest
from rq import Queue
from rq.exceptions import DequeueTimeout

from connector import create_app
from connector.runtime.redis_store import SOCKET_TIMEOUT
from connector.worker import ConnectorThreadWorker, build_worker


def test_an_idle_rq_worker_blocks_longer_than_the_app_socket_timeout(app_config):
    # RQ blocks on its queues for (maintenance + 15 - 15) s: here 7 s, past the 5 s timeout.
    app = create_app({**app_config, "CONNECTOR_WORKER_MAINTENANCE_SECONDS": 7})
    store = app.extensions["store"]
    store.redis.ping()  # a pooled connection now exists with the app's short timeout
    # A plain RQ worker (not a thread worker) reads its queues for the whole (TTL - 15) s.
    worker = build_worker(app, simple=True)
    assert worker.dequeue_timeout > SOCKET_TIMEOUT

    started = time.monotonic()
    # The read RQ makes between jobs, on an empty queue: it must end on Redis's side
    # (DequeueTimeout), not with a client socket timeout, which made RQ log "Redis
    # connection timeout, quitting..." and the RQ thread start over.
    with pytest.raises(DequeueTimeout):
        Queue.dequeue_any(worker.queues, worker.dequeue_timeout, connection=worker.connection)
    assert time.monotonic() - started >= worker.dequeue_timeout - 0.5


def test_rq_leaves_the_app_pool_timeout_alone(app_config):
    app = create_app({**app_config, "CONNECTOR_WORKER_MAINTENANCE_SECONDS": 30})
    store = app.extensions["store"]
    build_worker(app, cls=ConnectorThreadWorker)
    kwargs = store.redis.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == SOCKET_TIMEOUT  # RQ once raised it to 40 s for everyone


def _queued(app, name: str) -> int:
    from connector.runtime.queues import get_queue

    return get_queue(app.extensions["store"], name).count


def test_a_stopped_worker_process_takes_no_task_after_shutdown(app_config):
    from connector.runtime.queues import DELIVER, get_queue
    from connector.worker import WorkerProcess

    app = create_app(app_config)
    process = WorkerProcess(app, delivery_threads=1, shopify_threads=1)
    process.start()
    deadline = time.monotonic() + 10
    while len(process.workers) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.5)  # both RQ threads are idle, blocked on their queues

    assert process.shutdown(grace=5) == 0
    assert not any(thread.is_alive() for thread in process._rq_threads)
    # Work queued after shutdown returns stays queued for the next worker process: an RQ thread
    # still reading the queues would pop it and die with this process (the lost pushes).
    get_queue(app.extensions["store"], DELIVER).enqueue(
        "connector.delivery.dispatch.deliver", "acct", "job", "sub:x", 1
    )
    time.sleep(2.5)
    assert _queued(app, DELIVER) == 1


def test_busy_shopify_threads_never_hold_up_a_delivery(app_config):
    from connector.runtime.queues import DELIVER, SHOPIFY, get_queue
    from connector.worker import WorkerProcess

    app = create_app(app_config)
    store = app.extensions["store"]
    process = WorkerProcess(app, delivery_threads=1, shopify_threads=1)
    process.start()
    try:
        # Shopify installs that wait a long time on Pi (here: a sleep) fill their own lane.
        for _ in range(3):
            get_queue(store, SHOPIFY).enqueue("time.sleep", 8, job_timeout=30)
        time.sleep(0.5)
        delivery = get_queue(store, DELIVER).enqueue("time.sleep", 0, job_timeout=30)
        deadline = time.monotonic() + 5
        while delivery.get_status(refresh=True) != "finished":
            assert time.monotonic() < deadline, "the delivery waited behind the installs"
            time.sleep(0.05)
    finally:
        process.shutdown(grace=0.5)
