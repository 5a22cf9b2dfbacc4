"""Structured JSON logs with a request id, and a filter that keeps secrets out of them."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from flask import Flask, g, request

from connector.runtime import metrics

# Follows one piece of work from the HTTP request through the worker to the delivery.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

_SECRET_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"),
    re.compile(r"\bpi_(?:test|live)_[A-Za-z0-9_\-]+"),
    re.compile(r"\bshp(?:at|ua|ca|pa|ss|rt)_[A-Za-z0-9]+"),
    re.compile(r"\bwhsec_[A-Za-z0-9+/=]+"),
    re.compile(r"(?i)((?:access_token|refresh_token|api_key|apikey|token|secret|hmac)=)[^&\s]+"),
    # An OAuth code travels as a query parameter; a bare "code=" is an error code worth keeping.
    re.compile(r"(?i)([?&]code=)[^&\s]+"),
]


def redact(text: str) -> str:
    """Replace anything that looks like a credential with a marker."""
    for pattern in _SECRET_PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + "[redacted]", text)
        else:
            text = pattern.sub("[redacted]", text)
    return text


class RedactingFilter(logging.Filter):
    """Redact credentials from every record before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        # Tracebacks can carry request data: never emit them.
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key in ("job_id", "kind", "origin", "status", "duration_ms", "path", "method"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Send JSON lines to stderr, redacted, at the given level (idempotent)."""
    root = logging.getLogger()
    if not any(getattr(h, "_pic", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        handler.addFilter(RedactingFilter())
        handler._pic = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level.upper())
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


@contextmanager
def bound_request_id(request_id: str | None) -> Iterator[None]:
    """Log with `request_id` inside the block: later work done on behalf of that request."""
    token = request_id_var.set(request_id)
    try:
        yield
    finally:
        request_id_var.reset(token)


def new_request_id() -> str:
    """Return a fresh request id."""
    return "req_pic_" + uuid.uuid4().hex


def init_app(app: Flask) -> None:
    """Give each request an id and log method, path, status and duration (never headers)."""
    log = logging.getLogger("connector.http")

    @app.before_request
    def _start() -> None:
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = (
            incoming if re.fullmatch(r"[A-Za-z0-9_\-]{8,64}", incoming) else new_request_id()
        )
        g.request_started = time.perf_counter()
        request_id_var.set(g.request_id)

    @app.after_request
    def _finish(response):
        response.headers["X-Request-Id"] = g.get("request_id", "")
        started = g.get("request_started")
        seconds = time.perf_counter() - started if started else None
        duration_ms = round(seconds * 1000, 1) if seconds is not None else None
        # The route template, never the path: raw paths would make unbounded label sets.
        rule = request.url_rule.rule if request.url_rule is not None else None
        metrics.observe_request(rule, request.method, response.status_code, seconds)
        # The path only: query strings can carry OAuth codes, HMACs and tokens.
        log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": duration_ms,
            },
        )
        return response

    @app.teardown_request
    def _clear(_exc: BaseException | None) -> None:
        request_id_var.set(None)
