"""The one create call per kind: the fields it sends, and a full gate that sends nothing."""

from __future__ import annotations

import time

import pytest

from connector import create_app
from connector.auth import account_id_for
from connector.jobs.pi_creates import NoCreateSlot, create_fields, create_on_pi
from connector.pi import PiTimeout

KEY = "pi_test_pi_creates_account"


def test_each_kind_sends_only_the_fields_its_create_takes():
    payload = {"url": "https://a.example", "prompt": "p", "metadata": None, "brand_id": "b"}
    assert create_fields("brand_extraction", payload) == {"url": "https://a.example"}
    assert create_fields("image_generation", payload) == {"prompt": "p", "brand_id": "b"}


def test_a_full_gate_is_told_apart_from_a_create_that_timed_out(app_config, pisim):
    app = create_app(
        {**app_config, "PI_BASE_URL": pisim.base_url, "CONNECTOR_PI_CREATE_CONCURRENCY": 1}
    )
    gate = app.extensions["pi_clients"].create_gate
    assert gate.acquire("another-account", 1)
    try:
        with app.app_context(), pytest.raises(NoCreateSlot) as raised:
            create_on_pi(
                account_id_for(KEY),
                KEY,
                "brand_extraction",
                {"url": "https://gated-create.example"},
                "token",
                time.monotonic() + 0.2,
            )
    finally:
        gate.release()
    assert isinstance(raised.value, PiTimeout)  # callers that knew only PiTimeout still match
    assert pisim.count("POST /api/v1/brands/extract") == 0


def test_a_queued_create_may_wait_beyond_pi_timeout(app_config, pisim):
    app = create_app({**app_config, "PI_BASE_URL": pisim.base_url, "PI_TIMEOUT": 1})
    pisim.configure(create_seconds=1.5)
    try:
        with app.app_context():
            job_id = create_on_pi(
                account_id_for(KEY),
                KEY,
                "brand_extraction",
                {"url": "https://patient-create.example"},
                "token",
                time.monotonic() + 10,
                timeout=5,
            )
    finally:
        pisim.configure(create_seconds=0)
    [job] = pisim.jobs()
    assert job_id == job["id"]
