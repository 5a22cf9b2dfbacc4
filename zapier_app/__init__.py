"""Zapier: the endpoints Zapier calls, and the Zapier Platform integration (integration/)."""

from __future__ import annotations

from flask import Flask

from connector.web.openapi import register_api_doc
from zapier_app import deliveries, spec, views


def init_app(app: Flask) -> None:
    """Mount the Zapier blueprint, register its delivery kinds and document the API."""
    app.register_blueprint(views.bp)
    deliveries.init_app(app)
    register_api_doc(app, spec.API_DOC)
