"""Production gunicorn settings for the connector's web tier.

ManyChat and Zapier requests spend almost all their time waiting on Pi (up to 7 s and 25 s), so
each worker is a gevent worker: a waiting request is a parked greenlet, not a thread, and one
process holds hundreds of them. gunicorn's gevent worker monkey-patches the standard library
(sockets, threading, time.sleep) when the worker starts, before it imports `wsgi:app`, so
redis-py, requests and the app's threading primitives all yield to other requests.

Environment overrides: GUNICORN_BIND, WEB_CONCURRENCY (worker processes, default: one per CPU),
GUNICORN_WORKER_CONNECTIONS (requests one worker holds at once, default 1000),
PROMETHEUS_MULTIPROC_DIR (where workers share metrics; default: a fresh temp directory).
"""

import glob
import multiprocessing
import os
import shutil
import tempfile

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "gevent"
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", 1000))
timeout = 60  # above the longest budget (Zapier's 25 s) plus Pi's answer
graceful_timeout = 30
keepalive = 5
accesslog = None  # the app logs each request itself, without headers or query strings

# Metrics from every worker land in one directory that /metrics aggregates. It must exist
# before the workers fork (they inherit the variable), so it is chosen when this file loads.
_OWNED_DIR_ENV = "PIC_GUNICORN_METRICS_DIR"  # marks a directory this file created
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="pic-metrics-")
    os.environ[_OWNED_DIR_ENV] = os.environ["PROMETHEUS_MULTIPROC_DIR"]


def _owned_metrics_dir() -> str | None:
    """Return the metrics directory when this file created it (else the operator owns it)."""
    owned = os.environ.get(_OWNED_DIR_ENV)
    return owned if owned and owned == os.environ.get("PROMETHEUS_MULTIPROC_DIR") else None


def on_starting(server):
    """Clear stale per-process metric files left in a directory we own."""
    owned = _owned_metrics_dir()
    if owned:
        os.makedirs(owned, exist_ok=True)
        for stale in glob.glob(os.path.join(owned, "*.db")):
            os.remove(stale)


def child_exit(server, worker):
    """Fold a dead worker's live gauges out of the shared metrics."""
    try:
        from prometheus_client import multiprocess
    except ImportError:  # metrics are optional for serving
        return
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics directory we created."""
    owned = _owned_metrics_dir()
    if owned:
        shutil.rmtree(owned, ignore_errors=True)


def post_worker_init(worker):
    """Freeze what the app loaded so garbage collection skips it (shorter pauses under load)."""
    import gc

    gc.collect()
    gc.freeze()


def worker_exit(server, worker):
    """Let the creates of requests answered `queued` finish before the process goes."""
    try:
        from connector.jobs.handoff import drain
    except ImportError:  # the app never loaded
        return
    # Within graceful_timeout; a create cut short is taken over by a worker once its lease lapses.
    drain(20.0)
