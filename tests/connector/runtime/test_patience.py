"""Writes that wait out a short Redis outage."""

from __future__ import annotations

import pytest
import redis

from connector.runtime import patience
from connector.runtime.patience import write_patiently


def test_a_write_is_repeated_until_redis_answers(monkeypatch):
    monkeypatch.setattr(patience, "WRITE_PAUSE_SECONDS", 0.01)
    answers = [redis.ConnectionError("down"), redis.BusyLoadingError("loading"), "OK"]

    def write():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert write_patiently(write) == "OK"
    assert answers == []


def test_a_write_gives_up_after_its_patience(monkeypatch):
    monkeypatch.setattr(patience, "WRITE_PAUSE_SECONDS", 0.01)

    def write():
        raise redis.ConnectionError("down")

    with pytest.raises(redis.ConnectionError):
        write_patiently(write, patience=0.05)


def test_other_errors_are_not_retried():
    calls = []

    def write():
        calls.append(1)
        raise redis.ResponseError("WRONGTYPE")

    with pytest.raises(redis.ResponseError):
        write_patiently(write)
    assert calls == [1]
