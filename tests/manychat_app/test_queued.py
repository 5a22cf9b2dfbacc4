"""ManyChat when Pi is slow to accept a job: `queued` within the budget, the push later, once.

Real processes: gunicorn web, a worker, a private Redis and the simulator, whose creates
answer only after CREATE_SECONDS (longer than the ManyChat budget set here).
"""

from __future__ import annotations

import time

import pytest

from connector.ledger import is_queued_id
from tests.support.fake_manychat import SEND_FLOW, SET_FIELDS, VALID_KEY, FakeManyChat

KEY = "pi_test_manychat_queued_account"
AUTH = {"Authorization": f"Bearer {KEY}"}
EXTRACT = "/manychat/v1/brands/extract"
CREATE_ROUTE = "POST /api/v1/brands/extract"
CREATE_SECONDS = 5


@pytest.fixture
def fake_manychat():
    with FakeManyChat() as fake:
        yield fake


@pytest.fixture
def slow_creates(pisim):
    pisim.configure(create_seconds=CREATE_SECONDS)
    yield pisim
    pisim.configure(create_seconds=0)


def test_a_slow_create_answers_queued_and_the_push_arrives_once_for_the_one_job(
    live_stack_factory, fake_manychat, slow_creates
):
    stack = live_stack_factory(
        MANYCHAT_API_URL=fake_manychat.url, CONNECTOR_MANYCHAT_WAIT_SECONDS="2"
    )
    body = {
        "url": "https://queued-push.example",
        "subscriber_id": "801",
        "manychat_api_key": VALID_KEY,
        "flow_ns": "content_queued_flow",
    }
    response = stack.post(EXTRACT, json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    first = response.json()
    # Answered before Pi answered the create: the connector's own id, status queued.
    assert first["status"] == "queued" and is_queued_id(first["job_id"])
    assert first["brand_id"] is None and first["error"] is None
    # ManyChat's retry of the same request meanwhile gets the same id, not a second job.
    again = stack.post(EXTRACT, json=body, headers=AUTH).json()
    assert again["job_id"] in (first["job_id"], *[j["id"] for j in slow_creates.jobs()])
    dynamic = stack.get(f"/manychat/v1/jobs/{first['job_id']}?format=dynamic_block", headers=AUTH)
    assert dynamic.status_code == 200, dynamic.text

    [flow] = fake_manychat.wait_for(SEND_FLOW, 1, timeout=60)
    [fields] = fake_manychat.calls_to(SET_FIELDS, 801)
    [job] = slow_creates.jobs()
    pushed = fields.fields()
    assert pushed["job_id"] == job["id"] and pushed["status"] == "completed"
    assert flow.body == {"subscriber_id": 801, "flow_ns": "content_queued_flow"}
    # The queued id now leads to that job and its result.
    later = stack.get(f"/manychat/v1/jobs/{first['job_id']}", headers=AUTH)
    assert later.status_code == 200
    assert later.json()["job_id"] == job["id"] and later.json()["brand_id"] == pushed["brand_id"]
    time.sleep(2)  # a second push would arrive now
    assert len(fake_manychat.calls_to(SET_FIELDS, 801)) == 1
    assert len(fake_manychat.calls_to(SEND_FLOW, 801)) == 1
    assert slow_creates.count(CREATE_ROUTE) == 1


def test_an_unknown_or_foreign_queued_id_is_a_404(live_stack_factory, slow_creates):
    live_stack = live_stack_factory(CONNECTOR_MANYCHAT_WAIT_SECONDS="1")
    response = live_stack.post(EXTRACT, json={"url": "https://queued-owner.example"}, headers=AUTH)
    queued_id = response.json()["job_id"]
    assert is_queued_id(queued_id)
    other = {"Authorization": "Bearer pi_test_manychat_queued_other"}
    assert live_stack.get(f"/manychat/v1/jobs/{queued_id}", headers=other).status_code == 404
    unknown = "pcq_" + "0" * 32
    assert live_stack.get(f"/manychat/v1/jobs/{unknown}", headers=AUTH).status_code == 404
