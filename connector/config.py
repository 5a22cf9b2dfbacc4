"""Typed settings: every default stated once, read alike from the environment and a mapping.

`Settings.load` reads each setting from the mapping given to `create_app`, else the
environment, else its default, and coerces the value to the setting's type the same way
whatever its source: `"false"` is False and `"64"` is 64 in both.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, get_args, get_type_hints

from flask import Flask, current_app

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class ConfigError(RuntimeError):
    """A setting is missing or cannot be read."""


def _setting(
    env: str,
    default: Any,
    *,
    required: bool = False,
    secret: bool = False,
    minimum: float = 0,
    maximum: float | None = None,
    unless: str | None = None,
) -> Any:
    """Declare a setting: its environment name, its default and the values it may take.

    `unless` names another setting that, when set, makes a required one optional.
    """
    meta = {
        "env": env,
        "required": required,
        "minimum": minimum,
        "maximum": maximum,
        "unless": unless,
    }
    return field(default=default, repr=not secret, metadata=meta)


@dataclass(frozen=True)
class Settings:
    """Every setting of the connector, with its type and default (README: Configuration)."""

    pi_base_url: str | None = _setting("PI_BASE_URL", None, required=True)
    pi_api_key: str | None = _setting("PI_API_KEY", None, secret=True)
    pi_timeout: float = _setting("PI_TIMEOUT", 10.0)
    pi_max_retries: int = _setting("PI_MAX_RETRIES", 3)
    # Secret: a URL may carry the password.
    redis_url: str | None = _setting(
        "REDIS_URL", None, required=True, secret=True, unless="redis_sentinels"
    )
    redis_ca_cert: str | None = _setting("REDIS_CA_CERT", None)
    redis_client_cert: str | None = _setting("REDIS_CLIENT_CERT", None)
    redis_client_key: str | None = _setting("REDIS_CLIENT_KEY", None)
    redis_sentinels: str | None = _setting("REDIS_SENTINELS", None)
    redis_sentinel_master: str | None = _setting("REDIS_SENTINEL_MASTER", None)
    redis_sentinel_password: str | None = _setting("REDIS_SENTINEL_PASSWORD", None, secret=True)
    redis_sentinel_tls: bool = _setting("REDIS_SENTINEL_TLS", False)
    redis_password: str | None = _setting("REDIS_PASSWORD", None, secret=True)
    # None: 1 with Sentinels (a failover must not lose acknowledged work), else 0.
    redis_min_replicas: int | None = _setting("CONNECTOR_REDIS_MIN_REPLICAS", None)
    redis_replica_timeout_ms: int = _setting(
        "CONNECTOR_REDIS_REPLICA_TIMEOUT_MS", 500, minimum=1, maximum=4000
    )
    secret_key: str | None = _setting("CONNECTOR_SECRET_KEY", None, required=True, secret=True)
    public_url: str = _setting("CONNECTOR_PUBLIC_URL", "http://127.0.0.1:8000")
    key_prefix: str = _setting("CONNECTOR_KEY_PREFIX", "pic:")
    zapier_wait_seconds: float = _setting("CONNECTOR_ZAPIER_WAIT_SECONDS", 25.0)
    manychat_wait_seconds: float = _setting("CONNECTOR_MANYCHAT_WAIT_SECONDS", 7.0)
    worker_deadline_seconds: int = _setting("CONNECTOR_WORKER_DEADLINE_SECONDS", 1800)
    worker_monitoring_seconds: int = _setting("CONNECTOR_WORKER_MONITORING_SECONDS", 20)
    worker_maintenance_seconds: int = _setting("CONNECTOR_WORKER_MAINTENANCE_SECONDS", 30)
    worker_heartbeat_grace_seconds: int = _setting("CONNECTOR_WORKER_HEARTBEAT_GRACE_SECONDS", 60)
    # Separate lanes: Shopify installs wait on Pi for minutes and must never hold up a delivery.
    delivery_threads: int = _setting("CONNECTOR_DELIVERY_THREADS", 8, minimum=1)
    shopify_threads: int = _setting("CONNECTOR_SHOPIFY_THREADS", 4, minimum=1)
    # A worker makes each delivery's first attempt on threads of its own the moment the job
    # ends (0: queue every attempt on RQ instead).
    first_attempt_threads: int = _setting("CONNECTOR_FIRST_ATTEMPT_THREADS", 16)
    tracker_capacity: int = _setting("CONNECTOR_TRACKER_CAPACITY", 1000, minimum=1)
    tracker_lease_seconds: float = _setting("CONNECTOR_TRACKER_LEASE_SECONDS", 30.0)
    # Pi's own bounds for timeout_seconds on a long-poll. Its longest: a waiting job costs a
    # response, a progress write and a lease renewal per window, so a 60 s job costs 2 polls
    # instead of 3 (bench_tracker: ~12.8 → ~10.1 ms of worker CPU a job).
    tracker_poll_seconds: int = _setting(
        "CONNECTOR_TRACKER_POLL_SECONDS", 30, minimum=1, maximum=30
    )
    # Per account (one Pi key), so one account's burst cannot take what others need; 0 = off.
    # 300 in flight ≈ 10 jobs/s sustained on ~30 s Pi jobs (Little's law); a burst of 100
    # lets a Zap replay or a bulk import of 100 start at once, then 10 submissions a second.
    account_max_in_flight: int = _setting(
        "CONNECTOR_ACCOUNT_MAX_IN_FLIGHT", 300, minimum=0, maximum=100_000
    )
    account_submit_rate: float = _setting(
        "CONNECTOR_ACCOUNT_SUBMIT_RATE", 10.0, minimum=0, maximum=10_000
    )
    account_submit_burst: int = _setting(
        "CONNECTOR_ACCOUNT_SUBMIT_BURST", 100, minimum=1, maximum=100_000
    )
    redis_max_connections: int = _setting("CONNECTOR_REDIS_MAX_CONNECTIONS", 2000, minimum=1)
    pi_pool_size: int = _setting("CONNECTOR_PI_POOL_SIZE", 1000, minimum=1)
    pi_create_concurrency: int = _setting("CONNECTOR_PI_CREATE_CONCURRENCY", 16, minimum=1)
    # A request whose create outlasts its budget is answered `queued`; one process at a time
    # holds its submission this long (its create may take the lease minus 5 s) before another
    # process may take it over.
    submit_lease_seconds: float = _setting(
        "CONNECTOR_SUBMIT_LEASE_SECONDS", 30.0, minimum=10, maximum=300
    )
    # A queued request whose create Pi has not accepted after this long ends failed.
    submit_give_up_seconds: float = _setting(
        "CONNECTOR_SUBMIT_GIVE_UP_SECONDS", 600.0, minimum=60, maximum=86400
    )
    worker_metrics_port: int = _setting("CONNECTOR_WORKER_METRICS_PORT", 0, maximum=65535)
    worker_metrics_host: str = _setting("CONNECTOR_WORKER_METRICS_HOST", "127.0.0.1")
    idempotency_window_seconds: int = _setting("CONNECTOR_IDEMPOTENCY_WINDOW_SECONDS", 600)
    idempotency_key_ttl_seconds: int = _setting("CONNECTOR_IDEMPOTENCY_KEY_TTL_SECONDS", 86400)
    ledger_retention_days: float = _setting("CONNECTOR_LEDGER_RETENTION_DAYS", 30.0)
    allow_private_targets: bool = _setting("CONNECTOR_ALLOW_PRIVATE_TARGETS", False)
    webhook_secret: str | None = _setting("CONNECTOR_WEBHOOK_SECRET", None, secret=True)
    webhook_rotation_grace_seconds: float = _setting(
        "CONNECTOR_WEBHOOK_ROTATION_GRACE_SECONDS", 86400.0
    )
    delivery_timeout_seconds: float = _setting("CONNECTOR_DELIVERY_TIMEOUT_SECONDS", 10.0)
    delivery_max_attempts: int = _setting("CONNECTOR_DELIVERY_MAX_ATTEMPTS", 6, minimum=1)
    log_level: str = _setting("CONNECTOR_LOG_LEVEL", "INFO")
    # json (one object a line) or text (for people); unset: json, except under `dev`.
    log_format: str = _setting("CONNECTOR_LOG_FORMAT", "json")
    console_token: str | None = _setting("CONNECTOR_CONSOLE_TOKEN", None, secret=True)
    max_content_length: int = _setting("MAX_CONTENT_LENGTH", 2 * 1024 * 1024, minimum=1)
    manychat_api_url: str = _setting("MANYCHAT_API_URL", "https://api.manychat.com")
    shopify_api_key: str | None = _setting("SHOPIFY_API_KEY", None)
    shopify_api_secret: str | None = _setting("SHOPIFY_API_SECRET", None, secret=True)
    shopify_api_secret_old: str | None = _setting("SHOPIFY_API_SECRET_OLD", None, secret=True)
    shopify_scopes: str = _setting("SHOPIFY_SCOPES", "read_products")
    shopify_api_version: str = _setting("SHOPIFY_API_VERSION", "2026-10")
    shopify_admin_url_template: str = _setting("SHOPIFY_ADMIN_URL_TEMPLATE", "https://{shop}")

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Return the settings from defaults, then the environment, then overrides."""
        environ = os.environ if environ is None else environ
        overrides = overrides or {}
        hints = get_type_hints(cls)
        values = {}
        for spec in dataclasses.fields(cls):
            name = spec.metadata["env"]
            if name in overrides:
                raw = overrides[name]
            elif name in environ:
                raw = environ[name]
            else:
                continue
            values[spec.name] = _coerce(spec, hints[spec.name], raw)
        return cls(**values)

    def check_required(self) -> None:
        """Fail with a message naming every required setting that is missing."""
        missing = []
        for spec in dataclasses.fields(self):
            if not spec.metadata["required"] or getattr(self, spec.name):
                continue
            unless = spec.metadata["unless"]
            if unless is None:
                missing.append(spec.metadata["env"])
            elif not getattr(self, unless):
                other = self.__dataclass_fields__[unless].metadata["env"]
                missing.append(f"{spec.metadata['env']} (or {other})")
        if missing:
            raise ConfigError("missing required setting(s): " + ", ".join(missing))
        if self.redis_sentinels and not self.redis_sentinel_master:
            raise ConfigError("REDIS_SENTINELS is set: REDIS_SENTINEL_MASTER names the primary")

    def as_config(self) -> dict[str, Any]:
        """Return the settings under their environment names (for Flask's app.config)."""
        return {spec.metadata["env"]: getattr(self, spec.name) for spec in dataclasses.fields(self)}

    def init_app(self, app: Flask) -> None:
        """Register these settings on the app (and mirror them into app.config for Flask)."""
        app.config.update(self.as_config())
        app.extensions["settings"] = self


