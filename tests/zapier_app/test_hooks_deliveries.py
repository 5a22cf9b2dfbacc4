"""REST hook subscriptions and the deliveries to Zapier: hooks, callbacks, 410 and 429."""

from __future__ import annotations

import time

import pytest

from connector.auth import account_id_for
from connector.delivery.dispatch import deliver, delivery_state, fan_out
from connector.delivery.subscriptions import Subscriber
from connector.ledger import get_ledger
from connector.runtime.queues import DELIVER, get_queue
from connector.worker import run_until_idle
from tests.support.settings import replace_settings
from tests.zapier_app.helpers import KEY_A, KEY_B, add_job, auth, connector_keys
from zapier_app.generate import build
from zapier_app.objects import event_object, zapier_object


def _subscribe(client, target_url: str, event: str = "job.completed", key: str = KEY_A):
    return client.post(
        "/zapier/v1/hooks", headers=auth(key), json={"target_url": target_url, "event": event}
    )


def _run_deliveries(app) -> None:
    """Work the delivery queue in this process until it is empty."""
    run_until_idle(app)


def test_subscribe_returns_an_id_and_unsubscribe_removes_it(app, client, receiver):
    response = _subscribe(client, receiver.url + "/hook", "brand.extracted")
    assert response.status_code == 201
    hook = response.get_json()
    assert hook["id"] and hook["event"] == "brand.extracted"
    subs = app.extensions["subscriptions"]
    assert [h.id for h in subs.list_hooks(account_id_for(KEY_A))] == [hook["id"]]

    deleted = client.delete(f"/zapier/v1/hooks/{hook['id']}", headers=auth())
    assert deleted.status_code == 200 and deleted.get_json()["deleted"] is True
    assert subs.list_hooks(account_id_for(KEY_A)) == []
    assert client.delete(f"/zapier/v1/hooks/{hook['id']}", headers=auth()).status_code == 404


def test_unknown_or_foreign_hook_is_404_and_left_alone(app, client, receiver):
    hook = _subscribe(client, receiver.url + "/hook").get_json()
    assert client.delete("/zapier/v1/hooks/hk_unknown", headers=auth()).status_code == 404
    foreign = client.delete(f"/zapier/v1/hooks/{hook['id']}", headers=auth(KEY_B))
    assert foreign.status_code == 404
    assert foreign.get_json()["error"]["code"] == "hook_not_found"
    assert app.extensions["subscriptions"].get_hook(account_id_for(KEY_A), hook["id"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"target_url": "https://93.184.216.34/h", "event": "job.started"}, "event"),
        ({"target_url": "https://93.184.216.34/h"}, "event"),
        ({"event": "job.completed"}, "target_url"),
    ],
)
def test_subscribe_with_bad_fields_is_400_naming_them(client, body, field):
    response = client.post("/zapier/v1/hooks", headers=auth(), json=body)
    assert response.status_code == 400
    assert field in response.get_json()["error"]["details"]


@pytest.mark.parametrize(
    "target_url",
    [
        "http://93.184.216.34/hook",  # not https
        "https://127.0.0.1:8443/hook",  # loopback
        "https://10.0.0.7/hook",  # private
        "https://169.254.169.254/latest/meta-data",  # link-local metadata service
        "ftp://93.184.216.34/hook",
    ],
)
def test_target_url_must_be_public_https_outside_the_dev_allowance(app, client, target_url):
    replace_settings(app, allow_private_targets=False)
    response = _subscribe(client, target_url)
    assert response.status_code == 400
    assert "target_url" in response.get_json()["error"]["details"]
    assert app.extensions["subscriptions"].list_hooks(account_id_for(KEY_A)) == []


def test_public_https_target_is_accepted_without_the_dev_allowance(app, client):
    replace_settings(app, allow_private_targets=False)
    assert _subscribe(client, "https://93.184.216.34/hooks/catch/1/x").status_code == 201


def test_hooks_without_a_key_are_401(client):
    assert client.post("/zapier/v1/hooks", json={}).status_code == 401
    assert client.delete("/zapier/v1/hooks/hk_x").status_code == 401


def test_finished_job_is_delivered_to_matching_hooks_only(app, client, receiver):
    _subscribe(client, receiver.url + "/brand", "brand.extracted")
    _subscribe(client, receiver.url + "/done", "job.completed")
    _subscribe(client, receiver.url + "/failed", "job.failed")
    _subscribe(client, receiver.url + "/other-account", "job.completed", key=KEY_B)
    with app.app_context():
        record = add_job(get_ledger(), domain="acme.example")
        assert fan_out(record) == 2
        assert fan_out(record) == 0  # a second fan-out queues nothing new
    _run_deliveries(app)

    got = {r.path: r for r in receiver.wait_for(2)}
    assert set(got) == {"/brand", "/done"}
    with app.app_context():
        record = get_ledger().get(record.account_id, record.job_id)
        assert got["/brand"].json() == event_object(record, "brand.extracted")
        assert got["/done"].json() == event_object(record, "job.completed")
    assert got["/brand"].headers["X-Pi-Connector-Event"] == "brand.extracted"
    assert list(got["/done"].json()) == connector_keys("event")


