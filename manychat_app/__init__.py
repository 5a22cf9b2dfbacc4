"""ManyChat: External Request endpoints, reply formats and the push delivery kind."""

from __future__ import annotations

from flask import Flask

from connector.web.openapi import register_api_doc
from manychat_app import deliveries, spec, views


def init_app(app: Flask) -> None:
    """Mount the ManyChat blueprint, register the push delivery kind and document the API."""
    app.url_map.converters.update(views.CONVERTERS)
    app.register_blueprint(views.bp)
    deliveries.init_app(app)
    register_api_doc(app, spec.API_DOC)
