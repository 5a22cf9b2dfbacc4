"""Request budgets: a waiting endpoint's whole answer, Pi's create included, fits its budget."""

from __future__ import annotations

import threading
import time

import pytest

from connector import create_app
from connector.jobs.handoff import drain
from connector.ledger import is_queued_id
from connector.web.budget import MIN_CREATE_SECONDS, Budget, arrival

KEY = "pi_test_budget_account_1"
AUTH = {"Authorization": f"Bearer {KEY}"}
SLOW_CREATE = 8.0  # Pi takes this long to answer a create (simulator control)


def test_the_deadline_keeps_the_margin_back_from_the_budget():
    budget = Budget(started=100.0, seconds=7.0, margin=0.75)
    assert budget.deadline == 106.25
    assert budget.left(now=105.0) == 1.25
    assert budget.left(now=200.0) == 0.0


def test_a_budget_smaller_than_its_margin_ends_at_once():
    assert Budget(started=100.0, seconds=0.5, margin=0.75).deadline == 100.0


def test_a_create_gets_at_least_one_round_trip_whatever_the_budget():
    assert Budget(started=100.0, seconds=0.0).create_deadline == 100.0 + MIN_CREATE_SECONDS
    assert Budget(started=100.0, seconds=25.0).create_deadline == 125.0


def test_arrival_counts_back_the_time_the_request_already_spent():
    assert arrival(10.0, now=50.0, perf_now=12.5) == 47.5
    assert arrival(None, now=50.0, perf_now=12.5) == 50.0
    assert arrival(13.0, now=50.0, perf_now=12.5) == 50.0  # never in the future


@pytest.fixture
def slow_pi(pisim):
    """The simulator with creates that answer only after SLOW_CREATE seconds."""
    pisim.configure(create_seconds=SLOW_CREATE)
    yield pisim
    pisim.configure(create_seconds=0)
    drain(SLOW_CREATE + 10)  # the creates left running beside their answered requests


@pytest.mark.parametrize(
    ("path", "body", "kind"),
    [
        ("/zapier/v1/actions/generate_image", {"prompt": "a red kite"}, "image_generation"),
        (
            "/zapier/v1/actions/extract_brand",
            {"url": "https://slow-create.example"},
            "brand_extraction",
        ),
    ],
)
def test_a_zapier_action_whose_create_outlasts_its_budget_answers_queued_within_it(
    app_config, slow_pi, path, body, kind
):
    app = create_app(
        {**app_config, "PI_BASE_URL": slow_pi.base_url, "CONNECTOR_ZAPIER_WAIT_SECONDS": 2}
    )
    client = app.test_client()
    started = time.monotonic()
    response = client.post(path, json=body, headers={**AUTH, "Idempotency-Key": "zap-budget-1"})
    elapsed = time.monotonic() - started
    # Zapier gives up at 30 s; PI_TIMEOUT (10 s) and POST retries once stretched this past it.
    assert elapsed < SLOW_CREATE / 2, elapsed
    assert response.status_code == 200, response.text
    queued = response.get_json()
    assert queued["status"] == "queued" and queued["kind"] == kind
    assert is_queued_id(queued["job_id"]) and queued["id"] == queued["job_id"]
    # Before Pi answers, the id is found and still queued.
    [early] = client.get(f"/zapier/v1/searches/job?job_id={queued['job_id']}", headers=AUTH).json
    assert early["status"] == "queued" and early["job_id"] == queued["job_id"]
    assert drain(SLOW_CREATE + 10) == 0
    # Once Pi gave its job id, the queued id leads to that one job.
    [job] = slow_pi.jobs()
    [found] = client.get(f"/zapier/v1/searches/job?job_id={queued['job_id']}", headers=AUTH).json
    assert found["job_id"] == job["id"]
    assert slow_pi.stats()["jobs_created"] == 1


def test_a_manychat_request_whose_create_outlasts_its_budget_answers_queued(app_config, slow_pi):
    app = create_app(
        {**app_config, "PI_BASE_URL": slow_pi.base_url, "CONNECTOR_MANYCHAT_WAIT_SECONDS": 2}
    )
    client = app.test_client()
    started = time.monotonic()
    response = client.post(
        "/manychat/v1/brands/extract", json={"url": "https://slow-mc.example"}, headers=AUTH
    )
    elapsed = time.monotonic() - started
    assert elapsed < SLOW_CREATE / 2, elapsed
    assert response.status_code == 200, response.text
    assert response.get_json()["status"] == "queued"
    queued_id = response.get_json()["job_id"]
    assert is_queued_id(queued_id)
    assert drain(SLOW_CREATE + 10) == 0
    [job] = slow_pi.jobs()
    later = client.get(f"/manychat/v1/jobs/{queued_id}", headers=AUTH)
    assert later.status_code == 200 and later.get_json()["job_id"] == job["id"]
    # The same request again finds the same job.
    again = client.post(
        "/manychat/v1/brands/extract", json={"url": "https://slow-mc.example"}, headers=AUTH
    )
    assert again.get_json()["job_id"] == job["id"]
    assert slow_pi.stats()["jobs_created"] == 1


def test_a_duplicate_of_a_request_whose_create_is_slow_answers_the_same_queued_id(
    app_config, slow_pi
):
    def app_with_budget(seconds: float):
        config = {"PI_BASE_URL": slow_pi.base_url, "CONNECTOR_MANYCHAT_WAIT_SECONDS": seconds}
        return create_app({**app_config, **config})

    body = {"url": "https://slow-peer.example"}
    answers: dict[str, tuple[int, float, dict]] = {}

    def send(name: str, app) -> None:
        started = time.monotonic()
        response = app.test_client().post("/manychat/v1/brands/extract", json=body, headers=AUTH)
        answers[name] = (response.status_code, time.monotonic() - started, response.get_json())

    # The first request's create is still on its way to Pi for the whole of its 3 s budget.
    first = threading.Thread(target=send, args=("first", app_with_budget(3)))
    first.start()
    time.sleep(0.3)
    send("second", app_with_budget(2))
    first.join()
    # The peer wait once lasted 15 s whatever the caller's budget, then it was a 503.
    assert answers["second"][0] == 200 and answers["second"][1] < SLOW_CREATE / 2, answers
    assert answers["first"][0] == 200 and answers["first"][1] < SLOW_CREATE / 2, answers
    assert answers["second"][2]["job_id"] == answers["first"][2]["job_id"], answers
    assert is_queued_id(answers["first"][2]["job_id"])
    assert drain(SLOW_CREATE + 10) == 0
    assert slow_pi.stats()["jobs_created"] == 1
