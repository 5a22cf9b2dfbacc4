"""Answer times: a lone request waits to its deadline, a burst's answers are spread before it."""

from __future__ import annotations

import threading
import time

import pytest

from connector.jobs import answer_times
from connector.jobs.answer_times import ANSWER_SPREAD_CAP, answer_at, wait_spread


def test_a_lone_request_waits_until_its_deadline():
    assert answer_at(100.0, waiting=1, draw=0.99) == 100.0


def test_a_burst_spreads_its_answers_by_how_many_wait():
    # 501 waiting: 500 others to answer, about 1.5 ms of CPU each.
    assert answer_at(100.0, waiting=501, draw=0.0) == 100.0
    assert answer_at(100.0, waiting=501, draw=1.0) == pytest.approx(99.25)
    assert answer_at(100.0, waiting=100_000, draw=1.0) == 100.0 - ANSWER_SPREAD_CAP


def test_the_spread_is_drawn_at_the_last_stretch_from_everyone_waiting_then(monkeypatch):
    monkeypatch.setattr(answer_times.random, "random", lambda: 1.0)
    calls: list[float] = []
    others, release = threading.Event(), threading.Event()

    def other_request() -> None:
        with answer_times.answering():
            others.set()
            release.wait(5)

    helpers = [threading.Thread(target=other_request) for _ in range(100)]
    for helper in helpers:
        helper.start()
    others.wait(5)
    time.sleep(0.1)  # all 100 counted
    try:
        assert wait_spread(lambda until: calls.append(until) or False, 1000.0) is False
    finally:
        release.set()
        for helper in helpers:
            helper.join(5)
    # First to the last stretch, then to this request's moment among the 101 waiting.
    assert calls == [1000.0 - ANSWER_SPREAD_CAP, pytest.approx(1000.0 - 100 * 0.0015)]


def test_nothing_more_is_waited_for_once_the_wait_is_over():
    calls: list[float] = []
    assert wait_spread(lambda until: calls.append(until) or True, 50.0) is True
    assert calls == [50.0 - ANSWER_SPREAD_CAP]
