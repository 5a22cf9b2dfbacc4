"""The test-only admin API under /_sim: stats, reset, config, job inspection and forcing."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from connector.pisim.envelopes import Reply

if TYPE_CHECKING:
    from connector.pisim.router import PiSim

PREFIX = "/_sim"
_JOB_RE = re.compile(r"^/_sim/jobs/([^/]+)$")
_FORCE_RE = re.compile(r"^/_sim/jobs/([^/]+)/(complete|fail)$")


def _json(status: int, body: dict[str, Any]) -> Reply:
    # Admin answers carry no X-Request-Id: they are not Pi responses.
    return Reply(status, body, request_id="")


def _problem(status: int, message: str) -> Reply:
    return _json(status, {"error": {"code": "sim_error", "message": message}})


def _body(raw: bytes) -> dict[str, Any] | None:
    """Return a JSON object body ({} when empty), or None when it is not one."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def handle(sim: PiSim, method: str, path: str, raw: bytes) -> Reply:
    """Answer one admin request."""
    path = path.rstrip("/")
    body = _body(raw) if method == "POST" else {}
    if body is None:
        return _problem(400, "body must be a JSON object")
    if path == f"{PREFIX}/stats" and method == "GET":
        return _json(200, sim.controls.stats())
    if path == f"{PREFIX}/config":
        if method == "GET":
            return _json(200, sim.controls.snapshot())
        if method == "POST":
            return _configure(sim, body)
    if path == f"{PREFIX}/reset" and method == "POST":
        restore = bool(body.pop("restore_flags", False))
        sim.store.reset()
        sim.controls.reset(restore_flags=restore)
        return _configure(sim, body)
    if path == f"{PREFIX}/jobs" and method == "GET":
        return _json(200, {"jobs": sim.store.all_jobs()})
    found = _JOB_RE.match(path)
    if found and method == "GET":
        job = sim.store.internal(found.group(1))
        return _json(200, job) if job else _problem(404, "no such job")
    found = _FORCE_RE.match(path)
    if found and method == "POST":
        outcome = "completed" if found.group(2) == "complete" else "failed"
        result = sim.store.force(found.group(1), outcome)
        if result is None:
            return _problem(404, "no such job")
        changed, job = result
        return _json(200, {"changed": changed, "job": job})
    return _problem(404, f"no admin route {method} {path}")


def _configure(sim: PiSim, body: dict[str, Any]) -> Reply:
    try:
        return _json(200, sim.controls.configure(body))
    except ValueError as exc:
        return _problem(400, str(exc))
