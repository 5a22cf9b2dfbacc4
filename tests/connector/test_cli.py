"""The command line: help a newcomer understands, and `dev` bringing up the whole stack."""

import os
import subprocess
import sys
import time

import requests

from tests.support.procs import ServerProcess, free_port, python_argv


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        python_argv("-m", "connector.cli", *args), capture_output=True, text=True, timeout=60
    )


def test_help_lists_every_command_with_a_sentence():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("serve", "worker", "pisim", "dev", "rotate-keys"):
        assert command in result.stdout
    assert "Zapier, ManyChat and Shopify" in result.stdout


def test_missing_setting_is_named_without_a_traceback():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PI_", "REDIS_", "CONNECTOR_"))}
    result = subprocess.run(
        python_argv("-m", "connector.cli", "worker", "--burst"),
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2
    assert "PI_BASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_pisim_subcommand_passes_its_flags_through():
    result = run_cli("pisim", "--help")
    assert result.returncode == 0
    assert "--long-poll" in result.stdout


def test_dev_brings_up_the_stack_and_the_walkthrough_returns_a_brand_id():
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "PI_BASE_URL", "CONNECTOR_SECRET_KEY")
    }
    with ServerProcess(
        python_argv("-m", "connector.cli", "dev", "--port", str(port)),
        port=port,
        env=env,
        start_timeout=60,
    ) as proc:
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": "Bearer pi_test_demo_key_123"}
        assert requests.get(base + "/readyz", timeout=10).status_code == 200
        first = requests.post(
            base + "/manychat/v1/brands/extract",
            json={"url": "https://acme.example"},
            headers=auth,
            timeout=15,
        ).json()
        deadline = time.monotonic() + 30
        answer = first
        while answer["status"] != "completed" and time.monotonic() < deadline:
            answer = requests.get(
                f"{base}/manychat/v1/jobs/{first['job_id']}", headers=auth, timeout=15
            ).json()
        assert answer["status"] == "completed", proc.output()
        assert answer["brand_id"]
        assert "Pi Connector is running" in proc.output()
    assert sys.executable  # the stack stopped with the context manager
