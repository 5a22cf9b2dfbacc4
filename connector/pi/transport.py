"""Session, timeouts and retries shared by every Pi call."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Self
from urllib.parse import urlsplit

import requests

from connector.pi import lean_send
from connector.pi.exceptions import (
    PiConnectionError,
    PiError,
    PiResponse,
    PiServerError,
    PiTimeout,
    map_error,
)
from connector.pi.retry import should_retry
from connector.runtime import metrics
from connector.runtime.backoff import PI_BACKOFF, RETRY_AFTER, backoff_delay, parse_retry_after

log = logging.getLogger("connector.pi")

USER_AGENT = "pi-connector/0.1"


class _BearerAuth(requests.auth.AuthBase):
    """Attach the API key; as an auth object it also stops requests reading ~/.netrc."""

    def __init__(self, api_key: str) -> None:
        self.header = f"Bearer {api_key}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self.header
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(<redacted>)"


def _non_negative(name: str, value: float, *, positive: bool = False) -> float:
    """Return value as a float if it is a (strictly) positive number, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"{name} must be a number")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {'positive' if positive else 'zero or more'}")
    return float(value)


class Transport:
    """Hold the session and options, and send requests with retries and deadlines."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str,
        timeout: float = 10.0,
        max_retries: int = 3,
        session: requests.Session | None = None,
        backoff_base: float = PI_BACKOFF.base,
        backoff_cap: float = PI_BACKOFF.cap,
        connect_timeout: float = 3.05,
        long_poll_margin: float = 5.0,
        _sleep: Callable[[float], None] = time.sleep,
        _clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("api_key must be a non-empty string")
        if any(c.isspace() for c in api_key.strip()) or not api_key.isprintable():
            raise ValueError("api_key must not contain whitespace or control characters")
        parts = urlsplit(base_url) if isinstance(base_url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("base_url must be an http(s) URL such as https://api.example.com")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError("max_retries must be an integer, zero or more")
        self._timeout = _non_negative("timeout", timeout, positive=True)
        self._connect_timeout = _non_negative("connect_timeout", connect_timeout, positive=True)
        self._long_poll_margin = _non_negative("long_poll_margin", long_poll_margin)
        self._backoff = replace(
            PI_BACKOFF,
            base=_non_negative("backoff_base", backoff_base),
            cap=_non_negative("backoff_cap", backoff_cap),
        )
        self._max_retries = max_retries
        # Accept the root with or without the /api/v1 prefix; routes are always under it.
        root = base_url.rstrip("/").removesuffix("/api/v1")
        self.base_url = root
        self._api = root + "/api/v1"
        self._jobs = self._api + "/jobs/"
        self._sleep = _sleep
        self._clock = _clock
        auth = _BearerAuth(api_key.strip())
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        self._owns_session = session is None
        if session is None:
            session = requests.Session()
            session.headers.update(headers)
            session.auth = auth
            # The environment (proxies, CA bundle) is read once here rather than on each call.
            session.proxies = requests.utils.get_environ_proxies(root)
            session.verify = (
                os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            )
            session.trust_env = False
            self._extra: dict[str, Any] = {}
        else:
            # A caller's session may be shared with other accounts: never store our key on it.
            self._extra = {"auth": auth, "headers": headers}
        self._session = session
        self._auth = auth
        self._headers = {**session.headers, **headers}

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(base_url={self.base_url!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release pooled connections (a session passed in by the caller stays open)."""
        if self._owns_session:
            self._session.close()

    def _request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        json_body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        read_timeout: float | None = None,
        deadline: float | None = None,
        idempotent_post: bool = False,
    ) -> tuple[dict[str, Any], str | None]:
        """Send one logical request with retries; return the JSON body and X-Request-Id."""
        kwargs = self._extra
        if headers:
            kwargs = {**kwargs, "headers": {**kwargs.get("headers", {}), **headers}}
        send = {"params": params, "json": json_body, "allow_redirects": False, **kwargs}
        if not self._session.trust_env:
            send["headers"] = {**self._headers, **headers} if headers else self._headers
        read = self._timeout if read_timeout is None else read_timeout
        attempt = 0
        error: PiError | None = None
        while True:
            timeout = self._attempt_timeout(read, deadline)
            if timeout is None:
                raise error or deadline_error()
            tried = self._send_once(method, url, timeout, send)
            if tried.error is None:
                return tried.body, tried.request_id
            error = tried.error
            if not should_retry(
                method=method,
                attempt=attempt,
                max_retries=self._max_retries,
                status=tried.status,
                exc=tried.cause,
                idempotent_post=idempotent_post,
            ):
                raise error
            delay = backoff_delay(self._backoff, attempt, server_wait=tried.server_wait)
            if deadline is not None and self._clock() + delay >= deadline:
                raise error
            log.info("pi retry %s %s in %.2fs (attempt %d)", method, url, delay, attempt + 1)
            self._sleep(delay)
            attempt += 1

    def _attempt_timeout(self, read: float, deadline: float | None) -> tuple[float, float] | None:
        """Return (connect, read) timeouts for one attempt, cut to the deadline; None past it."""
        if deadline is None:
            return (self._connect_timeout, read)
        remaining = deadline - self._clock()
        if remaining <= 0:
            return None
        return (min(self._connect_timeout, remaining), min(read, remaining))

    def _send_once(
        self, method: str, url: str, timeout: tuple[float, float], send: dict[str, Any]
    ) -> _Attempt:
        """Make one HTTP attempt and read its answer (counted in the metrics either way)."""
        try:
            if self._session.trust_env:
                response = self._session.request(method, url, timeout=timeout, **send)
            else:
                response = self._send_direct(method, url, timeout, send)
        except requests.RequestException as exc:
            metrics.record_pi_call(method, url, None)
            return _Attempt(error=_transport_error(exc, method, url), cause=exc)
        status = response.status_code
        metrics.record_pi_call(method, url, status)
        if 200 <= status < 300:
            return _Attempt(
                body=_json_body(response), request_id=response.headers.get("X-Request-Id")
            )
        error = map_error(response)
        # X-RateLimit-Reset rides on every response; only a 429 (whose error read it) means
        # "wait for it". Any other status is heeded through Retry-After alone.
        waited = (
            error.retry_after
            if status == 429
            else parse_retry_after(response.headers.get(RETRY_AFTER))
        )
        return _Attempt(error=error, status=status, server_wait=waited)

    def _send_direct(
        self, method: str, url: str, timeout: tuple[float, float], send: dict[str, Any]
    ) -> PiResponse:
        """Send through the session's adapter, without what a Pi call never uses.

        `Session.request` merges cookies, hooks and environment settings on every call: a
        fifth of a submission's CPU went to it. With `trust_env` off the environment was read
        once; Pi sets no cookies and is never followed through redirects.
        """
        session = self._session
        adapter = lean_send.stock_adapter(session, url)
        if adapter is not None:
            lean = lean_send.build_request(
                method,
                url,
                params=send["params"],
                json_body=send["json"],
                headers=send["headers"],
                authorization=send.get("auth", self._auth).header,
            )
            if lean is not None:
                # Preparing and wrapping in requests cost as much CPU as the exchange itself.
                return lean_send.send(
                    adapter, lean, timeout=timeout, verify=session.verify, cert=session.cert
                )
        prepared = requests.PreparedRequest()
        prepared.prepare(
            method=method,
            url=url,
            headers=send["headers"],
            params=send["params"],
            json=send["json"],
            auth=send.get("auth", self._auth),
        )
        response = session.get_adapter(url).send(
            prepared,
            stream=False,
            timeout=timeout,
            verify=session.verify,
            cert=session.cert,
            proxies=session.proxies,
        )
        response.content  # noqa: B018 -- read it all: the connection goes back to the pool
        return response


