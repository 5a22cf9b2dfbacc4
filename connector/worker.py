"""The RQ worker that runs the connector's tasks inside an app context."""

from __future__ import annotations

import logging
import signal
import time

import redis
from flask import Flask
from rq import SimpleWorker, Worker

from connector.queues import ALL_QUEUES, get_queue
from connector.store import Store

log = logging.getLogger("connector.worker")

# A killed worker's job is found when its heartbeat (monitoring interval + grace) lapses and the
# next maintenance pass runs: 20 s + 60 s + at most 30 s puts it back on its queue within 2 min.
JOB_MONITORING_INTERVAL = 20
MAINTENANCE_INTERVAL = 30
HEARTBEAT_GRACE = 60
RESTART_DELAY = 2.0  # between losing Redis and starting over
# RQ's worker TTL minus this is how long an idle worker blocks on its queues between passes.
_RQ_DEQUEUE_MARGIN = 15


def _with_app(base: type[Worker]) -> type[Worker]:
    """Return a worker class whose jobs run inside the Flask app's context."""

    class AppWorker(base):  # type: ignore[misc, valid-type]
        flask_app: Flask | None = None
        heartbeat_grace: int = HEARTBEAT_GRACE
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

    AppWorker.__name__ = f"App{base.__name__}"
    return AppWorker


ConnectorWorker = _with_app(Worker)
ConnectorSimpleWorker = _with_app(SimpleWorker)


def build_worker(
    app: Flask, *, simple: bool = False, queues: tuple[str, ...] = ALL_QUEUES
) -> Worker:
    """Return a worker listening on the connector's queues with the app attached."""
    store: Store = app.extensions["store"]
    cls = ConnectorSimpleWorker if simple else ConnectorWorker
    monitoring = int(app.config.get("CONNECTOR_WORKER_MONITORING_SECONDS", JOB_MONITORING_INTERVAL))
    maintenance = int(app.config.get("CONNECTOR_WORKER_MAINTENANCE_SECONDS", MAINTENANCE_INTERVAL))
    worker = cls(
        [get_queue(store, name) for name in queues],
        connection=store.redis,
        job_monitoring_interval=monitoring,
        maintenance_interval=maintenance,
        # An idle worker blocks on its queues for (TTL - 15) s before it runs maintenance again;
        # RQ's default (405 s) would leave an abandoned job unseen for minutes.
        worker_ttl=maintenance + _RQ_DEQUEUE_MARGIN,
    )
    worker.flask_app = app
    worker.heartbeat_grace = int(
        app.config.get("CONNECTOR_WORKER_HEARTBEAT_GRACE_SECONDS", HEARTBEAT_GRACE)
    )
    return worker


def run_worker(app: Flask, *, burst: bool = False, simple: bool = False) -> bool:
    """Work the connector's queues until stopped (or until empty with burst)."""
    while True:
        worker = None
        try:
            worker = build_worker(app, simple=simple)  # RQ talks to Redis from the start
            worked = worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            worked = False  # Redis is still away, or the teardown could not reach it either
        if burst or (worker is not None and worker.stop_was_requested):
            return worked
        # RQ quits its loop when Redis drops out mid-job; a Redis restart must not need a
        # process restart too, so start a fresh worker once Redis may be back. Nothing runs
        # while we wait, so a signal may end the process the default way.
        log.warning("worker stopped on a Redis error; starting over in %s s", RESTART_DELAY)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        time.sleep(RESTART_DELAY)
