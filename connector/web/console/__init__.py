"""The operator console (/console): find a job, see its timeline, redeliver; off without a token."""

from __future__ import annotations

from flask import Flask

from connector.web.console.pages import bp


def init_app(app: Flask) -> None:
    """Mount the console (it answers 404 until CONNECTOR_CONSOLE_TOKEN is set)."""
    app.register_blueprint(bp)
