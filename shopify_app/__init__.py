"""Shopify app: install/OAuth, shop store, webhooks, embedded admin page and RQ tasks."""

from __future__ import annotations

from flask import Flask

# The view modules attach their routes to the blueprint when imported.
from shopify_app import admin, oauth, webhooks  # noqa: F401
from shopify_app.blueprint import bp
from shopify_app.shops import ShopStore


def init_app(app: Flask) -> None:
    """Mount the Shopify blueprint at /shopify and attach the shop store."""
    ShopStore(app.extensions["store"], app.extensions["secrets"]).init_app(app)
    app.register_blueprint(bp, url_prefix="/shopify")
