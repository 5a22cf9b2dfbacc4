"""The application factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from connector import errors
from connector.config import ConfigError, Settings, env_names
from connector.delivery.delivery_log import DeliveryLog
from connector.delivery.outbound import PinnedPools
from connector.delivery.subscriptions import Subscriptions
from connector.delivery.webhook_secrets import WebhookSecrets
from connector.jobs.account_limits import AccountLimits
from connector.jobs.gauges import RedisCollector
from connector.jobs.idempotency import Idempotency
from connector.jobs.intents import Intents
from connector.jobs.pi_clients import PiClients
from connector.jobs.single_flight import Flights
from connector.ledger import Ledger
from connector.runtime import logs
from connector.runtime.metrics import Metrics
from connector.runtime.queues import ALL_QUEUES
from connector.runtime.redis_connect import RedisTarget, RedisTargetError
from connector.runtime.redis_store import RedisStore
from connector.runtime.secrets import SecretBox, parse_keys
from connector.web import api_v1, console, openapi, ops
from connector.web import spec as core_spec


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app from defaults, the environment and `config`, in that order."""
    app = Flask(__name__)
    settings = Settings.load(config)
    settings.check_required()
    # Flask's own keys (TESTING, SERVER_NAME, ...) pass through; ours come typed from Settings.
    app.config.update({k: v for k, v in (config or {}).items() if k not in env_names()})
    settings.init_app(app)
    app.json.sort_keys = False
    app.url_map.strict_slashes = False  # Zapier refuses redirects: never 308 on a slash

    logs.configure_logging(settings.log_level, settings.log_format)
    logs.init_app(app)
    errors.init_app(app)
    _init_collaborators(app, settings)

    app.register_blueprint(ops.bp)
    api_v1.init_app(app)
    console.init_app(app)
    openapi.init_app(app)
    openapi.register_api_doc(app, core_spec.API_DOC)
    _register_platforms(app)
    return app


def _init_collaborators(app: Flask, settings: Settings) -> None:
    """Attach the store, secrets, ledger, idempotency, subscriptions and metrics to the app."""
    try:
        target = RedisTarget.from_settings(settings)
    except RedisTargetError as exc:
        raise ConfigError(str(exc)) from None
    store = RedisStore(
        target,
        settings.key_prefix,
        max_connections=settings.redis_max_connections,
        min_replicas=settings.redis_min_replicas,
        replica_timeout_ms=settings.redis_replica_timeout_ms,
    )
    store.init_app(app)
    box = SecretBox(parse_keys(settings.secret_key))
    box.init_app(app)
    ledger = Ledger(store, retention_days=settings.ledger_retention_days)
    ledger.init_app(app)
    idempotency = Idempotency(
        ledger,
        window=settings.idempotency_window_seconds,
        key_ttl=settings.idempotency_key_ttl_seconds,
    )
    idempotency.init_app(app)
    subscriptions = Subscriptions(ledger, box)
    subscriptions.init_app(app)
    Intents(
        ledger,
        box,
        subscriptions,
        idempotency,
        lease=settings.submit_lease_seconds,
        give_up=settings.submit_give_up_seconds,
    ).init_app(app)
    DeliveryLog(ledger).init_app(app)
    PinnedPools().init_app(app)
    WebhookSecrets(
        ledger, settings.webhook_secret, settings.webhook_rotation_grace_seconds
    ).init_app(app)
    Flights(store, ledger.ended_channel()).init_app(app)
    PiClients(settings).init_app(app)
    AccountLimits(ledger).init_app(app)
    Metrics([RedisCollector(ledger, ALL_QUEUES)]).init_app(app)


def _register_platforms(app: Flask) -> None:
    """Import and plug in the platforms (connector never imports them at module level)."""
    import manychat_app
    import shopify_app
    import zapier_app

    for platform in (manychat_app, zapier_app, shopify_app):
        platform.init_app(app)
