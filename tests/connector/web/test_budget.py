"""Request budgets: a waiting endpoint's whole answer, Pi's create included, fits its budget."""

from __future__ import annotations

import threading
import time

import pytest

from connector import create_app
from connector.web.budget import MIN_CREATE_SECONDS, Budget, arrival

KEY = "pi_test_budget_account_1"
AUTH = {"Authorization": f"Bearer {KEY}"}
SLOW_CREATE = 12.0  # Pi takes this long to answer a create (simulator control)


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


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/zapier/v1/actions/generate_image", {"prompt": "a red kite"}),
        ("/zapier/v1/actions/extract_brand", {"url": "https://slow-create.example"}),
    ],
)
def test_a_zapier_action_whose_create_hangs_answers_within_its_budget(
    app_config, slow_pi, path, body
):
    app = create_app(
        {**app_config, "PI_BASE_URL": slow_pi.base_url, "CONNECTOR_ZAPIER_WAIT_SECONDS": 2}
    )
    started = time.monotonic()
    response = app.test_client().post(
        path, json=body, headers={**AUTH, "Idempotency-Key": "zap-budget-1"}
    )
    elapsed = time.monotonic() - started
    # Zapier gives up at 30 s; PI_TIMEOUT (10 s) and POST retries once stretched this past it.
    assert elapsed < SLOW_CREATE / 2, elapsed
    assert response.status_code == 504
    assert response.get_json()["error"]["code"] == "pi_timeout"
    creates = slow_pi.stats()["jobs_created"]
    assert creates == 1  # the POST was not sent again after the budget ran out


def test_a_manychat_request_whose_create_hangs_answers_within_its_budget(app_config, slow_pi):
    app = create_app(
        {**app_config, "PI_BASE_URL": slow_pi.base_url, "CONNECTOR_MANYCHAT_WAIT_SECONDS": 2}
    )
    started = time.monotonic()
    response = app.test_client().post(
        "/manychat/v1/brands/extract", json={"url": "https://slow-mc.example"}, headers=AUTH
    )
    elapsed = time.monotonic() - started
    assert elapsed < SLOW_CREATE / 2, elapsed
    assert response.status_code == 504


def test_a_duplicate_waiting_on_a_slow_peer_gives_up_within_its_budget(app_config, slow_pi):
    def app_with_budget(seconds: float):
        config = {"PI_BASE_URL": slow_pi.base_url, "CONNECTOR_MANYCHAT_WAIT_SECONDS": seconds}
        return create_app({**app_config, **config})

    body = {"url": "https://slow-peer.example"}
    answers: dict[str, tuple[int, float]] = {}

    def send(name: str, app) -> None:
        started = time.monotonic()
        response = app.test_client().post("/manychat/v1/brands/extract", json=body, headers=AUTH)
        answers[name] = (response.status_code, time.monotonic() - started)

    # The first request holds the claim for its whole 7 s budget while Pi's create hangs.
    first = threading.Thread(target=send, args=("first", app_with_budget(7)))
    first.start()
    time.sleep(0.3)
    send("second", app_with_budget(2))
    first.join()
    # The peer wait once lasted 15 s whatever the caller's budget.
    assert answers["second"][0] == 503 and answers["second"][1] < 4, answers
    assert answers["first"][0] == 504 and answers["first"][1] < SLOW_CREATE, answers
    assert slow_pi.stats()["jobs_created"] == 1
