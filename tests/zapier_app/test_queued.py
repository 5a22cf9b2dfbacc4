"""Zapier when Pi is slow to accept a job: `queued` within the budget, the callback once."""

from __future__ import annotations

import time

import pytest

from connector.ledger import is_queued_id
from tests.support.receiver import Receiver
from tests.zapier_app.helpers import KEY_A, KEY_B, auth

CREATE_ROUTE = "POST /api/v1/images/generations"
CREATE_SECONDS = 5


@pytest.fixture
def slow_creates(pisim):
    pisim.configure(create_seconds=CREATE_SECONDS)
    yield pisim
    pisim.configure(create_seconds=0)


def test_a_slow_create_answers_queued_and_the_callback_arrives_once_with_the_job(
    live_stack_factory, slow_creates
):
    stack = live_stack_factory(CONNECTOR_ZAPIER_WAIT_SECONDS="2")
    with Receiver() as receiver:
        response = stack.post(
            "/zapier/v1/actions/generate_image",
            headers=auth(KEY_A),
            json={"prompt": "a queued kite", "callback_url": receiver.url + "/callback"},
        )
        assert response.status_code == 200, response.text
        immediate = response.json()
        assert immediate["status"] == "queued" and is_queued_id(immediate["job_id"])
        assert immediate["id"] == immediate["job_id"]
        # Find Job with the queued id before Pi answered the create.
        [early] = stack.get(
            f"/zapier/v1/searches/job?job_id={immediate['job_id']}", headers=auth(KEY_A)
        ).json()
        assert early["status"] in ("queued", "processing", "completed")

        [callback] = receiver.wait_for(1, timeout=60)
        time.sleep(2)  # a second callback would arrive now
        assert len(receiver.requests) == 1
    [job] = slow_creates.jobs()
    body = callback.json()
    assert body["job_id"] == job["id"] == body["id"] and body["status"] == "completed"
    assert body["image_url"]
    [found] = stack.get(
        f"/zapier/v1/searches/job?job_id={immediate['job_id']}", headers=auth(KEY_A)
    ).json()
    assert found == body
    # Another account never finds it.
    assert (
        stack.get(
            f"/zapier/v1/searches/job?job_id={immediate['job_id']}", headers=auth(KEY_B)
        ).json()
        == []
    )
    assert slow_creates.count(CREATE_ROUTE) == 1
