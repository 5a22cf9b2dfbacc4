"""RQ workers inside the worker process: their blocking reads never trip the app's Redis timeout."""

from __future__ import annotations

import time

import pytest
from rq import Queue
from rq.exceptions import DequeueTimeout, StopRequested

from connector import create_app
from connector.runtime.redis_store import SOCKET_TIMEOUT
from connector.runtime.rq_threads import STRANDED_SECONDS
from connector.worker import THREAD_DEQUEUE_SECONDS, ConnectorThreadWorker, build_worker


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

    started = time.monotonic()
    assert process.shutdown(grace=THREAD_DEQUEUE_SECONDS + 5) == 0
    # Their reads were ended, not waited out.
    assert time.monotonic() - started < THREAD_DEQUEUE_SECONDS / 2
    assert not any(thread.is_alive() for thread in process._rq_threads)
    # Work queued after shutdown returns stays queued for the next worker process: an RQ thread
    # still reading the queues would pop it and die with this process (the lost pushes).
    get_queue(app.extensions["store"], DELIVER).enqueue(
        "connector.delivery.dispatch.deliver", "acct", "job", "sub:x", 1
    )
    time.sleep(2.5)
    assert _queued(app, DELIVER) == 1


def test_idle_rq_threads_keep_their_keys_without_a_write_before_every_read(app_config, monkeypatch):
    from connector import worker as worker_module
    from connector.worker import WorkerProcess

    monkeypatch.setattr(worker_module, "THREAD_DEQUEUE_SECONDS", 1)
    app = create_app(app_config)
    process = WorkerProcess(app, delivery_threads=1, shopify_threads=1)
    process.start()
    try:
        deadline = time.monotonic() + 10
        while len(process.workers) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        redis_client = process.workers[0].connection
        keys = [worker.key for worker in process.workers]
        first = [redis_client.hget(key, "last_heartbeat") for key in keys]
        time.sleep(3.5)  # three or more 1 s queue reads each
        assert [redis_client.hget(key, "last_heartbeat") for key in keys] == first
        assert all(redis_client.ttl(key) > 60 for key in keys)  # still far from lapsing
    finally:
        assert process.shutdown(grace=5) == 0


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
        # The delivery thread leaves (its read is ended): a thread still reading would take the
        # next test's tasks. The install lane is cut short.
        assert process.shutdown(grace=3) == 1


def test_a_thread_worker_task_is_abandoned_after_its_heartbeat_not_its_timeout(app_config):
    # A thread worker heartbeats while a task runs, so a task cut short by a crash is
    # retried after the monitoring interval + grace (it used to be the task's 120 s timeout).
    from rq.job import Job

    app = create_app(
        {
            **app_config,
            "CONNECTOR_WORKER_MONITORING_SECONDS": 5,
            "CONNECTOR_WORKER_HEARTBEAT_GRACE_SECONDS": 7,
        }
    )
    worker = build_worker(app, cls=ConnectorThreadWorker)
    job = Job.create(
        "connector.delivery.dispatch.deliver", timeout=120, connection=worker.connection
    )
    assert worker.get_heartbeat_ttl(job) == 5 + 7


def test_a_registry_cleaning_lock_left_by_a_crash_lapses_within_seconds(app_config):
    from connector.worker import CLEAN_LOCK_SECONDS

    app = create_app(app_config)
    worker = build_worker(app, cls=ConnectorThreadWorker)
    queue = worker.queues[0]
    seen = []
    original = queue.connection.set

    def spy(name, value, **kwargs):
        if name == queue.registry_cleaning_key:
            seen.append(kwargs.get("ex"))
        return original(name, value, **kwargs)

    queue.connection.set = spy
    try:
        worker.clean_registries()
    finally:
        queue.connection.set = original
    # RQ's own lock lasts 899 s: a worker dying mid-clean stopped every retry for 15 min.
    assert seen and max(seen) <= CLEAN_LOCK_SECONDS <= 10
    assert queue.connection.get(queue.registry_cleaning_key) is None  # released after use


