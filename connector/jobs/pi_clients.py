"""Pi clients for every account from one pooled session, and the slots Pi creates pass through."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import requests
from flask import Flask, current_app
from requests.adapters import HTTPAdapter

from connector.config import Settings
from connector.jobs.fair_gate import FairGate
from connector.pi import PiClient, PiTimeout


def pool_size(settings: Settings) -> int:
    """Return how many connections to Pi one process keeps: enough for its tracker too."""
    # A worker process's tracker long-polls every job it follows at once, and its RQ threads
    # (Shopify installs) poll too; a smaller pool discards connections ("pool is full").
    followers = settings.tracker_capacity + settings.shopify_threads
    return max(settings.pi_pool_size, followers)


class PiClients:
    """Hold the process's pooled session to Pi and bound how many creates run at once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # One pool per process: a new session per request would open a new connection each time.
        session = requests.Session()
        # Proxy settings are read from the environment once, not on every call (a measurable
        # share of a request's CPU under load).
        session.proxies = requests.utils.get_environ_proxies(settings.pi_base_url or "")
        session.verify = (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        )
        session.trust_env = False
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size(settings))
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self.session = session
        # Shared round-robin between accounts: one account's burst waits behind itself. Under
        # gevent its lock and events are gevent's (threading is patched): waiting costs nothing.
        self.create_gate = FairGate(settings.pi_create_concurrency)

    def client(
        self,
        api_key: str,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        beyond_pi_timeout: bool = False,
    ) -> PiClient:
        """Return a client for one account; `timeout` only shortens PI_TIMEOUT unless told."""
        settings = self.settings
        if timeout is None:
            timeout = settings.pi_timeout
        elif not beyond_pi_timeout:
            timeout = min(settings.pi_timeout, timeout)
        return PiClient(
            api_key,
            base_url=settings.pi_base_url,
            timeout=timeout,
            max_retries=settings.pi_max_retries if max_retries is None else max_retries,
            session=self.session,
        )

    @contextlib.contextmanager
    def create_slot(self, account_id: str, deadline: float) -> Iterator[None]:
        """Hold one of the process's create slots, waiting for the account's turn until then."""
        # A burst of creates is CPU-bound on our side; bounding how many run at once keeps the
        # event loop free for quick requests (healthz, reads) and spares Pi a thundering herd.
        if not self.create_gate.acquire(account_id, deadline - time.monotonic()):
            raise PiTimeout("too many Pi creates in flight to submit this one in time")
        try:
            yield
        finally:
            self.create_gate.release()

    def init_app(self, app: Flask) -> None:
        """Register on the app."""
        app.extensions["pi_clients"] = self


def get_pi_clients() -> PiClients:
    """Return the Pi clients of the current app."""
    return current_app.extensions["pi_clients"]


def pi_client(
    api_key: str, *, timeout: float | None = None, max_retries: int | None = None
) -> PiClient:
    """Return a Pi client for one account, configured from the current app."""
    return get_pi_clients().client(api_key, timeout=timeout, max_retries=max_retries)
