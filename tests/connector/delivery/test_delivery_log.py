"""The delivery log: bounded attempts, state indexes, hosts without secrets, minute counters."""

from __future__ import annotations

import time

from connector.delivery.delivery_log import (
    KEEP_FIRST,
    KEEP_LAST,
    AttemptEntry,
    delivery_id,
    host_of,
    public_view,
    sanitize_message,
)


def _log(app):
    return app.extensions["delivery_log"]


def test_a_long_retry_chain_keeps_its_first_and_last_attempts(app):
    with app.app_context():
        log = _log(app)
        for n in range(1, 41):
            entry = AttemptEntry(time.time(), "retrying", host="h.example", status=500 + n)
            log.record("acct", "job-1", "sub:s1", "webhook", entry, "retrying")
        [item] = log.deliveries("acct", "job-1")
    kept = [a["n"] for a in item["attempt_log"]]
    assert item["attempts"] == 40
    assert kept == list(range(1, KEEP_FIRST + 1)) + list(range(41 - KEEP_LAST, 41))


def test_state_moves_between_indexes_and_failed_is_listed_globally(app):
    with app.app_context():
        log = _log(app)
        log.record("a1", "j1", "sub:s", "webhook", AttemptEntry(1.0, "failed"), "failed")
        assert [d["job_id"] for d in log.by_state("a1", "failed")] == ["j1"]
        assert [d["account_id"] for d in log.failed()] == ["a1"]
        log.record("a1", "j1", "sub:s", "webhook", AttemptEntry(2.0, "delivered"), "delivered")
        assert log.by_state("a1", "failed") == [] and log.failed() == []
        assert [d["job_id"] for d in log.by_state("a1", "delivered")] == ["j1"]
        assert log.by_state("a2", "delivered") == []  # another account sees nothing


def test_outcomes_are_counted_per_minute_over_the_last_hour(app):
    now = time.time()
    with app.app_context():
        log = _log(app)
        log.record("a", "j", "sub:1", "webhook", AttemptEntry(now, "delivered"), "delivered")
        log.record("a", "j", "sub:2", "webhook", AttemptEntry(now - 120, "failed"), "failed")
        log.record("a", "j", "sub:3", "webhook", AttemptEntry(now - 7200, "gone"), "gone")
        counts = log.outcomes_last_hour(now)
    assert counts["delivered"] == 1 and counts["failed"] == 1 and counts["gone"] == 0


def test_hosts_never_carry_paths_queries_or_credentials():
    assert host_of("https://user:pw@hooks.example.com/p/a?token=x") == "hooks.example.com"
    assert host_of("http://127.0.0.1:8080/x?y=z") == "127.0.0.1:8080"
    assert host_of(None) is None and host_of("not a url") is None


def test_messages_are_redacted_one_line_and_short():
    text = sanitize_message(
        "Bearer abc123\nkey pi_test_xyz and my-own-secret " + "x" * 500, "my-own-secret"
    )
    assert "abc123" not in text and "pi_test_xyz" not in text and "my-own-secret" not in text
    assert "\n" not in text and len(text) <= 200


def test_delivery_ids_are_stable_and_task_writes_are_not_redeliverable():
    assert delivery_id("sub:abc") == delivery_id("sub:abc") != delivery_id("sub:abd")
    shop = public_view({"delivery_id": "d", "ref": "shopify:shopify_metafields:x.myshopify.com"})
    hook = public_view({"delivery_id": "d", "ref": "hook:hk_1:job.completed"})
    assert shop["redeliverable"] is False and hook["redeliverable"] is True
