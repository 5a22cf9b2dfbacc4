"""The generic API: submit, read with a wait, signed callbacks delivered once."""

import time
import uuid

import pytest

from connector import create_app
from connector.delivery import signing as webhook_signing
from connector.worker import run_until_idle
from tests.support.settings import replace_settings
from tests.support.webhooks import account_secret

KEY = "pi_test_generic_api_key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def run_worker(app):
    run_until_idle(app)


def test_submit_then_wait_returns_the_completed_view(sim_app, pisim):
    client = sim_app.test_client()
    created = client.post(
        "/v1/jobs",
        json={"kind": "brand_extraction", "input": {"url": "https://acme.example"}},
        headers=AUTH,
    )
    assert created.status_code == 202
    job_id = created.get_json()["job_id"]
    assert created.headers["Location"].endswith(f"/v1/jobs/{job_id}")
    view = client.get(f"/v1/jobs/{job_id}?wait=10", headers=AUTH).get_json()
    assert view["status"] == "completed"
    assert view["brand_id"] and view["brand"]["brand_name"]


def test_resubmission_answers_200_with_the_same_job(sim_app, pisim):
    client = sim_app.test_client()
    body = {"kind": "brand_extraction", "input": {"url": "https://acme.example"}}
    first = client.post("/v1/jobs", json=body, headers=AUTH)
    second = client.post("/v1/jobs", json=body, headers=AUTH)
    assert (first.status_code, second.status_code) == (202, 200)
    assert first.get_json()["job_id"] == second.get_json()["job_id"]


def test_same_idempotency_key_different_body_is_422(sim_app, pisim):
    client = sim_app.test_client()
    headers = {**AUTH, "Idempotency-Key": "k-123"}
    client.post(
        "/v1/jobs",
        json={"kind": "brand_extraction", "input": {"url": "https://a.example"}},
        headers=headers,
    )
    response = client.post(
        "/v1/jobs",
        json={"kind": "brand_extraction", "input": {"url": "https://b.example"}},
        headers=headers,
    )
    assert response.status_code == 422
    assert "different request body" in response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"input": {"url": "https://a.example"}}, "kind"),
        ({"kind": "nope", "input": {}}, "kind"),
        ({"kind": "brand_extraction", "input": {"url": "javascript:alert(1)"}}, "url"),
        ({"kind": "image_generation", "input": {"prompt": "x" * 5001}}, "prompt"),
        (
            {
                "kind": "image_generation",
                "input": {"prompt": "p", "reference_images": ["https://i.example/a.png"] * 7},
            },
            "reference_images",
        ),
        ({"kind": "brand_extraction", "input": "https://a.example"}, "input"),
    ],
)
def test_bad_input_is_400_naming_the_field_without_calling_pi(sim_app, pisim, body, field):
    response = sim_app.test_client().post("/v1/jobs", json=body, headers=AUTH)
    assert response.status_code == 400
    assert field in response.get_json()["error"]["message"]
    assert sum(n for route, n in pisim.stats()["requests"].items() if route.startswith("POST")) == 0


