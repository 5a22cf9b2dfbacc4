"""Pi clients for every account from one pooled session, and the slots Pi creates pass through."""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import requests
from flask import Flask, current_app, g
from requests.adapters import HTTPAdapter

from connector.config import Settings
from connector.errors import AccountLimited
from connector.jobs.fair_gate import FairGate
from connector.pi import PiClient, PiTimeout


def pool_size(settings: Settings) -> int:
    """Return how many connections to Pi one process keeps: enough for its tracker too."""
    # A worker process's tracker long-polls every job it follows at once, and its RQ threads
    # (Shopify installs) poll too; a smaller pool discards connections ("pool is full").
    followers = settings.tracker_capacity + settings.shopify_threads
    return max(settings.pi_pool_size, followers)


SUBMIT_SLOTS_PER_CREATE = 2  # submissions in progress per create slot, per process
BUSY_RETRY_SECONDS = 1  # a burst's queue of turns drains within seconds
_TURN_KEY = "_pic_submit_turn"  # where the current submission's turn can be given back early
_Submit = TypeVar("_Submit", bound=Callable[..., Any])


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
        # Whole submissions (claim, limits, create, ledger write) take turns too: a burst of
        # one account parks behind itself instead of crowding the event loop's run queue,
        # where another account's request would wait behind every one of its steps.
        self.submit_gate = FairGate(settings.pi_create_concurrency * SUBMIT_SLOTS_PER_CREATE)

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
            # A slot granted at (or past) the deadline leaves no time for the call itself: say
            # so, rather than build a client with no timeout left (an unhandled error, a 500).
            if deadline - time.monotonic() <= 0:
                raise PiTimeout("too many Pi creates in flight to submit this one in time")
            yield
        finally:
            self.create_gate.release()

    @contextlib.contextmanager
    def submit_turn(self, account_id: str, deadline: float) -> Iterator[None]:
        """Hold one of the process's submission turns, waiting for the account's turn until then."""
        if not self.submit_gate.acquire(account_id, deadline - time.monotonic()):
            # Turns go round-robin: a request waits this long only behind many of its own
            # account's, so it is that account that is asked to slow down.
            raise AccountLimited(
                "this account has too many submissions waiting; retry shortly",
                code="busy",
                retry_after=BUSY_RETRY_SECONDS,
            )
        released = False

        def give_back() -> None:
            nonlocal released
            if not released:
                released = True
                self.submit_gate.release()

        previous = g.get(_TURN_KEY)
        setattr(g, _TURN_KEY, give_back)
        try:
            yield
        finally:
            setattr(g, _TURN_KEY, previous)
            give_back()

    def init_app(self, app: Flask) -> None:
        """Register on the app."""
        app.extensions["pi_clients"] = self


def get_pi_clients() -> PiClients:
    """Return the Pi clients of the current app."""
    return current_app.extensions["pi_clients"]


def end_turn() -> None:
    """Give the submission turn back early: what is left of the submission is waiting, not work."""
    give_back = g.get(_TURN_KEY)
    if give_back is not None:
        give_back()


def takes_turns(submit: _Submit) -> _Submit:
    """Run a submission (`submit(account, ...)`) in its account's turn of the process."""

    @functools.wraps(submit)
    def in_turn(account: Any, *args: Any, **kwargs: Any) -> Any:
        clients = get_pi_clients()
        deadline = kwargs.get("deadline") or time.monotonic() + clients.settings.pi_timeout
        with clients.submit_turn(account.account_id, deadline):
            return submit(account, *args, **kwargs)

    return in_turn  # type: ignore[return-value]


def pi_client(
    api_key: str, *, timeout: float | None = None, max_retries: int | None = None
) -> PiClient:
    """Return a Pi client for one account, configured from the current app."""
    return get_pi_clients().client(api_key, timeout=timeout, max_retries=max_retries)
