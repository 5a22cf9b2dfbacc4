"""ManyChat replies: the flat object, Dynamic Blocks, waiting within the budget, lookups."""

from __future__ import annotations

import uuid

import pytest

from connector import create_app
from manychat_app.dynamic_block import MAX_TEXT
from manychat_app.replies import FLAT_KEYS
from tests.manychat_app.fakes import (
    EXTRACT,
    KEY_A,
    KEY_B,
    add_record,
    auth,
    pi_created,
    pi_job,
)


def test_extract_answers_the_flat_object_with_every_key_when_completed(client, pi):
    job_id, brand_id = str(uuid.uuid4()), str(uuid.uuid4())
    pi_created(pi, job_id, url="https://acme.com")
    pi_job(pi, job_id, "completed", brand_id=brand_id)

    response = client.post(EXTRACT, json={"url": "https://acme.com"}, headers=auth())

    assert response.status_code == 200
    assert response.get_json() == {
        "status": "completed",
        "job_id": job_id,
        "brand_id": brand_id,
        "brand_name": "Acme",
        "domain": "acme.com",
        "primary_hex": "#112233",
        "secondary_hex": "#445566",
        "logo_url": "https://cdn.example.com/acme.png",
        "error": None,
        "image_url": None,
    }
    assert list(response.get_json()) == list(FLAT_KEYS)
    [poll] = [c.request for c in pi.calls if c.request.method == "GET"]
    assert poll.params["wait_for_completion"] == "true"
    assert 1 <= int(poll.params["timeout_seconds"]) <= 7  # Pi's long-poll cut to the budget


def test_get_job_waits_for_a_running_job_within_the_budget(app_config, pi):
    app = create_app({**app_config, "CONNECTOR_MANYCHAT_WAIT_SECONDS": 4.0})
    record = add_record(app, status="queued")
    brand_id = str(uuid.uuid4())
    pi_job(pi, record.job_id, "completed", brand_id=brand_id)

    response = app.test_client().get(f"/manychat/v1/jobs/{record.job_id}", headers=auth())

    body = response.get_json()
    assert body["status"] == "completed" and body["brand_id"] == brand_id
    [poll] = [c.request for c in pi.calls]
    assert poll.params["wait_for_completion"] == "true"
    assert 1 <= int(poll.params["timeout_seconds"]) <= 3


def test_extract_answers_every_key_as_null_while_the_job_runs(app_config, pi):
    app = create_app({**app_config, "CONNECTOR_MANYCHAT_WAIT_SECONDS": 2.0})
    job_id = str(uuid.uuid4())
    pi_created(pi, job_id)
    pi_job(pi, job_id, "processing")

    response = app.test_client().post(EXTRACT, json={"url": "acme.com"}, headers=auth())

    body = response.get_json()
    assert response.status_code == 200
    assert list(body) == list(FLAT_KEYS)
    assert body["status"] == "processing" and body["job_id"] == job_id
    assert body["domain"] == "acme.com"  # known from the input before Pi finishes
    assert {k for k, v in body.items() if v is None} == set(FLAT_KEYS) - {
        "status",
        "job_id",
        "domain",
    }


def test_a_bare_domain_is_read_as_https(client, pi):
    job_id = str(uuid.uuid4())
    pi_created(pi, job_id, url="https://acme.com")
    pi_job(pi, job_id, "completed", brand_id=str(uuid.uuid4()))
    assert client.post(EXTRACT, json={"url": " acme.com "}, headers=auth()).status_code == 200


def test_failed_job_answers_its_sanitized_error(client, pi):
    job_id = str(uuid.uuid4())
    pi_created(pi, job_id)
    pi_job(pi, job_id, "failed", error="the site could not be reached")
    body = client.post(EXTRACT, json={"url": "https://down.example"}, headers=auth()).get_json()
    assert body["status"] == "failed" and body["brand_id"] is None
    assert body["error"] == "the site could not be reached"


