"""The application factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from connector import errors
from connector.config import check_required, load_settings
from connector.delivery.subscriptions import Subscriptions
from connector.jobs import pi_clients as pi_access
from connector.jobs.idempotency import Idempotency
from connector.jobs.single_flight import Flights
from connector.ledger import Ledger
from connector.runtime import logs
from connector.runtime.metrics import Metrics
from connector.runtime.queues import ALL_QUEUES
from connector.runtime.redis_store import Store
from connector.runtime.secrets import SecretBox, parse_keys
from connector.web import api_v1, openapi, ops
from connector.web import spec as core_spec


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app from defaults, the environment and `config`, in that order."""
    app = Flask(__name__)
    app.config.update(load_settings(config))
    check_required(app.config)
    app.json.sort_keys = False
    app.url_map.strict_slashes = False  # Zapier refuses redirects: never 308 on a slash

    logs.configure_logging(app.config["CONNECTOR_LOG_LEVEL"])
    logs.init_app(app)
    errors.init_app(app)
    _init_collaborators(app)

    app.register_blueprint(ops.bp)
    api_v1.init_app(app)
    openapi.init_app(app)
    openapi.register_api_doc(app, core_spec.API_DOC)
    _register_platforms(app)
    return app


def _init_collaborators(app: Flask) -> None:
    """Attach the store, secrets, ledger, idempotency, subscriptions and metrics to the app."""
    config = app.config
    store = Store(
        config["REDIS_URL"],
        config["CONNECTOR_KEY_PREFIX"],
        max_connections=int(config["CONNECTOR_REDIS_MAX_CONNECTIONS"]),
    )
    store.init_app(app)
    box = SecretBox(parse_keys(config["CONNECTOR_SECRET_KEY"]))
    box.init_app(app)
    ledger = Ledger(store, retention_days=float(config["CONNECTOR_LEDGER_RETENTION_DAYS"]))
    ledger.init_app(app)
    Idempotency(
        ledger,
        window=int(config["CONNECTOR_IDEMPOTENCY_WINDOW_SECONDS"]),
        key_ttl=int(config["CONNECTOR_IDEMPOTENCY_KEY_TTL_SECONDS"]),
    ).init_app(app)
    Subscriptions(ledger, box).init_app(app)
    Flights(store, ledger.ended_channel()).init_app(app)
    pi_access.init_app(app)
    Metrics(store, ledger, ALL_QUEUES).init_app(app)


def _register_platforms(app: Flask) -> None:
    """Import and plug in the platforms (connector never imports them at module level)."""
    import manychat_app
    import shopify_app
    import zapier_app

    for platform in (manychat_app, zapier_app, shopify_app):
        platform.init_app(app)
