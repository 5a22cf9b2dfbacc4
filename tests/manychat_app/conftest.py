"""Fixtures for the ManyChat endpoint tests."""

from __future__ import annotations

import pytest
import responses


@pytest.fixture
def pi():
    """Fake Pi at the transport; an unregistered call fails the request."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
