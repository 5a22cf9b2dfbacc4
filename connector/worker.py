"""The RQ worker that runs the connector's tasks inside an app context."""

from __future__ import annotations

from flask import Flask
from rq import SimpleWorker, Worker

from connector.queues import ALL_QUEUES, get_queue
from connector.store import Store

# A killed worker's job is found when its heartbeat (monitoring interval + 60 s) lapses and the
# next maintenance pass runs: 20 s + 60 s + at most 30 s puts it back on its queue within 2 min.
JOB_MONITORING_INTERVAL = 20
MAINTENANCE_INTERVAL = 30


def _with_app(base: type[Worker]) -> type[Worker]:
    """Return a worker class whose jobs run inside the Flask app's context."""

    class AppWorker(base):  # type: ignore[misc, valid-type]
        flask_app: Flask | None = None

        def perform_job(self, job, queue):  # noqa: D401 - RQ's hook
            assert self.flask_app is not None, "set flask_app before working"
            with self.flask_app.app_context():
                return super().perform_job(job, queue)

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
    worker = cls(
        [get_queue(store, name) for name in queues],
        connection=store.redis,
        job_monitoring_interval=JOB_MONITORING_INTERVAL,
        maintenance_interval=MAINTENANCE_INTERVAL,
    )
    worker.flask_app = app
    return worker


def run_worker(app: Flask, *, burst: bool = False, simple: bool = False) -> bool:
    """Work the connector's queues until stopped (or until empty with burst)."""
    worker = build_worker(app, simple=simple)
    return worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