def env_names() -> frozenset[str]:
    """Return the environment name of every setting."""
    return frozenset(spec.metadata["env"] for spec in dataclasses.fields(Settings))


def _coerce(spec: dataclasses.Field, kind: Any, raw: Any) -> Any:
    """Convert a value from the environment or a mapping to the setting's type."""
    name = spec.metadata["env"]
    if raw is None:
        if spec.default is None:
            return None
        raise ConfigError(f"setting {name} may not be empty")
    target = next(t for t in (kind, *get_args(kind)) if t in (bool, int, float, str))
    try:
        value = _convert(target, raw)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name} has an unreadable value") from None
    if target in (int, float):
        low, high = spec.metadata["minimum"], spec.metadata["maximum"]
        if value < low or (high is not None and value > high):
            bounds = f"at least {low}" if high is None else f"between {low} and {high}"
            raise ConfigError(f"setting {name} must be {bounds}")
    return value


def _convert(target: type, raw: Any) -> Any:
    """Convert one value; strings are parsed, other values must already have the type."""
    if isinstance(raw, str):
        text = raw.strip()
        if target is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError(raw)
        if target is int:
            return int(text)
        if target is float:
            return float(text)
        return raw
    if target is bool and isinstance(raw, bool):
        return raw
    if target is int and isinstance(raw, int | float) and not isinstance(raw, bool):
        if float(raw).is_integer():
            return int(raw)
        raise ValueError(raw)
    if target is float and isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    raise TypeError(raw)


def get_settings(app: Flask | None = None) -> Settings:
    """Return the settings of the app (the current one by default)."""
    return (app or current_app).extensions["settings"]
