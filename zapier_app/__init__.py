"""Zapier: the endpoints Zapier calls, and the Zapier Platform integration (integration/)."""

from __future__ import annotations

from flask import Flask

from zapier_app import deliveries, views


def init_app(app: Flask) -> None:
    """Mount the Zapier blueprint on the app and register its delivery kinds."""
    app.register_blueprint(views.bp)
    deliveries.init_app(app)
