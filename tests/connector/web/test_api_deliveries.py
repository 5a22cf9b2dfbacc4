"""The /v1 delivery log: attempts as they happened, redelivery, failed lists, account scope."""

from __future__ import annotations

import time

from standardwebhooks import Webhook

from connector.auth import account_id_for
from connector.delivery.dispatch import deliver
from connector.worker import run_until_idle
from tests.support.constants import WEBHOOK_SECRET
from tests.support.settings import replace_settings
from tests.support.webhooks import account_secret

KEY = "pi_test_delivery_log_key"
AUTH = {"Authorization": f"Bearer {KEY}"}
OTHER = {"Authorization": "Bearer pi_test_someone_else"}


def _submit(app, url: str) -> str:
    body = {"kind": "brand_extraction", "input": {"url": "https://acme.example"}}
    body["callback_url"] = url
    response = app.test_client().post("/v1/jobs", json=body, headers=AUTH)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["job_id"]


def _deliveries(app, job_id: str, headers=AUTH):
    return app.test_client().get(f"/v1/jobs/{job_id}/deliveries", headers=headers)


def _ref(app, job_id: str) -> str:
    with app.app_context():
        return app.extensions["delivery_log"].deliveries(account_id_for(KEY), job_id)[0]["ref"]


def _retry(app, job_id: str, attempt: int) -> str:
    with app.app_context():
        return deliver(account_id_for(KEY), job_id, _ref(app, job_id), attempt)


def test_500_twice_then_200_shows_three_attempts_ending_delivered(sim_app, receiver):
    receiver.answers = [(500, {}), (500, {})]
    job_id = _submit(sim_app, receiver.url + "/hook?token=s3cr3t-query-value")
    run_until_idle(sim_app)
    assert _retry(sim_app, job_id, 2) == "retry"
    assert _retry(sim_app, job_id, 3) == "delivered"

    response = _deliveries(sim_app, job_id)
    assert response.status_code == 200
    [delivery] = response.get_json()["deliveries"]
    assert delivery["state"] == "delivered" and delivery["attempts"] == 3
    assert delivery["kind"] == "webhook" and delivery["host"] == f"127.0.0.1:{receiver.port}"
    attempts = delivery["attempt_log"]
    assert [a["status"] for a in attempts] == [500, 500, 200]
    assert [a["state"] for a in attempts] == ["retrying", "retrying", "delivered"]
    assert attempts[0]["next_retry_at"] and attempts[2]["next_retry_at"] is None
    assert all(a["latency_ms"] is not None and a["latency_ms"] >= 0 for a in attempts)
    assert "s3cr3t-query-value" not in response.get_data(as_text=True)


def test_a_410_shows_gone(sim_app, receiver):
    receiver.answers = [(410, {})]
    job_id = _submit(sim_app, receiver.url)
    run_until_idle(sim_app)
    [delivery] = _deliveries(sim_app, job_id).get_json()["deliveries"]
    assert delivery["state"] == "gone" and delivery["attempt_log"][0]["status"] == 410


def test_failed_deliveries_are_listed_newest_first_and_keep_the_targets_message(sim_app, receiver):
    replace_settings(sim_app, delivery_max_attempts=1)
    receiver.answers = [(500, {}), (500, {})]
    first = _submit(sim_app, receiver.url + "/a")
    run_until_idle(sim_app)
    time.sleep(0.01)
    body = {"kind": "brand_extraction", "input": {"url": "https://other.example"}}
    body["callback_url"] = receiver.url + "/b"
    second = sim_app.test_client().post("/v1/jobs", json=body, headers=AUTH).get_json()["job_id"]
    run_until_idle(sim_app)

    listed = sim_app.test_client().get("/v1/deliveries?state=failed", headers=AUTH).get_json()
    assert [d["job_id"] for d in listed["deliveries"]] == [second, first]
    assert listed["deliveries"][0]["message"] == '{"ok":true}'  # the receiver's own body
    assert sim_app.test_client().get("/v1/deliveries", headers=OTHER).get_json() == {
        "deliveries": []
    }
    bad = sim_app.test_client().get("/v1/deliveries?state=lost", headers=AUTH)
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_query"


def test_redeliver_sends_the_same_webhook_id_verifiable_with_standard_webhooks(sim_app, receiver):
    job_id = _submit(sim_app, receiver.url)
    run_until_idle(sim_app)
    [delivery] = _deliveries(sim_app, job_id).get_json()["deliveries"]
    assert delivery["state"] == "delivered"
    url = f"/v1/jobs/{job_id}/deliveries/{delivery['delivery_id']}/redeliver"

    client = sim_app.test_client()
    assert client.post(url, headers=OTHER).status_code == 404
    accepted = client.post(url, headers=AUTH)
    assert accepted.status_code == 202 and accepted.get_json()["status"] == "queued"
    busy = client.post(url, headers=AUTH)  # queued, not yet run: in flight
    assert busy.status_code == 409 and busy.get_json()["error"]["code"] == "delivery_in_flight"
    run_until_idle(sim_app)

    first, again = receiver.wait_for(2)
    assert first.headers["webhook-id"] == again.headers["webhook-id"]
    assert first.body == again.body
    payload = Webhook(account_secret(sim_app, KEY)).verify(again.body, again.headers)
    assert payload["data"]["job_id"] == job_id
    [after] = _deliveries(sim_app, job_id).get_json()["deliveries"]
    assert after["attempts"] == 2 and after["in_flight"] is False
    assert client.post(url, headers=AUTH).status_code == 202  # free again once it ran


def test_another_account_gets_404_for_the_jobs_deliveries(sim_app, receiver):
    job_id = _submit(sim_app, receiver.url)
    run_until_idle(sim_app)
    response = _deliveries(sim_app, job_id, OTHER)
    assert response.status_code == 404
    assert job_id not in response.get_data(as_text=True)
    unknown = sim_app.test_client().post(
        f"/v1/jobs/{job_id}/deliveries/dlv_nope/redeliver", headers=AUTH
    )
    assert unknown.status_code == 404


def test_no_secret_reaches_the_log_or_the_api(sim_app, receiver, redis_client):
    receiver.answers = [(500, {})] * 2
    job_id = _submit(sim_app, receiver.url + "/x?api_key=query-secret-123")
    run_until_idle(sim_app)
    text = _deliveries(sim_app, job_id).get_data(as_text=True)
    stored = "".join(_dump(redis_client, key) for key in redis_client.keys("*dl*"))
    for secret in (KEY, "query-secret-123", WEBHOOK_SECRET, WEBHOOK_SECRET[6:]):
        assert secret not in text
        assert secret not in stored


def _dump(redis_client, key: bytes) -> str:
    kind = redis_client.type(key).decode()
    if kind == "hash":
        return str(redis_client.hgetall(key))
    if kind == "zset":
        return str(redis_client.zrange(key, 0, -1))
    return str(redis_client.get(key)) if kind == "string" else ""
