"""The create gate: slots go round-robin between accounts, so a burst waits behind itself."""

from __future__ import annotations

import threading
import time

import pytest

from connector.jobs.fair_gate import FairGate


def _queue(gate: FairGate, account: str, served: list[str], lock: threading.Lock):
    def take() -> None:
        assert gate.acquire(account, 10)
        with lock:
            served.append(account)

    thread = threading.Thread(target=take)
    thread.start()
    return thread


def _wait_queued(gate: FairGate, count: int) -> None:
    deadline = time.monotonic() + 5
    while sum(gate.waiting().values()) < count:
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_a_free_slot_is_taken_at_once():
    gate = FairGate(2)
    assert gate.acquire("a", 0) and gate.acquire("b", 0)
    assert not gate.acquire("c", 0.05)  # full: c times out, holding nothing
    gate.release()
    assert gate.acquire("c", 0)


def test_a_burst_of_one_account_does_not_starve_another():
    gate = FairGate(1)
    assert gate.acquire("busy", 0)
    served: list[str] = []
    lock = threading.Lock()
    threads = [_queue(gate, "busy", served, lock) for _ in range(20)]
    _wait_queued(gate, 20)
    threads.append(_queue(gate, "quiet", served, lock))  # arrives after the whole burst
    _wait_queued(gate, 21)
    for _ in range(21):
        gate.release()
        time.sleep(0.005)
    for thread in threads:
        thread.join(5)
    # First come first served would make it wait for all 20; round-robin after one.
    assert served.index("quiet") <= 1
    assert served.count("busy") == 20


def test_accounts_take_turns():
    gate = FairGate(1)
    assert gate.acquire("x", 0)
    served: list[str] = []
    lock = threading.Lock()
    threads = []
    for account in ("a", "a", "a", "b", "b", "c"):
        threads.append(_queue(gate, account, served, lock))
        _wait_queued(gate, len(threads))
    for _ in threads:
        gate.release()
        time.sleep(0.005)
    for thread in threads:
        thread.join(5)
    assert served == ["a", "b", "c", "a", "b", "a"]


def test_a_waiter_that_gives_up_leaves_the_queue():
    gate = FairGate(1)
    assert gate.acquire("a", 0)
    assert not gate.acquire("b", 0.05)
    assert gate.waiting() == {}
    gate.release()
    assert gate.acquire("c", 0)


def test_a_gate_needs_a_slot():
    with pytest.raises(ValueError):
        FairGate(0)
