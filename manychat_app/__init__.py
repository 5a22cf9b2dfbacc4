"""ManyChat: External Request endpoints, reply formats and the push delivery kind."""

from __future__ import annotations

from flask import Flask

from manychat_app import deliveries, views


def init_app(app: Flask) -> None:
    """Mount the ManyChat blueprint and register the push delivery kind."""
    app.register_blueprint(views.bp)
    deliveries.init_app(app)