def test_a_task_popped_while_the_stop_arrives_runs_before_the_thread_leaves(app_config):
    # The stop request lands during the queue read that pops a task: RQ heartbeats once more
    # before running it, and leaving there dropped the popped task (a lost ManyChat push).
    from connector.runtime.queues import DELIVER, get_queue

    app = create_app(app_config)
    worker = build_worker(app, cls=ConnectorThreadWorker)
    get_queue(app.extensions["store"], DELIVER).enqueue("builtins.len", [1, 2])
    beat = worker.heartbeat

    def stop_during_the_read(*args, **kwargs):
        result = beat(*args, **kwargs)
        worker._stop_requested = True  # the signal arrives while the read is under way
        return result

    worker.heartbeat = stop_during_the_read
    popped = worker.dequeue_job_and_maintain_ttl(1)
    assert popped is not None  # not dropped between the read and the run
    job, queue = popped
    worker.heartbeat = beat
    worker.execute_job(job, queue)
    assert job.get_status(refresh=True) == "finished"
    with pytest.raises(StopRequested):
        worker.heartbeat()  # idle again: now it leaves


def test_each_rq_thread_reads_one_queue_so_a_popped_task_is_never_only_in_memory(app_config):
    # Several queues make RQ pop with BLPOP: a task popped just before a Redis crash was lost
    # (tests/reliability/test_redis_crash.py). One queue: BLMOVE to an intermediate list,
    # which RQ's maintenance retries when the task never started.
    from connector.runtime.queues import DELIVER, SHOPIFY, get_queue
    from connector.worker import WorkerProcess

    app = create_app(app_config)
    assert WorkerProcess(app).lanes == {DELIVER: 8, SHOPIFY: 4}  # a lane, a queue
    queue = get_queue(app.extensions["store"], DELIVER)
    job = queue.enqueue("builtins.len", [1])
    worker = build_worker(app, cls=ConnectorThreadWorker, queues=(DELIVER,))
    popped, _ = worker.dequeue_job_and_maintain_ttl(1)  # ... and the process dies here
    assert popped.id == job.id
    assert queue.intermediate_queue.get_job_ids() == [job.id]


def test_a_task_stranded_in_the_intermediate_list_runs_again(app_config):
    # Redis SIGKILLed just after it moved a task to the intermediate list, before the reply
    # reached the RQ thread: no process holds the task. Maintenance must put it back.
    from rq import Retry

    from connector.runtime.queues import DELIVER, get_queue

    app = create_app(app_config)
    queue = get_queue(app.extensions["store"], DELIVER)
    job = queue.enqueue("builtins.len", [1], retry=Retry(max=3))
    worker = build_worker(app, cls=ConnectorThreadWorker, queues=(DELIVER,))
    stranded, _ = worker.dequeue_job_and_maintain_ttl(1)  # ... and its reply was lost
    assert stranded.id == job.id

    worker.clean_registries()  # the first pass only notes when it saw the task
    stuck = queue.intermediate_queue
    stuck.connection.set(stuck.get_first_seen_key(job.id), time.time() - STRANDED_SECONDS - 1)
    worker.clean_registries()
    assert stuck.get_job_ids() == []
    assert queue.get_job_ids() == [job.id]  # back on its queue, its retries intact


def test_fifty_shopify_threads_all_work_without_running_out_of_redis_connections(
    app_config, caplog
):
    from connector.runtime.queues import SHOPIFY, get_queue
    from connector.worker import WorkerProcess

    app = create_app(app_config)
    store = app.extensions["store"]
    # 58 RQ threads: each holds a command channel and a queue read, and a heartbeat per task.
    process = WorkerProcess(app, delivery_threads=8, shopify_threads=50)
    process.start()
    try:
        tasks = [
            get_queue(store, SHOPIFY).enqueue("time.sleep", 2, job_timeout=30) for _ in range(50)
        ]
        deadline = time.monotonic() + 20
        while not all(task.get_status(refresh=True) == "finished" for task in tasks):
            assert time.monotonic() < deadline, "installs waited for a thread"
            time.sleep(0.2)
    finally:
        process.shutdown(grace=5)
    assert "an RQ thread stopped" not in caplog.text  # a full pool restarted threads
    assert len(process.workers) == 58  # no worker was replaced