def test_hook_answered_410_is_removed(app, client, receiver):
    hook = _subscribe(client, receiver.url + "/gone").get_json()
    receiver.answers.append((410, {}))
    with app.app_context():
        record = add_job(get_ledger(), domain="acme.example")
        ref = f"hook:{hook['id']}:job.completed"
        assert deliver(record.account_id, record.job_id, ref) == "gone"
        assert app.extensions["subscriptions"].get_hook(record.account_id, hook["id"]) is None
        # The next finished job goes nowhere.
        assert fan_out(add_job(get_ledger(), domain="next.example")) == 0
    assert len(receiver.requests) == 1


def test_hook_answered_429_backs_off_as_told_and_delivers_later(app, client, receiver):
    hook = _subscribe(client, receiver.url + "/busy").get_json()
    receiver.answers.append((429, {"Retry-After": "30"}))
    with app.app_context():
        record = add_job(get_ledger(), domain="acme.example")
        ref = f"hook:{hook['id']}:job.completed"
        before = time.time()
        assert deliver(record.account_id, record.job_id, ref) == "retry"
        assert delivery_state(record.account_id, record.job_id, ref)["state"] == "retrying"
        queue = get_queue(app.extensions["store"], DELIVER)
        [job_id] = queue.scheduled_job_registry.get_job_ids()
        due = queue.scheduled_job_registry.get_scheduled_time(job_id).timestamp()
        assert before + 29 <= due <= time.time() + 31
        assert queue.fetch_job(job_id).args == (record.account_id, record.job_id, ref, 2)
        # The hook stays; the scheduled second attempt delivers.
        assert app.extensions["subscriptions"].get_hook(record.account_id, hook["id"])
        assert deliver(record.account_id, record.job_id, ref, 2) == "delivered"
    assert [r.path for r in receiver.requests] == ["/busy", "/busy"]


def test_callback_body_is_what_perform_resume_expects(app, client, receiver):
    """The callback POST carries the final object: the one the action and Find Job return."""
    with app.app_context():
        ledger = get_ledger()
        record = add_job(ledger, domain="acme.example", status="processing")
        immediate = zapier_object(record)  # what perform returned (bundle.outputData)
        pipe = ledger.redis.pipeline()
        subs = app.extensions["subscriptions"]
        subs.add(
            pipe,
            record.account_id,
            record.job_id,
            Subscriber("zapier_callback", receiver.url + "/callback"),
        )
        pipe.execute()
        record.status, record.brand_id = "completed", "3f6c2a1e-8b4d-4c55-9e0a-5b7d2c1f9a10"
        record.brand = {
            "brand_id": record.brand_id,
            "brand_name": "Acme",
            "domain": "acme.example",
            "primary_hex": "#000000",
            "secondary_hex": "#FFFFFF",
            "logo_url": None,
        }
        assert ledger.finish(record)
        fan_out(record)
    _run_deliveries(app)

    [callback] = receiver.wait_for(1)
    assert callback.headers["Content-Type"] == "application/json"
    body = callback.json()
    [found] = client.get(
        f"/zapier/v1/searches/job?job_id={record.job_id}", headers=auth()
    ).get_json()
    assert body == found
    assert body["status"] == "completed" and body["brand_id"] == record.brand_id
    assert list(body) == [f["key"] for f in build()["outputFields"]["object"]]
    # performResume returns {...outputData, ...cleanedRequest}: the callback must win on every key.
    assert set(immediate) == set(body)
    assert {**immediate, **body} == body


def test_failed_job_callback_carries_the_error(app, receiver):
    with app.app_context():
        ledger = get_ledger()
        record = add_job(ledger, domain="fail.example", status="processing")
        pipe = ledger.redis.pipeline()
        app.extensions["subscriptions"].add(
            pipe,
            record.account_id,
            record.job_id,
            Subscriber("zapier_callback", receiver.url + "/callback"),
        )
        pipe.execute()
        record.status, record.error = "failed", "the site could not be read"
        ledger.finish(record)
        fan_out(record)
    _run_deliveries(app)
    body = receiver.wait_for(1)[0].json()
    assert (body["status"], body["error"]) == ("failed", "the site could not be read")
