"""The worker process: the tracker plus RQ workers on threads, all inside the Flask app.

One process follows every in-flight job (connector.jobs.tracker), makes each delivery's first
attempt the moment a job ends (connector.delivery.first_attempts), and runs the queued tasks —
delivery retries and Shopify installs — on a few RQ workers that are threads, not forked
work-horses: those tasks wait on sockets, so threads share the process's capacity.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import signal
import threading
import time

import redis
from flask import Flask
from prometheus_client import start_http_server
from rq import Queue, SimpleWorker, Worker, worker_registration
from rq.exceptions import StopRequested
from rq.registry import clean_registries
from rq.scheduler import RQScheduler
from rq.timeouts import TimerDeathPenalty
from rq.utils import now
from rq.worker import WorkerStatus
from rq.worker.base import BaseWorker

from connector.config import get_settings
from connector.delivery.first_attempts import FirstAttempts
from connector.jobs.resubmitter import Resubmitter
from connector.jobs.tracker import Tracker, readoption_bound
from connector.runtime.queues import ALL_QUEUES, DELIVER, SHOPIFY
from connector.runtime.redis_store import RedisStore
from connector.runtime.rq_threads import (
    StrandedTasks,
    close_channel,
    idle_heartbeat_due,
    rq_pool_size,
    wake_workers_reads,
)

log = logging.getLogger(__name__)

# A killed worker's job is found when its heartbeat (monitoring interval + grace) lapses and the
# next maintenance pass runs: with the default settings, 20 s + 60 s + at most 30 s puts it back
# on its queue within 2 min.
RESTART_DELAY = 2.0  # between losing Redis and starting over
# How long a stopping process lets running tasks finish: a ManyChat push is up to three calls
# of CONNECTOR_DELIVERY_TIMEOUT_SECONDS (10 s) each in the worst case; orchestrators allow 30 s.
STOP_GRACE = 25.0
# How long an idle RQ thread blocks on its queues per read. Each read's end wakes the thread
# for a round trip (with 12 threads at 1 s, ~40 % of an idle worker's CPU); a stop does not
# wait for it: `shutdown` ends the reads under way (`wake_workers_reads`).
THREAD_DEQUEUE_SECONDS = 5
WAKE_AGAIN_SECONDS = 0.5  # a thread between its stop check and its next read blocks again
SCHEDULER_INTERVAL = 1.0  # RQ's own scheduler default
# RQ holds its registry-cleaning lock for 15 min; a worker or Redis dying mid-clean left it
# set, and no abandoned task was retried for that long (at 60 s, a Redis crash mid-clean still
# held up a stranded delivery for over a minute). Cleaning takes milliseconds.
CLEAN_LOCK_SECONDS = 10
# RQ's worker TTL minus this is how long an idle worker blocks on its queues between passes.
_RQ_DEQUEUE_MARGIN = 15


def _with_app(base: type[Worker]) -> type[Worker]:
    """Return a worker class whose jobs run inside the Flask app's context."""

    class AppWorker(base):  # type: ignore[misc, valid-type]
        flask_app: Flask | None = None
        heartbeat_grace: int = 0  # set by build_worker from the settings
        stop_was_requested = False

        def request_stop(self, signum, frame):  # noqa: D401 - RQ's signal handler
            self.stop_was_requested = True  # a signal, not an error, ends this worker
            return super().request_stop(signum, frame)

        def perform_job(self, job, queue):  # noqa: D401 - RQ's hook
            assert self.flask_app is not None, "set flask_app before working"
            with self.flask_app.app_context():
                return super().perform_job(job, queue)

        def get_heartbeat_ttl(self, job) -> int:  # noqa: D401 - RQ's hook
            # RQ adds a fixed 60 s to the monitoring interval; ours is a setting.
            return super().get_heartbeat_ttl(job) - 60 + self.heartbeat_grace

        def clean_registries(self) -> None:  # noqa: D401 - RQ's maintenance
            for queue in self.queues:
                key = queue.registry_cleaning_key
                if not queue.connection.set(key, 1, nx=True, ex=CLEAN_LOCK_SECONDS):
                    continue  # another worker cleans this queue now
                try:
                    clean_registries(queue, self._exc_handlers)
                    worker_registration.clean_worker_registry(queue)
                    # A stranded task with retries left goes back on its queue (RQ's own
                    # rule); deliveries and Shopify tasks are queued with retries.
                    StrandedTasks(queue.key, queue.connection).cleanup(self, queue)
                finally:
                    with contextlib.suppress(redis.RedisError):
                        queue.release_maintenance_lock()
            self.last_cleaned_at = now()

    AppWorker.__name__ = f"App{base.__name__}"
    return AppWorker


