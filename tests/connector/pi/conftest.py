"""Fixtures for the PiClient tests: a client on a fake clock and a responses mock."""

from __future__ import annotations

import pytest
import responses

from connector.pi import PiClient
from tests.connector.pi.fakes import API_KEY, BASE, FakeTime


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def client(fake_time):
    with PiClient(API_KEY, base_url=BASE, _sleep=fake_time.sleep, _clock=fake_time.clock) as c:
        yield c


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