def test_malformed_json_is_400(sim_app):
    response = sim_app.test_client().post(
        "/v1/jobs", data="{nope", headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("header", [None, "Basic abc", "Bearer", "Bearer a b c"])
def test_missing_or_garbled_authorization_is_401(sim_app, header):
    headers = {"Authorization": header} if header else {}
    response = sim_app.test_client().get(f"/v1/jobs/{uuid.uuid4()}", headers=headers)
    assert response.status_code == 401


def test_another_accounts_job_is_404_without_its_data(sim_app, pisim):
    client = sim_app.test_client()
    created = client.post(
        "/v1/jobs",
        json={"kind": "brand_extraction", "input": {"url": "https://acme.example"}},
        headers=AUTH,
    )
    job_id = created.get_json()["job_id"]
    response = client.get(
        f"/v1/jobs/{job_id}", headers={"Authorization": "Bearer pi_test_other_account"}
    )
    assert response.status_code == 404
    assert job_id not in response.get_data(as_text=True)


def test_callback_is_signed_and_delivered_once(sim_app, pisim, receiver):
    client = sim_app.test_client()
    body = {
        "kind": "brand_extraction",
        "input": {"url": "https://acme.example"},
        "callback_url": receiver.url + "/cb",
    }
    job_id = client.post("/v1/jobs", json=body, headers=AUTH).get_json()["job_id"]
    client.post(
        "/v1/jobs", json=body, headers=AUTH
    )  # a retry by the caller: same job, same subscriber
    run_worker(sim_app)
    time.sleep(0.2)
    assert len(receiver.requests) == 1
    got = receiver.requests[0]
    webhook_signing.verify(account_secret(sim_app, KEY), got.headers, got.body)
    payload = got.json()
    assert payload["type"] == "job.completed"
    assert payload["data"]["job_id"] == job_id and payload["data"]["brand_id"]


def test_callback_answering_500_is_retried_then_recorded_failed(sim_app, pisim, receiver):
    from connector.delivery.dispatch import deliver, delivery_state

    replace_settings(sim_app, delivery_max_attempts=3)
    receiver.answers = [(500, {})] * 3
    client = sim_app.test_client()
    body = {
        "kind": "brand_extraction",
        "input": {"url": "https://acme.example"},
        "callback_url": receiver.url,
    }
    job_id = client.post("/v1/jobs", json=body, headers=AUTH).get_json()["job_id"]
    run_worker(sim_app)  # tracks, then makes attempt 1 (a 500: retry scheduled)
    with sim_app.app_context():
        from connector.auth import account_id_for

        account = account_id_for(KEY)
        ref = next(
            iter(
                sim_app.extensions["subscriptions"].targets(
                    sim_app.extensions["ledger"].get(account, job_id)
                )
            )
        )
        assert delivery_state(account, job_id, ref)["state"] == "retrying"
        assert deliver(account, job_id, str(ref), 2) == "retry"
        assert deliver(account, job_id, str(ref), 3) == "failed"
        assert delivery_state(account, job_id, ref)["state"] == "failed"
    assert len(receiver.requests) == 3


def test_callback_to_a_private_address_is_refused_without_the_dev_allowance(app_config, pisim):
    app = create_app(
        {**app_config, "PI_BASE_URL": pisim.base_url, "CONNECTOR_ALLOW_PRIVATE_TARGETS": False}
    )
    body = {
        "kind": "brand_extraction",
        "input": {"url": "https://acme.example"},
        "callback_url": "http://127.0.0.1:9/x",
    }
    response = app.test_client().post("/v1/jobs", json=body, headers=AUTH)
    assert response.status_code == 400
    assert "callback_url" in response.get_json()["error"]["message"]
    assert pisim.count("POST /api/v1/brands/extract") == 0


def test_an_account_reads_and_rotates_its_own_webhook_secret(sim_app):
    client = sim_app.test_client()
    mine = client.get("/v1/webhook-secret", headers=AUTH).get_json()
    theirs = client.get(
        "/v1/webhook-secret", headers={"Authorization": "Bearer pi_test_other_account_9"}
    ).get_json()
    assert mine["secret"].startswith("whsec_") and mine["secret"] != theirs["secret"]
    assert mine["generation"] == 0 and mine["previous_valid_until"] is None
    rotated = client.post("/v1/webhook-secret/rotate", headers=AUTH).get_json()
    assert rotated["generation"] == 1 and rotated["secret"] != mine["secret"]
    assert rotated["previous_valid_until"]  # the old one still signs during the grace
    assert client.get("/v1/webhook-secret", headers=AUTH).get_json() == rotated
    assert client.get("/v1/webhook-secret").status_code == 401


def test_without_a_server_key_there_is_no_webhook_secret(app_config, pisim):
    app = create_app(
        {**app_config, "PI_BASE_URL": pisim.base_url, "CONNECTOR_WEBHOOK_SECRET": None}
    )
    response = app.test_client().get("/v1/webhook-secret", headers=AUTH)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "callback_unavailable"
