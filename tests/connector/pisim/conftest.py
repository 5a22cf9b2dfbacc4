"""Fixtures for black-box tests of the simulator over real HTTP."""

from __future__ import annotations

import pytest

from tests.connector.pisim.helpers import API_KEY, OTHER_KEY, PiHttp
from tests.support.pisim import Simulator


@pytest.fixture
def pi(pisim: Simulator) -> PiHttp:
    """Return an HTTP helper for the main test org."""
    return PiHttp(pisim.base_url, API_KEY)


@pytest.fixture
def other_pi(pisim: Simulator) -> PiHttp:
    """Return an HTTP helper for a second org."""
    return PiHttp(pisim.base_url, OTHER_KEY)


@pytest.fixture
def anon(pisim: Simulator) -> PiHttp:
    """Return an HTTP helper sending no Authorization header."""
    return PiHttp(pisim.base_url, None)