@dataclass(frozen=True)
class _Attempt:
    """What one HTTP attempt gave: a JSON body, or an error with what decides a retry."""

    body: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None
    error: PiError | None = None
    cause: BaseException | None = None
    status: int | None = None
    server_wait: float | None = None


def deadline_error() -> PiTimeout:
    """Return the error for a deadline that ran out before Pi answered."""
    return PiTimeout("deadline reached before Pi answered", code="deadline_exceeded")


def _transport_error(exc: requests.RequestException, method: str, url: str) -> PiConnectionError:
    """Wrap a requests failure in the client's error tree and log it."""
    path = urlsplit(url).path
    timed_out = isinstance(exc, requests.Timeout)
    cls = PiTimeout if timed_out else PiConnectionError
    error = cls(
        f"Pi request {method} {path} failed: {exc.__class__.__name__}",
        code="timeout" if timed_out else "connection_error",
    )
    error.__cause__ = exc
    log.warning("pi transport error %s %s: %s", method, path, exc.__class__.__name__)
    return error


def _json_body(response: PiResponse) -> dict[str, Any]:
    """Parse a success body once; anything but a JSON object is a broken answer."""
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise PiServerError(
            "Pi sent a success response that is not a JSON object",
            status=response.status_code,
            code="invalid_response",
            request_id=response.headers.get("X-Request-Id"),
        )
    return body
