"""Logs with a request id: JSON lines for production, text lines for people; never a secret."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from flask import Flask, g, request

from connector.runtime import metrics

# Follows one piece of work from the HTTP request through the worker to the delivery.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
_CALLER_REQUEST_ID = re.compile(r"[A-Za-z0-9_\-]{8,64}")  # an X-Request-Id we keep

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


# Names the process in text lines; the CLI sets it for the processes it starts.
PROCESS_ROLE_ENV = "PIC_PROCESS_ROLE"
_COLOURS = {
    "DEBUG": "\033[2m",
    "WARNING": "\033[33m",
    "ERROR": "\033[31m",
    "CRITICAL": "\033[1;31m",
}
_RESET, _DIM = "\033[0m", "\033[2m"


class TextFormatter(logging.Formatter):
    """Format a record as one line for people: time, process, level, message, request id."""

    def __init__(self, *, colour: bool = False) -> None:
        super().__init__()
        self.colour = colour
        self.process = f"{os.environ.get(PROCESS_ROLE_ENV) or 'app'}[{os.getpid()}]"

    def format(self, record: logging.LogRecord) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        stamp = f"{clock}.{int(record.msecs):03d}"
        level = f"{record.levelname:<7}"
        request_id = request_id_var.get()
        suffix = f"  {request_id}" if request_id else ""
        if not self.colour:
            return f"{stamp} {self.process:<14} {level} {record.getMessage()}{suffix}"
        tint = _COLOURS.get(record.levelname, "")
        return (
            f"{_DIM}{stamp} {self.process:<14}{_RESET} {tint}{level} {record.getMessage()}"
            f"{_RESET}{_DIM}{suffix}{_RESET}"
        )


# What each RQ worker thread says about itself on start and on every maintenance round.
_HOUSEKEEPING = re.compile(
    r"cleaning registries|Listening on|subscribing to channel|unsubscribing from channel"
    r"|started with PID|scheduler lock|Scheduler for .* started|releasing locks"
)


class HousekeepingFilter(logging.Filter):
    """Lower RQ's per-thread housekeeping to DEBUG, so INFO shows the work being done."""

    def filter(self, record: logging.LogRecord) -> bool:
        housekeeping = record.levelno == logging.INFO and record.name.startswith("rq.")
        if housekeeping and _HOUSEKEEPING.search(str(record.msg)):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Send redacted lines to stderr (JSON, or text for people) at the given level."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_pic", False)), None)
    if handler is None:
        handler = logging.StreamHandler()
        handler._pic = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    if fmt.lower() == "text":
        stream = getattr(handler, "stream", sys.stderr)
        handler.setFormatter(TextFormatter(colour=stream.isatty()))
    else:
        handler.setFormatter(JsonFormatter())
    root.setLevel(level.upper())
    for handler in root.handlers:
        for kind in (RedactingFilter, HousekeepingFilter):
            if not any(isinstance(f, kind) for f in handler.filters):
                handler.addFilter(kind())


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
        g.request_id = incoming if _CALLER_REQUEST_ID.fullmatch(incoming) else new_request_id()
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