def test_dynamic_block_of_a_completed_job_sets_the_five_brand_fields(client, app):
    record = add_record(app)
    response = client.get(f"/manychat/v1/jobs/{record.job_id}?format=dynamic_block", headers=auth())
    block = response.get_json()
    assert response.status_code == 200
    assert block["version"] == "v2"
    assert set(block["content"]) == {"messages", "actions", "quick_replies"}
    assert block["content"]["actions"] == [
        {"action": "set_field_value", "field_name": "brand_id", "value": record.brand_id},
        {"action": "set_field_value", "field_name": "brand_name", "value": "Acme"},
        {"action": "set_field_value", "field_name": "primary_hex", "value": "#112233"},
        {"action": "set_field_value", "field_name": "secondary_hex", "value": "#445566"},
        {
            "action": "set_field_value",
            "field_name": "logo_url",
            "value": "https://cdn.example.com/acme.png",
        },
    ]
    [message] = block["content"]["messages"]
    assert message["type"] == "text" and "Acme" in message["text"]
    assert block["content"]["quick_replies"] == []


def test_dynamic_block_of_a_running_job_sets_job_id_and_status(app_config, pi):
    app = create_app({**app_config, "CONNECTOR_MANYCHAT_WAIT_SECONDS": 0.5})
    job_id = str(uuid.uuid4())
    pi_created(pi, job_id)
    response = app.test_client().post(
        EXTRACT + "?format=dynamic_block", json={"url": "https://acme.com"}, headers=auth()
    )
    actions = response.get_json()["content"]["actions"]
    assert actions == [
        {"action": "set_field_value", "field_name": "job_id", "value": job_id},
        {"action": "set_field_value", "field_name": "status", "value": "queued"},
    ]


def test_dynamic_block_of_a_failed_job_stays_within_caps_with_a_long_error(client, app):
    record = add_record(app, status="failed", error="x" * 5000)
    block = client.get(
        f"/manychat/v1/jobs/{record.job_id}?format=dynamic_block", headers=auth()
    ).get_json()
    content = block["content"]
    assert [a["field_name"] for a in content["actions"]] == ["job_id", "status"]
    assert content["actions"][1]["value"] == "failed"
    assert len(content["actions"]) <= 5 and len(content["messages"]) <= 10
    assert len(content["quick_replies"]) <= 11
    assert all(len(m["text"]) <= MAX_TEXT for m in content["messages"])


@pytest.mark.parametrize("job_id", [str(uuid.uuid4()), "not-a-uuid", "123"])
def test_unknown_job_id_is_404(client, pi, job_id):
    response = client.get(f"/manychat/v1/jobs/{job_id}", headers=auth())
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "job_not_found"
    assert len(pi.calls) == 0


def test_another_accounts_job_is_404_without_its_data(client, app, pi):
    record = add_record(app, KEY_B)
    for suffix in ("", "?format=dynamic_block"):
        response = client.get(f"/manychat/v1/jobs/{record.job_id}{suffix}", headers=auth(KEY_A))
        text = response.get_data(as_text=True)
        assert response.status_code == 404
        assert record.brand_id not in text and "Acme" not in text
    assert len(pi.calls) == 0


def test_own_finished_job_is_answered_from_the_ledger(client, app, pi):
    record = add_record(app)
    body = client.get(f"/manychat/v1/jobs/{record.job_id}", headers=auth()).get_json()
    assert body["status"] == "completed" and body["brand_id"] == record.brand_id
    assert list(body) == list(FLAT_KEYS)
    assert len(pi.calls) == 0  # terminal: nothing to wait for


def test_unfilled_job_id_is_400_saying_to_map_it(client, pi):
    response = client.get("/manychat/v1/jobs/%7B%7Bcuf_123%7D%7D", headers=auth())
    assert response.status_code == 400
    assert "job_id" in response.get_json()["error"]["message"]
