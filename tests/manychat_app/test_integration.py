"""ManyChat end to end: real web and worker processes, a private Redis, the simulator process."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from tests.support.fake_manychat import (
    SEND_CONTENT,
    SEND_FLOW,
    SET_FIELDS,
    VALID_KEY,
    FakeManyChat,
)

KEY = "pi_test_manychat_live_account"
AUTH = {"Authorization": f"Bearer {KEY}"}
EXTRACT = "/manychat/v1/brands/extract"
CREATE_ROUTE = "POST /api/v1/brands/extract"
GENERATE = "/manychat/v1/images/generate"
IMAGE_CREATE_ROUTE = "POST /api/v1/images/generations"


@pytest.fixture
def fake_manychat():
    with FakeManyChat() as fake:
        yield fake


def _push_body(url: str, subscriber_id: int, flow_ns: str | None = "content_live_flow") -> dict:
    body = {"url": url, "subscriber_id": str(subscriber_id), "manychat_api_key": VALID_KEY}
    if flow_ns:
        body["flow_ns"] = flow_ns
    return body


def test_a_job_submitted_over_http_ends_with_the_push_at_manychat(
    live_stack_factory, fake_manychat
):
    stack = live_stack_factory(MANYCHAT_API_URL=fake_manychat.url)
    response = stack.post(EXTRACT, json=_push_body("https://live-push.example", 501), headers=AUTH)
    assert response.status_code == 200, response.text
    job_id = response.json()["job_id"]

    [flow] = fake_manychat.wait_for(SEND_FLOW, 1, timeout=30)
    [fields] = fake_manychat.calls_to(SET_FIELDS, 501)
    assert fields.at <= flow.at
    assert fields.headers["Authorization"] == f"Bearer {VALID_KEY}"
    pushed = fields.fields()
    assert pushed["job_id"] == job_id and pushed["status"] == "completed"
    assert pushed["brand_id"] and pushed["brand_name"]
    assert set(pushed) <= {"job_id", "status", "brand_id", "brand_name", "domain",
                           "primary_hex", "secondary_hex", "logo_url"}  # fmt: skip
    assert flow.body == {"subscriber_id": 501, "flow_ns": "content_live_flow"}
    # What the push set is what a later read answers.
    later = stack.get(f"/manychat/v1/jobs/{job_id}", headers=AUTH).json()
    assert later["brand_id"] == pushed["brand_id"]


def _image_push_body(prompt: str, subscriber_id: int) -> dict:
    return {
        "prompt": prompt,
        "subscriber_id": subscriber_id,  # a ManyChat number field arrives as a JSON number
        "manychat_api_key": VALID_KEY,
        "flow_ns": "content_image_ready",
        "send_image": True,
    }


def test_an_image_job_over_http_ends_with_its_fields_and_the_image_at_manychat(
    live_stack_factory, fake_manychat, pisim
):
    # Answer at once: the worker, not the request, sees the job end and pushes it.
    stack = live_stack_factory(
        MANYCHAT_API_URL=fake_manychat.url, CONNECTOR_MANYCHAT_WAIT_SECONDS="0"
    )
    body = _image_push_body("A red bicycle on a beach", 601)
    response = stack.post(GENERATE + "?channel=instagram", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    first = response.json()
    assert first["status"] in ("queued", "processing") and first["image_url"] is None
    job_id = first["job_id"]

    [flow] = fake_manychat.wait_for(SEND_FLOW, 1, timeout=30)
    [fields] = fake_manychat.calls_to(SET_FIELDS, 601)
    [content] = fake_manychat.calls_to(SEND_CONTENT, 601)
    assert fields.at <= content.at <= flow.at
    pushed = fields.fields()
    assert pushed["job_id"] == job_id and pushed["job_status"] == "completed"
    assert pushed["image_url"].startswith("http")
    assert content.status == 200  # the fake checked the Dynamic Block's shape
    image, caption = content.messages()
    assert image == {"type": "image", "url": pushed["image_url"], "buttons": []}
    assert caption["type"] == "text"
    assert content.body["data"]["content"]["type"] == "instagram"
    assert flow.body == {"subscriber_id": 601, "flow_ns": "content_image_ready"}
    assert pisim.count(IMAGE_CREATE_ROUTE) == 1
    # A later read answers what the push set, and the key was dropped after the push.
    later = stack.get(f"/manychat/v1/jobs/{job_id}", headers=AUTH).json()
    assert later["image_url"] == pushed["image_url"] and later["status"] == "completed"
    assert VALID_KEY not in stack.logs()


def test_a_failing_image_job_pushes_job_status_failed_without_an_image(
    live_stack_factory, fake_manychat
):
    stack = live_stack_factory(
        MANYCHAT_API_URL=fake_manychat.url, CONNECTOR_MANYCHAT_WAIT_SECONDS="0"
    )
    body = _image_push_body("A broken render [fail]", 602)
    response = stack.post(GENERATE + "?format=dynamic_block", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    [message] = response.json()["content"]["messages"]
    assert "on its way" in message["text"]

    fake_manychat.wait_for(SEND_FLOW, 1, timeout=30)
    [fields] = fake_manychat.calls_to(SET_FIELDS, 602)
    assert fields.fields()["job_status"] == "failed"
    assert "image_url" not in fields.fields()
    assert fake_manychat.calls_to(SEND_CONTENT) == []
    job_id = fields.fields()["job_id"]
    later = stack.get(f"/manychat/v1/jobs/{job_id}", headers=AUTH).json()
    assert later["status"] == "failed" and later["error"]


def _tracked(conn: redis.Redis, job_id: str, timeout: float = 15.0) -> None:
    """Wait until a tracker holds the job's lease."""
    deadline = time.monotonic() + timeout
    while not any(
        m.decode().endswith(f"|{job_id}") for m in conn.zrange("pic:tracker:leases", 0, -1)
    ):
        assert time.monotonic() < deadline, "no tracker adopted the job"
        time.sleep(0.05)


