"""The simulator as a program: CLI flags, the ready line, SIGTERM, build_server."""

from __future__ import annotations

import signal
import threading

import requests

from connector.pisim import build_server
from tests.support.pisim import start_simulator


def test_cli_flags_apply_and_sigterm_stops_cleanly():
    proc = start_simulator(
        "--job-seconds",
        "9",
        "--long-poll",
        "poll",
        "--rate-limit-every",
        "5",
        "--create-seconds",
        "0.5",
    )
    try:
        assert f"pisim listening on {proc.base_url}" in proc.output()
        config = proc.simulator.config()
        assert (config["job_seconds"], config["long_poll"], config["rate_limit_every"]) == (
            9,
            "poll",
            5,
        )
        assert config["create_seconds"] == 0.5
        proc.kill(signal.SIGTERM)
        assert proc.proc.wait(timeout=5) == 0
    finally:
        proc.stop()


def test_build_server_runs_in_process_on_a_free_port():
    server = build_server("127.0.0.1", 0, job_seconds=0, long_poll="wake")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        headers = {"Authorization": "Bearer pi_test_inproc"}
        created = requests.post(
            server.url + "/api/v1/brands/extract",
            json={"url": "https://a.example"},
            headers=headers,
            timeout=5,
        )
        job_id = created.json()["data"]["job_id"]
        job = requests.get(server.url + f"/api/v1/jobs/{job_id}", headers=headers, timeout=5)
        assert job.json()["data"]["status"] == "completed"
    finally:
        server.shutdown()
        server.server_close()
