"""`pi-connector jobs show / deliveries failed / redeliver`: tables by default, JSON with --json."""

from __future__ import annotations

import json

import pytest

from connector import create_app
from connector.cli import main
from connector.worker import run_until_idle
from tests.support.receiver import Receiver
from tests.support.settings import replace_settings

KEY = "pi_test_cli_operator_key"


@pytest.fixture
def failed_job(app_config, pisim, monkeypatch):
    """Return (app, job_id, receiver) for a job whose callback failed once for good."""
    config = {**app_config, "PI_BASE_URL": pisim.base_url}
    for name, value in config.items():
        if name != "TESTING":
            monkeypatch.setenv(name, str(value))
    app = create_app(config)
    replace_settings(app, delivery_max_attempts=1)
    with Receiver() as receiver:
        receiver.answers = [(503, {})]
        body = {
            "kind": "brand_extraction",
            "input": {"url": "https://cli-shop.example"},
            "callback_url": receiver.url + "/cb",
        }
        response = app.test_client().post(
            "/v1/jobs", json=body, headers={"Authorization": f"Bearer {KEY}"}
        )
        run_until_idle(app)
        yield app, response.get_json()["job_id"], receiver


def test_jobs_show_prints_the_timeline_and_deliveries(failed_job, capsys):
    _, job_id, _ = failed_job
    assert main(["jobs", "show", job_id]) == 0
    text = capsys.readouterr().out
    assert f"job {job_id}" in text and "submitted from api" in text and "failed" in text
    assert main(["jobs", "show", job_id, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    [delivery] = data["deliveries"]
    assert delivery["state"] == "failed" and delivery["attempt_log"][0]["status"] == 503
    assert KEY not in json.dumps(data)


def test_deliveries_failed_lists_newest_first_within_the_window(failed_job, capsys):
    _, job_id, _ = failed_job
    assert main(["deliveries", "failed", "--since", "1h", "--json"]) == 0
    [item] = json.loads(capsys.readouterr().out)["deliveries"]
    assert item["job_id"] == job_id
    assert main(["deliveries", "failed"]) == 0
    assert job_id in capsys.readouterr().out


def test_redeliver_all_failed_queues_them_and_the_receiver_gets_it(failed_job, capsys):
    app, job_id, receiver = failed_job
    assert main(["redeliver", job_id, "--all-failed", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert list(results.values()) == ["queued"]
    run_until_idle(app)
    assert len(receiver.wait_for(2)) == 2
    assert main(["redeliver", job_id, "dlv_unknown"]) == 1
