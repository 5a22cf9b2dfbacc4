"""Prometheus metrics: requests, Pi calls, finished jobs and deliveries, rendered per scrape.

This module imports neither Flask nor the connector's Flask-bound modules: the Pi client
(connector.pi) counts its calls here and must stay usable without a web app. Gauges read from
Redis at scrape time are collectors registered by the layers that own the data
(connector.jobs.gauges).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# Set it before any connector process starts: prometheus-client picks in-memory or file-backed
# values when first imported. /metrics reads it per scrape to choose what to aggregate.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The text format every Prometheus reads. prometheus-client >= 0.22 calls its output 1.0.0; it is
# the same bytes for names like ours, which need no UTF-8 escaping.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# The standard metric objects are module-level on purpose: prometheus-client's multiprocess
# mode keys its per-process files by metric name, and the Pi client (no app at hand) must find
# them. They are registered in no registry; each scrape builds its own (see Metrics.registry).
HTTP_REQUESTS = Counter(
    "pic_http_requests",
    "HTTP requests answered, by Flask route template (never the raw path)",
    ["endpoint", "method", "status"],
    registry=None,
)
HTTP_DURATION = Histogram(
    "pic_http_request_duration_seconds",
    "Time to answer an HTTP request, by Flask route template",
    ["endpoint"],
    # Waiting endpoints hold a request for up to Zapier's 25 s budget.
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60),
    registry=None,
)
PI_CALLS = Counter(
    "pic_pi_calls",
    "HTTP attempts made to Pi (each retry counted), by route template and status or 'error'",
    ["endpoint", "status"],
    registry=None,
)
JOBS_FINISHED = Counter(
    "pic_jobs_finished",
    "Jobs that reached a terminal status",
    ["kind", "status"],
    registry=None,
)
TIME_TO_RESULT = Histogram(
    "pic_time_to_result_seconds",
    "Seconds from a job's submission to its terminal status",
    ["kind"],
    buckets=(1, 2, 5, 10, 20, 30, 60, 90, 120, 180, 300, 600, 1200, 1800),
    registry=None,
)
DELIVERIES = Counter(
    "pic_deliveries",
    "Delivery attempts by target kind and outcome",
    ["kind", "outcome"],
    registry=None,
)
STANDARD = (HTTP_REQUESTS, HTTP_DURATION, PI_CALLS, JOBS_FINISHED, TIME_TO_RESULT, DELIVERIES)

_UUID_SEGMENT = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}|\d+")


# -- recording (cheap, and never raises: a metric must not break the work it counts) ----------


def observe_request(rule: str | None, method: str, status: int, seconds: float | None) -> None:
    """Count one answered HTTP request under its route template ('unmatched' without one)."""
    try:
        endpoint = rule or "unmatched"
        # Any token is a valid method on the wire: keep the label set bounded.
        method = method if method in HTTP_METHODS else "other"
        HTTP_REQUESTS.labels(endpoint, method, str(status)).inc()
        if seconds is not None:
            HTTP_DURATION.labels(endpoint).observe(seconds)
    except Exception:
        log.debug("request metric not recorded", exc_info=True)


def pi_endpoint(method: str, url: str) -> str:
    """Return "METHOD /api/v1/route" with ids replaced by :id (a bounded label)."""
    path = urlsplit(url).path
    start = path.find("/api/")
    path = path[start:] if start >= 0 else path  # drop a base URL's own path prefix
    segments = [":id" if _UUID_SEGMENT.fullmatch(s) else s for s in path.split("/")]
    return f"{method.upper()} {'/'.join(segments)}"


def record_pi_call(method: str, url: str, status: int | None) -> None:
    """Count one HTTP attempt to Pi; status None means no answer (connection error, timeout)."""
    try:
        PI_CALLS.labels(pi_endpoint(method, url), "error" if status is None else str(status)).inc()
    except Exception:
        log.debug("pi call metric not recorded", exc_info=True)


def record_finished(
    kind: str, status: str, created_at: float | None, finished_at: float | None
) -> None:
    """Count a job's end and observe its time from submission to result."""
    try:
        JOBS_FINISHED.labels(kind, status).inc()
        finished = finished_at if finished_at is not None else time.time()
        if created_at:
            TIME_TO_RESULT.labels(kind).observe(max(0.0, finished - created_at))
    except Exception:
        log.debug("finished-job metric not recorded", exc_info=True)


def record_delivery(kind: str, outcome: str) -> None:
    """Count one delivery attempt by target kind and outcome."""
    try:
        DELIVERIES.labels(kind, outcome).inc()
    except Exception:
        log.debug("delivery metric not recorded", exc_info=True)


# -- scrape -----------------------------------------------------------------------------------


class Metrics:
    """Render the metrics of this process, or of every process in multiprocess mode."""

    def __init__(self, collectors: Sequence[Collector] = ()) -> None:
        self.collectors = tuple(collectors)

    def registry(self) -> CollectorRegistry:
        """Return a fresh registry for one scrape (the mode is read now, not at import)."""
        registry = CollectorRegistry()
        directory = os.environ.get(MULTIPROC_ENV)
        # A directory that is gone (e.g. removed by the server that made it) must not fail
        # the scrape: this process's own metrics are still worth showing.
        if directory and os.path.isdir(directory):
            # Sums the files every process (gunicorn workers, the RQ worker) writes there.
            MultiProcessCollector(registry, path=directory)
        else:
            for metric in STANDARD:
                registry.register(metric)
        for collector in self.collectors:
            registry.register(collector)
        return registry

    def render(self) -> tuple[bytes, str]:
        """Return the Prometheus text exposition and its content type."""
        return generate_latest(self.registry()), CONTENT_TYPE

    def init_app(self, app) -> None:
        """Register the metrics on the app (GET /metrics is served by connector.web.ops)."""
        app.extensions["metrics"] = self
