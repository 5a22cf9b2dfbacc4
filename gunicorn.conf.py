"""Production gunicorn settings for the connector's web tier."""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
# Threads let a worker hold waiting Zapier/ManyChat requests while others are served.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", 32))
timeout = 60  # above the longest budget (Zapier's 25 s) plus Pi's answer
graceful_timeout = 30
keepalive = 5
accesslog = None  # the app logs each request itself, without headers or query strings
