"""Pi Connector: bridge between the async Pi API and automation platforms."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["create_app"]


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the Flask app (see connector.app.create_app)."""
    from connector.app import create_app as _create_app

    return _create_app(config)
