"""The secret an account's callbacks are signed with, as `GET /v1/webhook-secret` gives it."""

from __future__ import annotations

from flask import Flask

from connector.auth import account_id_for


def account_secret(app: Flask, api_key: str) -> str:
    """Return the current signing secret of the account behind an API key."""
    with app.app_context():
        return app.extensions["webhook_secrets"].secrets(account_id_for(api_key)).current
