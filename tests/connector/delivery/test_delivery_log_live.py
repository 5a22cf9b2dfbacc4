"""The delivery log with real web and worker processes: retries by the RQ scheduler, logged."""

from __future__ import annotations

import time

from tests.support.receiver import Receiver

KEY = "pi_test_delivery_log_live"
AUTH = {"Authorization": f"Bearer {KEY}"}


def test_500_twice_then_200_is_three_attempts_through_the_worker(live_stack):
    with Receiver() as receiver:
        retry_soon = {"Retry-After": "1"}
        receiver.answers = [(500, retry_soon), (500, retry_soon)]
        body = {
            "kind": "brand_extraction",
            "input": {"url": "https://live-log.example"},
            "callback_url": receiver.url + "/cb",
        }
        job_id = live_stack.post("/v1/jobs", json=body, headers=AUTH).json()["job_id"]
        receiver.wait_for(3, timeout=60)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            [delivery] = live_stack.get(f"/v1/jobs/{job_id}/deliveries", headers=AUTH).json()[
                "deliveries"
            ] or [{"state": None}]
            if delivery["state"] == "delivered":
                break
            time.sleep(0.2)
    assert delivery["state"] == "delivered" and delivery["attempts"] == 3
    assert [a["status"] for a in delivery["attempt_log"]] == [500, 500, 200]
    assert KEY not in live_stack.logs()
