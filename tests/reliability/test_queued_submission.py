"""Queued submissions survive a web process killed before Pi got their create; Redis down is a 503.

Real processes: gunicorn web, a worker, a private redis-server, the Pi simulator (whose
`hang_next` holds a create before Pi writes its job, and drops it when the caller goes away),
a fake ManyChat and a callback receiver. Requests are answered `queued` within a 2 s budget
while their creates hang; the web process tree is SIGKILLed; a new one starts; the worker
takes every intent over once its lease lapses. Each accepted request must get exactly one Pi
job and exactly one push or callback.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
import uuid
from collections import Counter

import pytest
import redis

from connector.ledger import is_queued_id
from tests.support.fake_manychat import SET_FIELDS, VALID_KEY, FakeManyChat
from tests.support.faults import kill_tree
from tests.support.receiver import Receiver
from tests.support.redis import RedisServer
from tests.support.stack import LiveStack

KEY = "pi_test_queued_submission_account"
AUTH = {"Authorization": f"Bearer {KEY}"}
BRAND_CREATE = "POST /api/v1/brands/extract"
IMAGE_CREATE = "POST /api/v1/images/generations"
BRANDS, IMAGES = 3, 2
ENV = {
    "CONNECTOR_MANYCHAT_WAIT_SECONDS": "2",
    "CONNECTOR_ZAPIER_WAIT_SECONDS": "2",
    "CONNECTOR_SUBMIT_LEASE_SECONDS": "10",  # the shortest allowed: a quick take-over
}


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.mark.timeout(240)
def test_requests_accepted_as_queued_get_one_pi_job_each_after_the_web_process_is_killed(
    redis_url, pisim
):
    with FakeManyChat() as fake, Receiver() as receiver:
        stack = LiveStack(redis_url, pisim.base_url, {**ENV, "MANYCHAT_API_URL": fake.url})
        stack.start()
        try:
            # Pi holds every create before writing its job (Pi has not got it yet).
            pisim.configure(
                hang_next=[
                    {"route": BRAND_CREATE, "seconds": 120, "count": BRANDS},
                    {"route": IMAGE_CREATE, "seconds": 120, "count": IMAGES},
                ]
            )
            tag = uuid.uuid4().hex[:6]
            brands = {900 + n: f"https://queued-{tag}-{n}.example" for n in range(BRANDS)}
            prompts = [f"a queued kite {tag} {n}" for n in range(IMAGES)]
            answers: dict[str, dict] = {}

            def extract(subscriber: int, url: str) -> None:
                body = {"url": url, "subscriber_id": str(subscriber), "manychat_api_key": VALID_KEY}
                response = stack.post("/manychat/v1/brands/extract", json=body, headers=AUTH)
                answers[url] = {**response.json(), "http": response.status_code}

            def generate(prompt: str) -> None:
                body = {"prompt": prompt, "callback_url": f"{receiver.url}/{prompt[-1]}"}
                response = stack.post("/zapier/v1/actions/generate_image", json=body, headers=AUTH)
                answers[prompt] = {**response.json(), "http": response.status_code}

            threads = [threading.Thread(target=extract, args=item) for item in brands.items()]
            threads += [threading.Thread(target=generate, args=(p,)) for p in prompts]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert len(answers) == BRANDS + IMAGES
            for key, answer in answers.items():
                assert answer["http"] == 200, (key, answer)
                assert answer["status"] == "queued" and is_queued_id(answer["job_id"]), (
                    key,
                    answer,
                )
            _wait(
                lambda: pisim.count(BRAND_CREATE) == BRANDS and pisim.count(IMAGE_CREATE) == IMAGES,
                20,
                "the creates never reached the simulator",
            )
            assert pisim.jobs() == []

            kill_tree(stack.web)  # SIGKILL: no graceful stop, no drain
            conn = redis.Redis.from_url(redis_url)
            assert conn.zcard("pic:intents:leases") == BRANDS + IMAGES
            stack.web.start()

            # The worker takes each intent over once its lease lapsed and submits it once.
            _wait(
                lambda: len(fake.calls_to(SET_FIELDS)) >= BRANDS and len(receiver.requests) >= 2,
                120,
                f"deliveries missing: {len(fake.calls_to(SET_FIELDS))} pushes, "
                f"{len(receiver.requests)} callbacks\n{stack.logs()[-4000:]}",
            )
            time.sleep(3)  # a second push or callback would arrive now

            jobs = pisim.jobs()
            per_input = Counter(
                (job.get("input") or {}).get("url") or (job.get("input") or {}).get("prompt")
                for job in jobs
            )
            assert sorted(per_input.values()) == [1] * (BRANDS + IMAGES), per_input
            assert set(per_input) == set(brands.values()) | set(prompts)
            assert conn.zcard("pic:intents:leases") == 0
            for subscriber, url in brands.items():
                [push] = fake.calls_to(SET_FIELDS, subscriber)
                pushed = push.fields()
                assert pushed["status"] == "completed"
                # The queued id the request got now leads to the job the push named.
                later = stack.get(f"/manychat/v1/jobs/{answers[url]['job_id']}", headers=AUTH)
                assert later.json()["job_id"] == pushed["job_id"], later.text
            assert len(receiver.requests) == IMAGES
            callbacks = [r.json() for r in receiver.requests]
            assert {c["job_id"] for c in callbacks} == {
                j["id"] for j in jobs if j["type"] != "brand_extraction"
            }
            assert all(c["status"] == "completed" for c in callbacks)
        finally:
            stack.stop()


@pytest.mark.timeout(120)
def test_redis_down_when_a_request_would_be_queued_is_a_503_with_nothing_half_written(pisim):
    server = RedisServer(appendonly=True, restartable=True).start()
    stack = LiveStack(server.url, pisim.base_url, ENV)
    try:
        stack.start()
        pisim.configure(create_seconds=5)  # longer than the budget: it would be queued
        server.stop()
        body = {"url": "https://queued-redis-down.example"}
        response = stack.post("/manychat/v1/brands/extract", json=body, headers=AUTH)
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "redis_unavailable"
        assert "Traceback" not in response.text
        server.start()
        conn = server.client()
        # Nothing half-written: no intent, no lease, no job, no idempotency claim, no Pi call.
        assert conn.zcard("pic:intents:leases") == 0
        leftovers = [
            k.decode()
            for k in conn.scan_iter("pic:*")
            if any(part in k.decode() for part in (":intent:", ":idem:", ":job:"))
        ]
        assert leftovers == []
        assert pisim.count(BRAND_CREATE) == 0
        # Redis is back: the same request is answered (queued, the create being slow).
        _wait(
            lambda: (
                stack.post("/manychat/v1/brands/extract", json=body, headers=AUTH).status_code
                == 200
            ),
            30,
            "the connector did not recover",
        )
        assert pisim.count(BRAND_CREATE) == 1
    finally:
        pisim.configure(create_seconds=0)
        stack.stop()
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)


@pytest.mark.timeout(120)
def test_a_graceful_restart_lets_a_queued_create_finish_instead_of_sending_it_again(
    redis_url, pisim
):
    # A lease longer than the wait below: only the stopping process itself can bind the job.
    stack = LiveStack(redis_url, pisim.base_url, {**ENV, "CONNECTOR_SUBMIT_LEASE_SECONDS": "60"})
    stack.start()
    try:
        pisim.configure(create_seconds=5)  # Pi writes the job, then answers 5 s later
        body = {"url": f"https://queued-graceful-{uuid.uuid4().hex[:6]}.example"}
        answer = stack.post("/manychat/v1/brands/extract", json=body, headers=AUTH).json()
        assert answer["status"] == "queued" and is_queued_id(answer["job_id"])
        # gunicorn's HUP: new workers start, the old ones stop gracefully (as in a deploy).
        os.kill(stack.web.pid, signal.SIGHUP)
        conn = redis.Redis.from_url(redis_url)
        _wait(
            lambda: conn.zcard("pic:intents:leases") == 0,
            30,
            "the stopping worker did not finish its create\n" + stack.logs()[-3000:],
        )
        [job] = pisim.jobs()
        later = stack.get(f"/manychat/v1/jobs/{answer['job_id']}", headers=AUTH).json()
        assert later["job_id"] == job["id"]
        assert pisim.count(BRAND_CREATE) == 1
    finally:
        pisim.configure(create_seconds=0)
        stack.stop()