ConnectorWorker = _with_app(Worker)
ConnectorSimpleWorker = _with_app(SimpleWorker)


class ConnectorThreadWorker(ConnectorSimpleWorker):  # type: ignore[misc, valid-type]
    """An RQ worker that runs on a thread: the process's main thread owns the signals."""

    death_penalty_class = TimerDeathPenalty  # SIGALRM only reaches the main thread

    @property
    def dequeue_timeout(self) -> int:  # noqa: D401 - RQ's hook
        # Bounded reads: an idle thread renews its key and runs maintenance between them.
        return THREAD_DEQUEUE_SECONDS

    holding_task = False  # a task was popped and has not run yet

    def heartbeat(self, timeout: int | None = None, pipeline=None):  # noqa: D401 - RQ's hook
        # RQ's idle loop keeps reading its queues until a task arrives and only a signal
        # handler can break it; on a thread there is none. It heartbeats before every read, so
        # leave here: a task popped after the stop request would die with the process. RQ
        # also heartbeats right after a read that popped a task: leaving then dropped that
        # task (lost pushes in the rolling-deploy test), so a popped task always runs first.
        if self._stop_requested and not self.holding_task and self.get_state() != WorkerStatus.BUSY:
            raise StopRequested()
        if timeout is not None or pipeline is not None:
            return super().heartbeat(timeout, pipeline)  # a task's start: RQ's own timing
        if not idle_heartbeat_due(self.last_heartbeat, now()):
            return None
        pipe = self.connection.pipeline(transaction=False)
        super().heartbeat(None, pipe)
        pipe.execute()  # one round trip, not one per command
        return None

    def reorder_queues(self, reference_queue) -> None:  # noqa: D401 - RQ's hook
        # RQ calls this as soon as a read popped a task, before its last heartbeat.
        self.holding_task = True
        super().reorder_queues(reference_queue)

    def _install_signal_handlers(self) -> None:  # noqa: D401 - RQ's hook
        pass

    def get_heartbeat_ttl(self, job) -> int:  # noqa: D401 - RQ's hook
        # A simple worker never heartbeats while a task runs, so RQ gives it the task's whole
        # timeout (+60 s) before calling it abandoned: a delivery cut short by a Redis crash
        # waited 3 min. This one heartbeats (execute_job), like a forking worker's monitor.
        return BaseWorker.get_heartbeat_ttl(self, job) - 60 + self.heartbeat_grace

    def execute_job(self, job, queue) -> None:  # noqa: D401 - RQ's hook
        done = threading.Event()
        beat = threading.Thread(
            target=self._beat_until, args=(job, done), name=f"{threading.current_thread().name}-hb"
        )
        self.prepare_execution(job)
        beat.start()
        try:
            self.perform_job(job, queue)
        finally:
            done.set()
            beat.join()
            self.holding_task = False
        self.set_state(WorkerStatus.IDLE)

    def _beat_until(self, job, done: threading.Event) -> None:
        """Renew the running task's heartbeat every monitoring interval until it ends."""
        while not done.wait(self.job_monitoring_interval):
            # Redis away: the task fails on its own calls; nothing to renew meanwhile.
            with contextlib.suppress(redis.RedisError):
                self.maintain_heartbeats(job)


