"""Fixtures shared by the delivery tests."""

from __future__ import annotations

import pytest

from connector.delivery.first_attempts import FirstAttempts


@pytest.fixture
def first_attempts(app):
    """Register first attempts on the app, as the worker process does."""
    attempts = FirstAttempts(app, threads=2)
    attempts.init_app(app)
    yield attempts
    attempts.close()
