"""Operational endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import requests
from flask import Blueprint, Response, current_app, jsonify

from connector.config import get_settings
from connector.runtime.redis_store import get_redis_store

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    """Answer when the process serves requests."""
    return jsonify({"status": "ok"})


def _pi_reachable(base_url: str) -> str | None:
    """Return None when Pi answers HTTP at all, else the reason it does not."""
    try:
        # Any HTTP answer (401 included) proves Pi is up; no key is sent.
        requests.get(base_url.rstrip("/") + "/api/v1/brands", timeout=3, allow_redirects=False)
    except requests.RequestException as exc:
        return f"Pi unreachable ({type(exc).__name__})"
    return None


@bp.get("/readyz")
def readyz():
    """Answer 200 when Redis and Pi both answer, else 503 with the reasons."""
    reasons = []
    try:
        get_redis_store().ping()
    except Exception as exc:  # any Redis failure means not ready
        reasons.append(f"Redis unreachable ({type(exc).__name__})")
    pi_problem = _pi_reachable(get_settings().pi_base_url)
    if pi_problem:
        reasons.append(pi_problem)
    if reasons:
        body = {
            "error": {"code": "not_ready", "message": "; ".join(reasons)},
            "status": "not_ready",
        }
        return jsonify(body), 503
    return jsonify({"status": "ready", "redis": "ok", "pi": "ok"})


@bp.get("/metrics")
def metrics():
    """Answer the Prometheus text exposition (unauthenticated: keep it off the public internet)."""
    body, content_type = current_app.extensions["metrics"].render()
    return Response(body, content_type=content_type)
