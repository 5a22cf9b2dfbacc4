"""Layered settings: defaults, then the environment, then the mapping given to create_app."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

DEFAULTS: dict[str, Any] = {
    "PI_BASE_URL": None,
    "PI_API_KEY": None,
    "PI_TIMEOUT": 10.0,
    "PI_MAX_RETRIES": 3,
    "REDIS_URL": None,
    "CONNECTOR_SECRET_KEY": None,
    "CONNECTOR_PUBLIC_URL": "http://127.0.0.1:8000",
    "CONNECTOR_KEY_PREFIX": "pic:",
    "CONNECTOR_ZAPIER_WAIT_SECONDS": 25.0,
    "CONNECTOR_MANYCHAT_WAIT_SECONDS": 7.0,
    "CONNECTOR_WORKER_DEADLINE_SECONDS": 1800,
    "CONNECTOR_WORKER_MONITORING_SECONDS": 20,
    "CONNECTOR_WORKER_MAINTENANCE_SECONDS": 30,
    "CONNECTOR_WORKER_HEARTBEAT_GRACE_SECONDS": 60,
    "CONNECTOR_WORKER_THREADS": 8,
    "CONNECTOR_TRACKER_CAPACITY": 1000,
    "CONNECTOR_TRACKER_LEASE_SECONDS": 30.0,
    "CONNECTOR_TRACKER_POLL_SECONDS": 20,
    "CONNECTOR_REDIS_MAX_CONNECTIONS": 2000,
    "CONNECTOR_PI_POOL_SIZE": 1000,
    "CONNECTOR_PI_CREATE_CONCURRENCY": 16,
    "CONNECTOR_WORKER_METRICS_PORT": 0,
    "CONNECTOR_WORKER_METRICS_HOST": "127.0.0.1",
    "CONNECTOR_IDEMPOTENCY_WINDOW_SECONDS": 600,
    "CONNECTOR_IDEMPOTENCY_KEY_TTL_SECONDS": 86400,
    "CONNECTOR_LEDGER_RETENTION_DAYS": 30,
    "CONNECTOR_ALLOW_PRIVATE_TARGETS": False,
    "CONNECTOR_WEBHOOK_SECRET": None,
    "CONNECTOR_DELIVERY_TIMEOUT_SECONDS": 10.0,
    "CONNECTOR_DELIVERY_MAX_ATTEMPTS": 6,
    "CONNECTOR_LOG_LEVEL": "INFO",
    "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
    "MANYCHAT_API_URL": "https://api.manychat.com",
    "SHOPIFY_API_KEY": None,
    "SHOPIFY_API_SECRET": None,
    "SHOPIFY_API_SECRET_OLD": None,
    "SHOPIFY_SCOPES": "read_products",
    "SHOPIFY_API_VERSION": "2026-10",
    "SHOPIFY_ADMIN_URL_TEMPLATE": "https://{shop}",
}

REQUIRED = ("PI_BASE_URL", "REDIS_URL", "CONNECTOR_SECRET_KEY")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(RuntimeError):
    """A setting is missing or cannot be read."""


def _coerce(name: str, raw: str, default: Any) -> Any:
    """Convert an environment string to the type of the setting's default."""
    try:
        if isinstance(default, bool):
            lowered = raw.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise ConfigError(f"setting {name} has an unreadable value") from None
    return raw


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Return the settings from defaults, then the environment, then overrides."""
    environ = os.environ if environ is None else environ
    settings = dict(DEFAULTS)
    for name, default in DEFAULTS.items():
        if name in environ:
            settings[name] = _coerce(name, environ[name], default)
    if overrides:
        settings.update(overrides)
    return settings


def check_required(settings: Mapping[str, Any]) -> None:
    """Fail with a message naming every required setting that is missing."""
    missing = [name for name in REQUIRED if not settings.get(name)]
    if missing:
        raise ConfigError("missing required setting(s): " + ", ".join(missing))