def build_worker(
    app: Flask,
    *,
    simple: bool = False,
    queues: tuple[str, ...] = ALL_QUEUES,
    cls: type[Worker] | None = None,
    rq_threads: int | None = None,
) -> Worker:
    """Return a worker listening on the connector's queues with the app attached.

    `rq_threads`: how many RQ workers of this process share the blocking client's pool
    (default: the lanes of the settings).
    """
    store: RedisStore = app.extensions["store"]
    settings = get_settings(app)
    cls = cls or (ConnectorSimpleWorker if simple else ConnectorWorker)
    # RQ blocks on its queues for (TTL - 15) s: on the app's pool (5 s socket timeout) that
    # read timed out and the RQ thread quit and restarted, and RQ raised the shared pool's
    # timeout for everyone else. Its own client keeps both apart.
    ttl = settings.worker_maintenance_seconds + _RQ_DEQUEUE_MARGIN
    if rq_threads is None:
        rq_threads = settings.delivery_threads + settings.shopify_threads
    connection = store.blocking_client(
        max(1, ttl - _RQ_DEQUEUE_MARGIN), max_connections=rq_pool_size(rq_threads)
    )
    worker = cls(
        [Queue(name, connection=connection) for name in queues],
        connection=connection,
        job_monitoring_interval=settings.worker_monitoring_seconds,
        maintenance_interval=settings.worker_maintenance_seconds,
        # An idle worker blocks on its queues for (TTL - 15) s before it runs maintenance again;
        # RQ's default (405 s) would leave an abandoned job unseen for minutes.
        worker_ttl=ttl,
    )
    worker.flask_app = app
    worker.heartbeat_grace = settings.worker_heartbeat_grace_seconds
    return worker


def run_until_idle(app: Flask, *, simple: bool = True, rounds: int = 20) -> bool:
    """Follow every in-flight job to its end and work the queues until both are empty."""
    worked = False
    tracker = Tracker(app, capacity=100_000, lease_seconds=60)
    resubmitter = Resubmitter(app)
    for _ in range(rounds):
        resubmitted = resubmitter.run_until_idle()
        followed = tracker.follow_all() + resubmitted
        ran = build_worker(app, simple=simple).work(
            burst=True, with_scheduler=False, logging_level="WARNING"
        )
        worked = worked or bool(followed) or ran
        if not followed and not ran:
            break
    return worked