def test_killed_worker_during_a_long_wait_still_delivers_exactly_once(
    live_stack_factory, fake_manychat, pisim
):
    stack = live_stack_factory(
        MANYCHAT_API_URL=fake_manychat.url,
        CONNECTOR_MANYCHAT_WAIT_SECONDS="0",
        CONNECTOR_TRACKER_LEASE_SECONDS="2",
        CONNECTOR_TRACKER_POLL_SECONDS="3",
    )
    conn = redis.Redis.from_url(stack.redis_url)
    response = stack.post(EXTRACT, json=_push_body("https://secs8-kill.example", 777), headers=AUTH)
    assert response.status_code == 200, response.text
    job_id = response.json()["job_id"]
    _tracked(conn, job_id)
    time.sleep(0.5)  # well inside the tracker's long-poll on Pi

    stack.kill_worker()  # SIGKILL: no lease is handed back
    assert fake_manychat.calls == []
    stack.start_worker()  # adopts the job once the dead tracker's leases lapse

    [flow] = fake_manychat.wait_for(SEND_FLOW, 1, timeout=60)
    time.sleep(2)  # a duplicate would arrive now
    assert len(fake_manychat.calls_to(SET_FIELDS, 777)) == 1
    assert len(fake_manychat.calls_to(SEND_FLOW, 777)) == 1
    assert flow.at >= pisim.job(job_id)["ends_at"]
    assert fake_manychat.calls_to(SET_FIELDS, 777)[0].fields()["status"] == "completed"
    assert pisim.count(CREATE_ROUTE) == 1


def test_fifty_identical_concurrent_requests_create_one_pi_job(live_stack_factory, pisim):
    stack = live_stack_factory()
    body = {"url": "https://concurrent-fifty.example"}

    def post(_: int):
        return stack.post(EXTRACT, json=body, headers=AUTH, timeout=30)

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(post, range(50)))

    assert [a.status_code for a in answers] == [200] * 50, answers[0].text
    assert len({a.json()["job_id"] for a in answers}) == 1
    assert pisim.count(CREATE_ROUTE) == 1


def test_a_hanging_pi_job_is_answered_within_the_budget(live_stack_factory, pisim):
    stack = live_stack_factory()

    def timed(n: int) -> tuple[float, dict]:
        started = time.monotonic()
        response = stack.post(
            EXTRACT, json={"url": f"https://hang-{n}-{uuid.uuid4().hex[:6]}.example"}, headers=AUTH
        )
        assert response.status_code == 200, response.text
        return time.monotonic() - started, response.json()

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(timed, range(4)))

    for elapsed, body in results:
        assert elapsed <= 7.5, elapsed
        assert elapsed >= 5.5, elapsed  # it did wait for Pi, not give up at once
        assert body["status"] in ("queued", "processing") and body["job_id"]
        assert body["brand_id"] is None
    stack.kill_worker()  # it is stuck in the hanging long-polls: skip the graceful stop
