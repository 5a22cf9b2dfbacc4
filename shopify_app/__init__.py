"""Shopify app: install/OAuth, shop store, webhooks, embedded admin page and RQ tasks."""

from __future__ import annotations

from flask import Flask

from connector.web.openapi import register_api_doc

# The view modules attach their routes to the blueprint when imported.
from shopify_app import admin, oauth, spec, webhooks  # noqa: F401
from shopify_app.blueprint import bp
from shopify_app.shops import ShopStore


def init_app(app: Flask) -> None:
    """Mount the Shopify blueprint at /shopify, attach the shop store and document the API."""
    ShopStore(app.extensions["store"], app.extensions["secrets"]).init_app(app)
    app.register_blueprint(bp, url_prefix="/shopify")
    register_api_doc(app, spec.API_DOC)
