"""ManyChat push of image jobs: fields, the image by sendContent, the flow, once each."""

from __future__ import annotations

import json
import uuid

import pytest
import responses
from responses import matchers

from connector import create_app
from connector.auth import account_id_for
from connector.delivery.outcomes import DELIVERED, FAILED, RETRY, Target
from connector.delivery.subscriptions import DeliveryRef
from connector.ledger import JobRecord, get_ledger
from manychat_app.client import ManyChatClient
from manychat_app.deliveries import PUSH_KIND, deliver_push, push_fields, push_subscriber
from tests.support.fake_manychat import SEND_CONTENT, SEND_FLOW, SET_FIELDS, VALID_KEY, FakeManyChat

MC = "http://127.0.0.1:9"  # never contacted: `responses` answers at the transport
KEY = "pi_test_manychat_image_push"
MC_KEY = "7654321:mc_push_key_fedcba9876543210"
SUBSCRIBER = "1234567890"
IMAGE = "https://cdn.example.com/images/job.png"
FLOW = "content20260101_image"


@pytest.fixture
def mc_app(app_config):
    return create_app({**app_config, "MANYCHAT_API_URL": MC})


@pytest.fixture
def manychat():
    """Fake ManyChat at the transport; an unregistered call fails the delivery."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def image_record(status: str = "completed", kind: str = "image_generation") -> JobRecord:
    return JobRecord(
        job_id=str(uuid.uuid4()),
        account_id=account_id_for(KEY),
        kind=kind,
        input={"prompt": "a red bicycle"},
        origin="manychat",
        status=status,
        image_url=IMAGE if status == "completed" else None,
        error="no candidates" if status == "failed" else None,
    )


def target(*, send_image: bool = True, channel: str = "messenger", flow: str | None = FLOW):
    sub = push_subscriber(SUBSCRIBER, MC_KEY, flow, send_image=send_image, channel=channel)
    return Target(DeliveryRef.to_subscriber(sub.id), PUSH_KIND, None, sub.data, MC_KEY)


def ok(manychat, path: str, body: dict | None = None) -> None:
    match = [matchers.header_matcher({"Authorization": f"Bearer {MC_KEY}"})]
    if body is not None:
        match.append(matchers.json_params_matcher(body))
    manychat.post(MC + path, json={"status": "success"}, match=match)


def _paths(manychat) -> list[str]:
    return [c.request.url.removeprefix(MC) for c in manychat.calls]


def _deliver(app, record: JobRecord, to: Target):
    with app.app_context():
        get_ledger().create(record)
        return deliver_push(record, to)


@pytest.mark.parametrize("kind", ["image_generation", "campaign_render"])
def test_push_sets_the_image_fields_sends_the_image_then_the_flow(mc_app, manychat, kind):
    record = image_record(kind=kind)
    contact = int(SUBSCRIBER)
    ok(
        manychat,
        SET_FIELDS,
        {
            "subscriber_id": contact,
            "fields": [
                {"field_name": "job_id", "field_value": record.job_id},
                {"field_name": "job_status", "field_value": "completed"},
                {"field_name": "image_url", "field_value": IMAGE},
            ],
        },
    )
    caption = (
        "Here is your image." if kind == "image_generation" else "Here is your campaign visual."
    )
    ok(
        manychat,
        SEND_CONTENT,
        {
            "subscriber_id": contact,
            "data": {
                "version": "v2",
                "content": {
                    "messages": [
                        {"type": "image", "url": IMAGE, "buttons": []},
                        {"type": "text", "text": caption},
                    ],
                    "actions": [],
                    "quick_replies": [],
                },
            },
        },
    )
    ok(manychat, SEND_FLOW, {"subscriber_id": contact, "flow_ns": FLOW})

    outcome = _deliver(mc_app, record, target())

    assert outcome.result == DELIVERED, outcome.detail
    assert _paths(manychat) == [SET_FIELDS, SEND_CONTENT, SEND_FLOW]
    assert outcome.detail == "setCustomFields: ok; sendContent: ok; sendFlow: ok"


def test_the_image_is_shaped_for_the_contacts_channel(mc_app, manychat):
    ok(manychat, SET_FIELDS)
    ok(manychat, SEND_CONTENT)
    assert _deliver(mc_app, image_record(), target(channel="whatsapp", flow=None)).result == (
        DELIVERED
    )
    sent = manychat.calls[1].request
    content = json.loads(sent.body)["data"]["content"]
    assert content["type"] == "whatsapp" and "quick_replies" not in content
    assert content["messages"][0] == {"type": "image", "url": IMAGE}


def test_without_send_image_no_content_is_sent(mc_app, manychat):
    ok(manychat, SET_FIELDS)
    ok(manychat, SEND_FLOW)
    assert _deliver(mc_app, image_record(), target(send_image=False)).result == DELIVERED
    assert _paths(manychat) == [SET_FIELDS, SEND_FLOW]


def test_a_failed_job_pushes_job_status_failed_and_no_image(mc_app, manychat):
    record = image_record("failed")
    assert push_fields(record) == [
        {"field_name": "job_id", "field_value": record.job_id},
        {"field_name": "job_status", "field_value": "failed"},
    ]
    ok(manychat, SET_FIELDS, {"subscriber_id": int(SUBSCRIBER), "fields": push_fields(record)})
    ok(manychat, SEND_FLOW)
    assert _deliver(mc_app, record, target()).result == DELIVERED
    assert _paths(manychat) == [SET_FIELDS, SEND_FLOW]  # the flow can branch on job_status


def test_a_retry_after_send_flow_failed_repeats_neither_fields_nor_image(mc_app, manychat):
    record = image_record()
    ok(manychat, SET_FIELDS)
    ok(manychat, SEND_CONTENT)
    manychat.post(MC + SEND_FLOW, status=503, json={"status": "error"})
    first = _deliver(mc_app, record, target())
    manychat.replace(responses.POST, MC + SEND_FLOW, json={"status": "success"})
    with mc_app.app_context():
        second = deliver_push(record, target())
        third = deliver_push(record, target())  # e.g. a duplicate task after the success
    assert (first.result, second.result, third.result) == (RETRY, DELIVERED, DELIVERED)
    assert "sendFlow" in first.detail
    assert _paths(manychat) == [SET_FIELDS, SEND_CONTENT, SEND_FLOW, SEND_FLOW]


def test_a_retry_after_send_content_failed_sends_the_image_but_not_the_fields(mc_app, manychat):
    record = image_record()
    ok(manychat, SET_FIELDS)
    manychat.post(MC + SEND_CONTENT, status=429, headers={"Retry-After": "12"}, json={})
    ok(manychat, SEND_FLOW)
    first = _deliver(mc_app, record, target())
    manychat.replace(responses.POST, MC + SEND_CONTENT, json={"status": "success"})
    with mc_app.app_context():
        second = deliver_push(record, target())
    assert (first.result, first.retry_after) == (RETRY, 12.0)
    assert second.result == DELIVERED
    assert _paths(manychat) == [SET_FIELDS, SEND_CONTENT, SEND_CONTENT, SEND_FLOW]


def test_a_refused_send_content_fails_with_a_sanitized_detail_and_no_flow(mc_app, manychat):
    ok(manychat, SET_FIELDS)
    manychat.post(
        MC + SEND_CONTENT,
        status=400,
        json={"status": "error", "message": f"Subscriber is outside the 24h window {MC_KEY}"},
    )
    outcome = _deliver(mc_app, image_record(), target())
    assert outcome.result == FAILED
    assert outcome.detail.startswith("sendContent: HTTP 400") and MC_KEY not in outcome.detail
    assert _paths(manychat) == [SET_FIELDS, SEND_CONTENT]


def test_the_brand_push_is_unchanged_by_image_settings():
    brand = push_subscriber(SUBSCRIBER, MC_KEY, FLOW)
    image_without_sending = push_subscriber(SUBSCRIBER, MC_KEY, FLOW, channel="telegram")
    assert brand.data == {"subscriber_id": SUBSCRIBER, "flow_ns": FLOW}
    assert image_without_sending.id == brand.id  # the channel matters only for the image
    assert push_subscriber(SUBSCRIBER, MC_KEY, FLOW, send_image=True).id != brand.id


# -- the fake ManyChat's sendContent checks -------------------------------------------------


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"version": "v1", "content": {"messages": [{"type": "text", "text": "x"}]}}, "v2"),
        ({"version": "v2", "content": {"messages": []}}, "messages"),
        ({"version": "v2", "content": {"messages": [{"type": "image", "url": "ftp://x"}]}}, "url"),
        (
            {
                "version": "v2",
                "content": {
                    "type": "telegram",
                    "messages": [{"type": "text", "text": "x"}],
                    "quick_replies": [{"type": "node", "caption": "a"}],
                },
            },
            "quick replies",
        ),
        ({"version": "v2", "content": {"type": "sms", "messages": []}}, "content type"),
    ],
)
def test_the_fake_refuses_what_manychat_refuses(data, problem):
    with FakeManyChat() as fake:
        client = ManyChatClient(VALID_KEY, base_url=fake.url, timeout=5, allow_private=True)
        outcome = client.send_content("42", data)
    assert outcome.result == FAILED and problem in outcome.detail
    assert fake.calls[0].status == 400


def test_the_fake_accepts_an_image_block():
    data = {
        "version": "v2",
        "content": {
            "type": "instagram",
            "messages": [{"type": "image", "url": IMAGE, "buttons": []}],
            "actions": [],
            "quick_replies": [],
        },
    }
    with FakeManyChat() as fake:
        client = ManyChatClient(VALID_KEY, base_url=fake.url, timeout=5, allow_private=True)
        assert client.send_content("42", data).result == DELIVERED
        [call] = fake.calls_to(SEND_CONTENT, 42)
    assert call.messages() == data["content"]["messages"]
