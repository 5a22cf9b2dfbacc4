"""Build Pi clients from the app's settings."""

from __future__ import annotations

import os
import threading

import requests
from flask import Flask, current_app
from requests.adapters import HTTPAdapter

from connector.auth import Account, current_account
from connector.ledger import get_ledger
from connector.pi import PiClient, PiConnectionError, PiRateLimited, PiServerError

KEY_CHECK_SECONDS = 300  # how long Pi's "yes" to a key is trusted by endpoints that skip Pi
KEY_CHECK_TIMEOUT = 5.0


def init_app(app: Flask) -> None:
    """Give the app one pooled HTTP session for Pi, shared by every account's client."""
    # One pool per process: a new session per request would open a new connection each time.
    size = int(app.config["CONNECTOR_PI_POOL_SIZE"])
    session = requests.Session()
    # Proxy settings are read from the environment once, not on every call (a measurable
    # share of a request's CPU under load).
    session.proxies = requests.utils.get_environ_proxies(app.config["PI_BASE_URL"])
    session.verify = (
        os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    )
    session.trust_env = False
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    app.extensions["pi_session"] = session
    # Under gevent this is a gevent semaphore (threading is patched): waiting costs nothing.
    limit = int(app.config["CONNECTOR_PI_CREATE_CONCURRENCY"])
    app.extensions["pi_create_gate"] = threading.BoundedSemaphore(limit)


def pi_client(
    api_key: str, *, timeout: float | None = None, max_retries: int | None = None
) -> PiClient:
    """Return a Pi client for one account, configured from the current app.

    `timeout` can only shorten PI_TIMEOUT (for a caller whose answer budget is shorter);
    `max_retries` overrides PI_MAX_RETRIES.
    """
    config = current_app.config
    read_timeout = float(config["PI_TIMEOUT"])
    return PiClient(
        api_key,
        base_url=config["PI_BASE_URL"],
        timeout=read_timeout if timeout is None else min(read_timeout, timeout),
        max_retries=int(config["PI_MAX_RETRIES"]) if max_retries is None else max_retries,
        session=current_app.extensions.get("pi_session"),
    )


def checked_account() -> Account:
    """Return the caller's account once Pi has accepted its key (remembered for a few minutes)."""
    account = current_account()
    ledger = get_ledger()
    marker = ledger.account_key(account.account_id, "key-ok")
    if ledger.redis.exists(marker):
        return account
    client = pi_client(account.api_key, timeout=KEY_CHECK_TIMEOUT, max_retries=0)
    try:
        client.list_brands(limit=1)  # Pi's 401/403 propagates: our 401, Zapier asks to reconnect
    except (PiConnectionError, PiServerError, PiRateLimited):
        # Pi is down or busy: the ledger can still answer; the key is checked on a later call.
        return account
    finally:
        client.close()
    ledger.redis.set(marker, "1", ex=KEY_CHECK_SECONDS)
    return account
