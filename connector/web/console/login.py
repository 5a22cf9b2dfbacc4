"""The console's session: a signed cookie, CSRF tokens, the token check and its rate limit."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

from flask import Response, current_app, g, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from connector.config import get_settings
from connector.errors import BadRequest, RateLimited
from connector.runtime.redis_store import get_redis_store

COOKIE = "pic_console"
SESSION_SECONDS = 12 * 3600
FAILED_LOGINS_PER_MINUTE = 5
CSRF_FIELD = "csrf_token"


def _serializer() -> URLSafeTimedSerializer:
    settings = get_settings()
    # Derived from the token and the app's key: changing either signs every session out.
    material = f"{settings.console_token}\x00{settings.secret_key}".encode()
    secret = hmac.new(material, b"pi-connector console session", hashlib.sha256).hexdigest()
    return URLSafeTimedSerializer(secret, salt="pic-console")


def session() -> dict[str, Any]:
    """Return this request's console session (a fresh anonymous one when there is none)."""
    if "console_session" not in g:
        data: dict[str, Any] = {}
        raw = request.cookies.get(COOKIE)
        if raw:
            try:
                data = _serializer().loads(raw, max_age=SESSION_SECONDS)
            except BadSignature:
                data = {}
        if not isinstance(data, dict) or not data.get("csrf"):
            data = {"csrf": secrets.token_urlsafe(24)}
            g.console_session_changed = True
        g.console_session = data
    return g.console_session


def signed_in() -> bool:
    """Return True when the session belongs to an operator who gave the token."""
    return bool(session().get("operator"))


def csrf_token() -> str:
    """Return the session's CSRF token (for the forms of the page)."""
    return session()["csrf"]


def check_csrf() -> None:
    """Refuse a POST whose form does not carry the session's CSRF token."""
    sent = request.form.get(CSRF_FIELD, "")
    if not sent or not hmac.compare_digest(sent.encode(), csrf_token().encode()):
        raise BadRequest("the form is stale or forged: reload the page", code="csrf_failed")


def _failures_key(address: str) -> str:
    return get_redis_store().key("console", "fail", address)


def check_token(given: str) -> bool:
    """Check the operator token in constant time, 429 after too many failures a minute."""
    address = request.remote_addr or "unknown"
    redis = get_redis_store().redis
    key = _failures_key(address)
    failures = int(redis.get(key) or 0)
    if failures >= FAILED_LOGINS_PER_MINUTE:
        wait = max(1, redis.ttl(key))
        raise RateLimited(
            "too many failed sign-ins; wait a minute",
            code="console_rate_limited",
            headers={"Retry-After": str(wait)},
        )
    expected = get_settings().console_token or ""
    if expected and hmac.compare_digest(given.encode(), expected.encode()):
        return True
    pipe = redis.pipeline(transaction=False)
    # The minute runs from the first failure: a count per clock minute let five failures
    # that straddled a minute's end through.
    pipe.incr(key)
    pipe.expire(key, 60, nx=True)
    pipe.execute()
    return False


def sign_in() -> None:
    """Make the session an operator's, with a new CSRF token (no fixation)."""
    g.console_session = {"operator": True, "csrf": secrets.token_urlsafe(24), "at": time.time()}
    g.console_session_changed = True


def sign_out() -> None:
    """Forget the operator."""
    g.console_session = {"csrf": secrets.token_urlsafe(24)}
    g.console_session_changed = True


def save(response: Response) -> Response:
    """Write the session cookie when it changed: signed, HttpOnly, SameSite=Strict."""
    if g.get("console_session_changed"):
        secure = get_settings().public_url.startswith("https://")
        response.set_cookie(
            COOKIE,
            _serializer().dumps(g.console_session),
            max_age=SESSION_SECONDS,
            path="/console",
            httponly=True,
            samesite="Strict",
            secure=secure,
        )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    # No script at all; inline styles only; forms post back here.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    return response


def enabled() -> bool:
    """Return True when CONNECTOR_CONSOLE_TOKEN is set (the console is off otherwise)."""
    return bool(current_app and get_settings().console_token)
