"""Simulator settings, one-shot fault queues and request counters."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

LONG_POLL_MODES = ("poll", "wake")
IMAGE_BASE_URL = "https://cdn.pisim.local/images"


@dataclass
class Config:
    """Knobs settable by CLI flag at start and by POST /_sim/config at run time."""

    job_seconds: float = 3.0
    image_seconds: float = 2.0
    long_poll: str = "poll"
    rate_limit_every: int = 0
    retry_after: int = 1
    error_every: int = 0
    error_status: int = 500
    hang_seconds: float = 120.0
    # A slower Pi: every create answers this long after it wrote its job.
    create_seconds: float = 0.0
    # Where finished image and campaign jobs say their image lives: tests point it at a server
    # they run, so the image can really be downloaded.
    image_base_url: str = IMAGE_BASE_URL

    def updated(self, values: dict[str, Any]) -> Config:
        """Return a copy with values applied; raise ValueError naming a bad one."""
        known = {f.name: f.type for f in fields(self)}
        changes: dict[str, Any] = {}
        for name, value in values.items():
            if name not in known:
                raise ValueError(f"unknown setting {name!r}")
            changes[name] = _coerce(name, value)
        return replace(self, **changes)


def _coerce(name: str, value: Any) -> Any:
    """Return a setting value checked for its type and range."""
    if name == "image_base_url":
        if not isinstance(value, str) or not value.startswith(("http://", "https://")):
            raise ValueError("image_base_url must be an http(s) URL")
        return value.rstrip("/")
    if name == "long_poll":
        if value not in LONG_POLL_MODES:
            raise ValueError("long_poll must be 'poll' or 'wake'")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"{name} must be a number")
    if name in ("job_seconds", "image_seconds", "hang_seconds", "create_seconds"):
        if value < 0:
            raise ValueError(f"{name} must be zero or more")
        return float(value)
    if not float(value).is_integer():
        raise ValueError(f"{name} must be an integer")
    value = int(value)
    if name == "error_status" and not 400 <= value <= 599:
        raise ValueError("error_status must be an HTTP error status (400-599)")
    if value < 0:
        raise ValueError(f"{name} must be zero or more")
    return value


@dataclass
class Fault:
    """What to do to one API request before handling it."""

    drop: bool = False
    hang: float = 0.0
    status: int | None = None


def _take(queue: list[dict[str, Any]], route: str) -> dict[str, Any] | None:
    """Consume one use of the first queued entry matching route; return it."""
    for entry in queue:
        wanted = entry.get("route")
        if wanted and wanted not in (route, route.split(" ", 1)[1]):
            continue
        entry["count"] -= 1
        if entry["count"] <= 0:
            queue.remove(entry)
        return entry
    return None


def _one_shots(value: Any, name: str, *, needs_status: bool = False) -> list[dict[str, Any]]:
    """Return validated one-shot entries from a dict or a list of dicts."""
    items = value if isinstance(value, list) else [value]
    entries = []
    for item in items:
        if not isinstance(item, dict):
            raise ValueError(f"{name} entries must be objects")
        count = item.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"{name}.count must be a positive integer")
        entry: dict[str, Any] = {"count": count, "route": item.get("route")}
        if needs_status:
            status = item.get("status", 500)
            if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status < 600:
                raise ValueError(f"{name}.status must be an HTTP error status")
            entry["status"] = status
        if name == "hang_next":
            seconds = item.get("seconds", 60)
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                raise ValueError("hang_next.seconds must be zero or more")
            entry["seconds"] = float(seconds)
        entries.append(entry)
    return entries


class Controls:
    """Current settings, queued faults and counters, shared by every handler thread."""

    def __init__(self, config: Config) -> None:
        self.flags = replace(config)
        self.config = replace(config)
        self._lock = threading.Lock()
        # In-flight long-polls survive a reset, so this counter is never cleared.
        self.waiting = 0
        self._clear()

    def _clear(self) -> None:
        self.requests: Counter[str] = Counter()
        self.jobs_created = 0
        self.fail_next: list[dict[str, Any]] = []
        self.hang_next: list[dict[str, Any]] = []
        self.reset_next: list[dict[str, Any]] = []
        self._error_seq = 0
        self._limit_seq = 0

    def configure(self, body: dict[str, Any]) -> dict[str, Any]:
        """Apply settings and queue one-shot faults from an admin body; return the state."""
        body = dict(body)
        queues = {
            "fail_next": _one_shots(body.pop("fail_next"), "fail_next", needs_status=True)
            if "fail_next" in body
            else [],
            "hang_next": _one_shots(body.pop("hang_next"), "hang_next")
            if "hang_next" in body
            else [],
            "reset_next": _one_shots(body.pop("reset_next"), "reset_next")
            if "reset_next" in body
            else [],
        }
        config = self.config.updated(body)
        with self._lock:
            # A new "every N" starts counting afresh, so the Nth request after it is the one hit.
            if "error_every" in body:
                self._error_seq = 0
            if "rate_limit_every" in body:
                self._limit_seq = 0
            self.config = config
            for name, entries in queues.items():
                getattr(self, name).extend(entries)
        return self.snapshot()

    def reset(self, *, restore_flags: bool = False) -> None:
        """Forget counters and queued faults; optionally return to the start-up flags."""
        with self._lock:
            self._clear()
            if restore_flags:
                self.config = replace(self.flags)

    def snapshot(self) -> dict[str, Any]:
        """Return the settings and queued faults as JSON-ready data."""
        with self._lock:
            return {
                **asdict(self.config),
                "fail_next": [dict(e) for e in self.fail_next],
                "hang_next": [dict(e) for e in self.hang_next],
                "reset_next": [dict(e) for e in self.reset_next],
            }

    def stats(self) -> dict[str, Any]:
        """Return request counts per route template and jobs created."""
        with self._lock:
            return {
                "requests": dict(self.requests),
                "jobs_created": self.jobs_created,
                "waiting": self.waiting,
            }

    def count_request(self, route: str) -> None:
        """Count one API request under its route template."""
        with self._lock:
            self.requests[route] += 1

    def count_job(self) -> None:
        """Count one created job."""
        with self._lock:
            self.jobs_created += 1

    def track_waiting(self, delta: int) -> None:
        """Adjust the number of requests currently long-polling."""
        with self._lock:
            self.waiting += delta

    def take_fault(self, route: str) -> Fault:
        """Return the faults to apply to this request, consuming one-shot entries."""
        fault = Fault()
        with self._lock:
            if _take(self.reset_next, route) is not None:
                fault.drop = True
                return fault
            hang = _take(self.hang_next, route)
            if hang is not None:
                fault.hang = hang["seconds"]
            failed = _take(self.fail_next, route)
            if failed is not None:
                fault.status = failed["status"]
            elif self.config.error_every:
                self._error_seq += 1
                if self._error_seq % self.config.error_every == 0:
                    fault.status = self.config.error_status
        return fault

    def take_rate_limit(self) -> tuple[bool, dict[str, str]]:
        """Count an authenticated request; return whether it is limited and the headers."""
        with self._lock:
            every = self.config.rate_limit_every
            if not every:
                return False, {}
            self._limit_seq += 1
            position = (self._limit_seq - 1) % every + 1
            retry_after = self.config.retry_after
        limited = position == every
        headers = {
            "X-RateLimit-Limit": str(every),
            "X-RateLimit-Remaining": str(max(0, every - 1 - position)),
            "X-RateLimit-Reset": str(math.ceil(time.time() + retry_after)),
        }
        if limited:
            headers.update(rate_limit_headers(every, retry_after))
        return limited, headers

    def retry_after_headers(self) -> dict[str, str]:
        """Return 429 headers for an injected rate limit."""
        return rate_limit_headers(max(1, self.config.rate_limit_every), self.config.retry_after)


def rate_limit_headers(limit: int, retry_after: int) -> dict[str, str]:
    """Return the headers of a 429: Retry-After (at least 1 s) and the X-RateLimit set."""
    seconds = max(1, int(retry_after))
    return {
        "Retry-After": str(seconds),
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(math.ceil(time.time() + seconds)),
    }
