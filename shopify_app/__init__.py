"""Shopify app: install/OAuth, shop store, webhooks, embedded admin page and RQ tasks."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Mount the Shopify blueprint on the app."""
