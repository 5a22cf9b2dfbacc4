"""Delivery targets misbehaving under a live stack: retried or dropped as specified, never a stall.

Real processes: gunicorn web, two RQ workers, a private redis-server, the Pi simulator; the
targets are local HTTP receivers answering 500, 410, a redirect, or too slowly.
"""

from __future__ import annotations

import time
import uuid
from contextlib import ExitStack

import pytest
import redis

from tests.support.receiver import Receiver

KEY = "pi_test_delivery_faults_account"
AUTH = {"Authorization": f"Bearer {KEY}"}
TIMEOUT = 2  # CONNECTOR_DELIVERY_TIMEOUT_SECONDS for these stacks


@pytest.fixture
def stack(live_stack_factory):
    stack = live_stack_factory(
        CONNECTOR_DELIVERY_TIMEOUT_SECONDS=str(TIMEOUT), CONNECTOR_DELIVERY_MAX_ATTEMPTS="3"
    )
    stack.start_worker()  # two workers, as in production: one slow target holds only one
    return stack


@pytest.fixture
def receivers():
    with ExitStack() as stack:
        yield lambda: stack.enter_context(Receiver())


def _submit(stack, callback_url: str) -> str:
    body = {
        "kind": "brand_extraction",
        "input": {"url": f"https://dlv-{uuid.uuid4().hex[:8]}.example"},
        "callback_url": callback_url,
    }
    response = stack.post("/v1/jobs", json=body, headers=AUTH)
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


def _delivery_state(stack, job_id: str, want: set[str], timeout: float = 30.0) -> dict:
    """Return the job's one delivery record once its state is in `want`."""
    conn = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    deadline = time.monotonic() + timeout
    while True:
        keys = list(conn.scan_iter(match=f"*job:{job_id}:dlv:*"))
        state = conn.hgetall(keys[0]) if len(keys) == 1 else {}
        if state.get("state") in want:
            return state
        assert time.monotonic() < deadline, f"delivery of {job_id} stuck at {state}"
        time.sleep(0.1)


def test_a_target_answering_500s_is_retried_until_it_takes_the_delivery(stack, receivers):
    target = receivers()
    target.answers = [(500, {}), (503, {})]
    job_id = _submit(stack, target.url + "/hook")

    state = _delivery_state(stack, job_id, {"delivered", "failed"})
    assert state["state"] == "delivered" and state["attempts"] == "3"
    got = target.requests
    assert len(got) == 3
    assert len({r.headers["webhook-id"] for r in got}) == 1  # one message, redelivered
    assert got[0].json()["data"]["job_id"] == job_id


def test_a_target_that_times_out_is_retried(stack, receivers):
    target = receivers()
    target.delay = TIMEOUT + 2
    job_id = _submit(stack, target.url + "/hook")
    target.wait_for(1, timeout=30)  # the first attempt was cut at the timeout
    target.delay = 0

    state = _delivery_state(stack, job_id, {"delivered", "failed"})
    assert state["state"] == "delivered" and int(state["attempts"]) >= 2


def test_a_410_drops_the_delivery_without_retrying(stack, receivers):
    target = receivers()
    target.answers = [(410, {})]
    job_id = _submit(stack, target.url + "/hook")

    state = _delivery_state(stack, job_id, {"gone"})
    time.sleep(4)  # a retry would come within the first backoff (at most 2 s)
    assert len(target.requests) == 1
    assert _delivery_state(stack, job_id, {"gone"})["attempts"] == "1"
    assert state["detail"] == "410 Gone"


def test_a_redirect_to_a_private_address_is_not_followed(stack, receivers):
    internal = receivers()  # a service on a private address the target points us to
    target = receivers()
    target.answers = [(302, {"Location": f"http://127.0.0.1:{internal.port}/admin"})]
    job_id = _submit(stack, target.url + "/hook")

    state = _delivery_state(stack, job_id, {"failed"})
    time.sleep(4)  # a retry would come within the first backoff (at most 2 s)
    assert "redirect" in state["detail"]
    assert len(target.requests) == 1
    assert internal.requests == []


def test_a_slow_target_does_not_hold_up_other_deliveries(stack, receivers):
    slow, fast = receivers(), receivers()
    slow.delay = TIMEOUT + 4  # every attempt hangs past the delivery timeout
    slow_job = _submit(stack, slow.url + "/hook")
    _delivery_state(stack, slow_job, {"retrying"})  # attempt 1 already timed out
    slow.wait_for(1, timeout=30)
    fast_jobs = [_submit(stack, fast.url + "/hook") for _ in range(3)]

    for job_id in fast_jobs:
        assert _delivery_state(stack, job_id, {"delivered"}, timeout=20)["attempts"] == "1"
    final = _delivery_state(stack, slow_job, {"failed"}, timeout=60)
    assert final["attempts"] == "3" and final["detail"] == "DeliveryTimeout"
    assert len(fast.requests) == 3
    # Every fast delivery landed while the slow one was still being tried.
    assert max(r.at for r in fast.requests) < float(final["updated_at"])
