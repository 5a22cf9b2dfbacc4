"""Build Pi clients from the app's settings."""

from __future__ import annotations

from flask import current_app

from connector.pi import PiClient


def pi_client(api_key: str, *, timeout: float | None = None) -> PiClient:
    """Return a Pi client for one account, configured from the current app.

    `timeout` can only shorten PI_TIMEOUT (for a caller whose answer budget is shorter).
    """
    config = current_app.config
    read_timeout = float(config["PI_TIMEOUT"])
    return PiClient(
        api_key,
        base_url=config["PI_BASE_URL"],
        timeout=read_timeout if timeout is None else min(read_timeout, timeout),
        max_retries=int(config["PI_MAX_RETRIES"]),
    )
