"""Shared fixtures: app, client, a private Redis, the Pi simulator."""

from __future__ import annotations

import pytest

from tests.support.constants import TEST_SECRET_KEY, WEBHOOK_SECRET
from tests.support.receiver import Receiver

pytest_plugins = [
    "tests.support.redis",
    "tests.support.pisim",
    "tests.support.stack",
    "tests.support.sentinel",
]


@pytest.fixture
def app_config(redis_url: str) -> dict:
    """Return settings for an app on the private Redis and an unreachable Pi."""
    return {
        "TESTING": True,
        "PI_BASE_URL": "http://pi.test",
        "REDIS_URL": redis_url,
        "CONNECTOR_SECRET_KEY": TEST_SECRET_KEY,
        "CONNECTOR_ALLOW_PRIVATE_TARGETS": True,
        "CONNECTOR_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }


@pytest.fixture
def app(app_config: dict):
    """Return an app built by the factory."""
    from connector import create_app

    return create_app(app_config)


@pytest.fixture
def sim_app(app_config, pisim):
    """Return an app whose Pi is the session's simulator."""
    from connector import create_app

    return create_app({**app_config, "PI_BASE_URL": pisim.base_url})


@pytest.fixture
def receiver():
    """Run a local HTTP receiver for deliveries; stop it after the test."""
    with Receiver() as r:
        yield r


@pytest.fixture
def client(app):
    """Return a test client of the app."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """Return a CLI runner of the app."""
    return app.test_cli_runner()
