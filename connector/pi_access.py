"""Build Pi clients from the app's settings."""

from __future__ import annotations

from flask import current_app

from connector.pi import PiClient


def pi_client(api_key: str) -> PiClient:
    """Return a Pi client for one account, configured from the current app."""
    config = current_app.config
    return PiClient(
        api_key,
        base_url=config["PI_BASE_URL"],
        timeout=float(config["PI_TIMEOUT"]),
        max_retries=int(config["PI_MAX_RETRIES"]),
    )
