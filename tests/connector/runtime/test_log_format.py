"""Text lines for people under `dev`, JSON otherwise; RQ's housekeeping kept out of INFO."""

from __future__ import annotations

import logging

from connector.runtime.logs import (
    HousekeepingFilter,
    JsonFormatter,
    TextFormatter,
    bound_request_id,
)


def _record(name: str, msg: str, level: int = logging.INFO, *args) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_text_lines_carry_time_process_level_message_and_request_id(monkeypatch):
    monkeypatch.setenv("PIC_PROCESS_ROLE", "worker")
    with bound_request_id("req_pic_abc"):
        line = TextFormatter().format(_record("connector.x", "delivery %s", logging.INFO, "ok"))
    assert "worker[" in line and " INFO " in line and "delivery ok" in line
    assert line.endswith("req_pic_abc") and "\x1b[" not in line
    coloured = TextFormatter(colour=True).format(_record("c", "boom", logging.ERROR))
    assert "\x1b[31m" in coloured


def test_json_stays_the_production_format():
    assert JsonFormatter().format(_record("c", "hello")).startswith('{"ts": ')


def test_rq_housekeeping_is_lowered_to_debug_and_work_is_kept():
    housekeeping = HousekeepingFilter()
    for text in (
        "Worker %s: cleaning registries for queue: %s",
        "*** Listening on %s...",
        "Worker %s: subscribing to channel %s",
    ):
        record = _record("rq.worker", text)
        assert housekeeping.filter(record) is False and record.levelname == "DEBUG"
    kept = _record("rq.worker", "%s: %s (%s)")
    assert housekeeping.filter(kept) is True and kept.levelname == "INFO"
    assert housekeeping.filter(_record("connector.x", "Listening on me")) is True
