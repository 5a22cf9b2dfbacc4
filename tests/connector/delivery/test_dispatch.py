"""Delivery decisions: backoff and how a target's answer is classified."""

import pytest

from connector.delivery.outcomes import DELIVERED, FAILED, GONE, RETRY, outcome_for_status
from connector.runtime.backoff import DELIVERY_BACKOFF, backoff_delay


@pytest.mark.parametrize(
    ("status", "result"),
    [
        (200, DELIVERED),
        (204, DELIVERED),
        (410, GONE),
        (429, RETRY),
        (500, RETRY),
        (503, RETRY),
        (408, RETRY),
        (302, FAILED),
        (400, FAILED),
        (404, FAILED),
    ],
)
def test_status_is_classified(status, result):
    assert outcome_for_status(status).result == result


def test_retry_after_is_read_from_a_429():
    assert outcome_for_status(429, {"Retry-After": "7"}).retry_after == 7.0


def test_backoff_doubles_with_jitter_and_is_capped():
    low = [backoff_delay(DELIVERY_BACKOFF, n, rand=lambda: 0.0) for n in range(1, 5)]
    high = [backoff_delay(DELIVERY_BACKOFF, n, rand=lambda: 1.0) for n in range(1, 5)]
    assert low == [1.0, 2.0, 4.0, 8.0]
    assert high == [2.0, 4.0, 8.0, 16.0]
    assert backoff_delay(DELIVERY_BACKOFF, 30, rand=lambda: 1.0) == 600.0


def test_server_retry_after_wins_over_backoff():
    assert backoff_delay(DELIVERY_BACKOFF, 1, server_wait=42) == 42.0


def test_retry_after_is_read_in_any_case_and_as_an_http_date():
    assert outcome_for_status(503, {"retry-after": "7"}).retry_after == 7.0
    date = outcome_for_status(503, {"RETRY-AFTER": "Fri, 01 Jan 2100 00:00:00 GMT"})
    assert date.retry_after is not None and date.retry_after > 0


def test_unreadable_or_negative_retry_after_leaves_the_backoff_in_charge():
    assert outcome_for_status(429, {"Retry-After": "soon"}).retry_after is None
    assert outcome_for_status(429, {"Retry-After": "-5"}).retry_after is None


def test_a_delivery_whose_worker_dies_mid_task_is_run_again_by_rq(app):
    from connector.delivery.dispatch import ABANDONED_RETRIES, enqueue_delivery
    from connector.delivery.subscriptions import DeliveryRef
    from connector.runtime.queues import DELIVER, get_queue

    with app.app_context():
        enqueue_delivery("acct", "job-1", DeliveryRef.to_subscriber("s1"))
        [job] = get_queue(app.extensions["store"], DELIVER).get_jobs()
    # RQ moves an abandoned task to the failed registry unless it has retries left.
    assert job.retries_left == ABANDONED_RETRIES
    assert job.args == ("acct", "job-1", "sub:s1", 1)