class WorkerProcess:
    """Run the tracker, the RQ scheduler and N RQ thread workers until SIGTERM/SIGINT."""

    def __init__(
        self,
        app: Flask,
        *,
        delivery_threads: int | None = None,
        shopify_threads: int | None = None,
    ) -> None:
        self.app = app
        self.settings = get_settings(app)
        # Each queue has threads of its own: a wave of Shopify installs (each waiting on Pi for
        # minutes) fills only the Shopify lane, never the one deliveries take. One queue per
        # thread also makes RQ pop with BLMOVE into an intermediate list (a task popped just
        # before a crash is retried) instead of BLPOP across queues (such a task was lost).
        self.lanes = {
            DELIVER: delivery_threads or self.settings.delivery_threads,
            SHOPIFY: shopify_threads or self.settings.shopify_threads,
        }
        self.tracker = Tracker.from_settings(app)
        # Queued requests whose web process died before Pi confirmed their create.
        self.resubmitter = Resubmitter(app)
        # A delivery's first attempt runs here the moment the tracker stores the job's end:
        # cheaper and sooner than a trip through RQ (retries still take that trip).
        self.first_attempts: FirstAttempts | None = None
        if self.settings.first_attempt_threads > 0:
            threads = self.settings.first_attempt_threads
            self.first_attempts = FirstAttempts(app, threads=threads)
            self.first_attempts.init_app(app)
        self.stopping = threading.Event()
        self.workers: list[Worker] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._rq_threads: list[threading.Thread] = []

    def run(self) -> bool:
        """Serve until asked to stop; return True (a clean stop)."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self._serve_metrics()
        self.start()
        settings = self.settings
        bound = readoption_bound(
            self.tracker.lease_seconds, self.tracker.scan_seconds, settings.tracker_poll_seconds
        )
        log.info(
            "worker up: tracker capacity %s, RQ threads %s; a dead worker's jobs are followed "
            "again within %.0f s",
            self.tracker.capacity,
            self.lanes,
            bound,
        )
        while not self.stopping.wait(1.0):
            pass
        self.shutdown()
        return True

    def start(self) -> None:
        """Start the tracker, the scheduler and the RQ threads in the background."""
        self.tracker.start()
        self.resubmitter.start()
        self._spawn(self._schedule, "pic-rq-scheduler")
        self._rq_threads = [
            self._spawn(functools.partial(self._work, (queue,)), f"pic-rq-{queue}-{n}")
            for queue, count in self.lanes.items()
            for n in range(count)
        ]

    def _serve_metrics(self) -> None:
        """Expose this process's metrics on their own port when one is configured."""
        port = self.settings.worker_metrics_port
        if port:
            host = self.settings.worker_metrics_host
            start_http_server(port, addr=host, registry=self.app.extensions["metrics"].registry())

    def _on_signal(self, signum, frame) -> None:
        self.stopping.set()

    def _spawn(self, target, name: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread

    def _work(self, queues: tuple[str, ...]) -> None:
        """Run one RQ worker on this thread; start a fresh one after a Redis outage."""
        rq_threads = sum(self.lanes.values())
        while not self.stopping.is_set():
            worker = None
            try:
                worker = build_worker(
                    self.app, cls=ConnectorThreadWorker, queues=queues, rq_threads=rq_threads
                )
                with self._lock:
                    self.workers.append(worker)
                worker.work(with_scheduler=False, logging_level="INFO")
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                # RQ gives up its loop when Redis goes away (or cannot start without it).
                if not self.stopping.is_set():
                    log.warning(
                        "an RQ thread stopped on a Redis error (%s); starting over",
                        type(exc).__name__,
                    )
            if self.stopping.is_set():
                break
            if worker is not None:
                with self._lock:
                    self.workers.remove(worker)
                close_channel(worker)
            self.stopping.wait(RESTART_DELAY)

    def _schedule(self) -> None:
        """Move due retries and delayed tasks onto their queues (one scheduler per deployment)."""
        store: RedisStore = self.app.extensions["store"]
        scheduler = RQScheduler(list(ALL_QUEUES), connection=store.redis)
        while not self.stopping.wait(SCHEDULER_INTERVAL):
            try:
                if scheduler.should_reacquire_locks:
                    scheduler.acquire_locks()
                if scheduler.acquired_locks:
                    scheduler.heartbeat()
                    scheduler.enqueue_scheduled_jobs()
            except redis.RedisError as exc:
                log.warning("scheduler pass failed: %s", type(exc).__name__)
        with contextlib.suppress(redis.RedisError):
            scheduler.release_locks()

    def shutdown(self, grace: float = STOP_GRACE) -> int:
        """Hand leases back, stop taking tasks, let running ones finish; return those cut short.

        A task still running after the grace dies with the process; RQ runs it again once it
        counts as abandoned (deliveries and Shopify tasks are retried and safe to repeat).
        """
        self.stopping.set()
        deadline = time.monotonic() + grace
        released = self.tracker.stop()
        with self._lock:
            workers = list(self.workers)
        for worker in workers:
            worker._stop_requested = True  # seen between tasks and before every queue read
        if self.first_attempts is not None:
            # Attempts under way finish (their jobs are still in flight until they do).
            self.first_attempts.close()
            while self.first_attempts.pending and time.monotonic() < deadline:
                time.sleep(0.05)
        # A create in flight finishes (or times out) within its lease; one cut short is taken
        # over by another worker when the lease lapses.
        self.resubmitter.stop(max(0.0, deadline - time.monotonic()))
        for thread in self._rq_threads:
            while thread.is_alive() and time.monotonic() < deadline:
                wake_workers_reads(workers)  # they see the stop at once
                thread.join(min(WAKE_AGAIN_SECONDS, max(0.0, deadline - time.monotonic())))
        cut_short = sum(thread.is_alive() for thread in self._rq_threads)
        for worker in workers:
            with contextlib.suppress(redis.RedisError):
                worker.register_death()
        log.info("worker stopped: %s leases handed back, %s tasks left to RQ", released, cut_short)
        return cut_short


def run_worker(app: Flask, *, burst: bool = False, simple: bool = False) -> bool:
    """Serve as the worker process (or, with burst, finish everything pending and exit)."""
    if burst:
        return run_until_idle(app, simple=simple)
    return WorkerProcess(app).run()
