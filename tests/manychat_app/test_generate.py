"""ManyChat image and campaign jobs: submit once, the flat reply with image_url, Dynamic Blocks."""

from __future__ import annotations

import uuid

import pytest

from connector import create_app
from connector.auth import account_id_for
from connector.ledger import get_ledger
from manychat_app.deliveries import push_subscriber
from manychat_app.replies import FLAT_KEYS
from tests.manychat_app.fakes import (
    GENERATE,
    GENERATION_ROUTES,
    IMAGE_URL,
    KEY_A,
    MC_KEY,
    RENDER,
    add_record,
    auth,
    pi_brand,
    pi_generation_created,
    pi_generation_job,
)

KINDS = sorted(GENERATION_ROUTES)


@pytest.fixture
def short_app(app_config):
    """An app whose ManyChat budget ends before a running job could finish."""
    return create_app({**app_config, "CONNECTOR_MANYCHAT_WAIT_SECONDS": 2.0})


def _creates(pi) -> list:
    return [c.request for c in pi.calls if c.request.method == "POST"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_completed_job_answers_the_flat_object_with_its_image_url(client, app, pi, kind):
    endpoint = GENERATION_ROUTES[kind][0]
    brand = add_record(app)  # a brand of the caller's: no need to ask Pi about it
    job_id = str(uuid.uuid4())
    pi_generation_created(
        pi,
        kind,
        job_id,
        {
            "prompt": "A red bicycle",
            "brand_id": brand.brand_id,
            "output": {"aspect_ratio": "4:5", "resolution": "2K"},
        },
    )
    pi_generation_job(pi, kind, job_id, "completed", image_url=IMAGE_URL)
    body = {
        "prompt": "A red bicycle",
        "brand_id": brand.brand_id,
        "aspect_ratio": "4:5",
        "resolution": "2K",
    }

    response = client.post(endpoint, json=body, headers=auth())

    assert response.status_code == 200, response.get_json()
    flat = response.get_json()
    assert list(flat) == list(FLAT_KEYS)
    assert flat["status"] == "completed" and flat["job_id"] == job_id
    assert flat["image_url"] == IMAGE_URL
    assert flat["brand_id"] == brand.brand_id  # the brand the image was made for
    assert flat["error"] is None and flat["brand_name"] is None
    assert len(_creates(pi)) == 1
    with app.app_context():
        record = get_ledger().get(account_id_for(KEY_A), job_id)
    assert record.kind == kind and record.origin == "manychat"


def test_a_running_job_answers_every_key_with_its_status(short_app, pi):
    job_id = str(uuid.uuid4())
    pi_generation_created(pi, "image_generation", job_id)
    pi_generation_job(pi, "image_generation", job_id, "processing")

    response = short_app.test_client().post(GENERATE, json={"prompt": "a cat"}, headers=auth())

    flat = response.get_json()
    assert response.status_code == 200
    assert list(flat) == list(FLAT_KEYS)
    assert flat["status"] == "processing" and flat["job_id"] == job_id
    assert {k for k, v in flat.items() if v is None} == set(FLAT_KEYS) - {"status", "job_id"}


def test_the_wait_is_cut_to_the_manychat_budget(app_config, pi):
    app = create_app({**app_config, "CONNECTOR_MANYCHAT_WAIT_SECONDS": 4.0})
    job_id = str(uuid.uuid4())
    pi_generation_created(pi, "campaign_render", job_id)
    pi_generation_job(pi, "campaign_render", job_id, "completed", image_url=IMAGE_URL)

    body = app.test_client().post(RENDER, json={"prompt": "summer sale"}, headers=auth()).json

    assert body["image_url"] == IMAGE_URL
    [poll] = [c.request for c in pi.calls if c.request.method == "GET"]
    assert poll.params["wait_for_completion"] == "true"
    assert 1 <= int(poll.params["timeout_seconds"]) <= 3


def test_get_job_waits_for_a_running_image_and_answers_its_url(app_config, pi):
    app = create_app({**app_config, "CONNECTOR_MANYCHAT_WAIT_SECONDS": 4.0})
    record = add_record(app, kind="image_generation", status="queued")
    pi_generation_job(pi, "image_generation", record.job_id, "completed", image_url=IMAGE_URL)

    flat = app.test_client().get(f"/manychat/v1/jobs/{record.job_id}", headers=auth()).json

    assert flat["status"] == "completed" and flat["image_url"] == IMAGE_URL
    assert list(flat) == list(FLAT_KEYS)
    [poll] = [c.request for c in pi.calls]
    assert poll.params["wait_for_completion"] == "true"


def test_a_double_tap_creates_one_pi_job(client, pi):
    job_id = str(uuid.uuid4())
    pi_generation_created(pi, "image_generation", job_id)
    pi_generation_job(pi, "image_generation", job_id, "completed", image_url=IMAGE_URL)
    answers = [
        client.post(GENERATE, json={"prompt": "a cat", "resolution": 512}, headers=auth()).json
        for _ in range(3)
    ]
    assert [a["job_id"] for a in answers] == [job_id] * 3
    assert len(_creates(pi)) == 1


def test_a_failed_job_answers_its_error(client, pi):
    job_id = str(uuid.uuid4())
    pi_generation_created(pi, "image_generation", job_id)
    pi_generation_job(pi, "image_generation", job_id, "failed", error="no candidates")
    flat = client.post(GENERATE, json={"prompt": "a cat"}, headers=auth()).json
    assert flat["status"] == "failed" and flat["image_url"] is None
    assert flat["error"] == "no candidates"


# -- the brand an image is made for -------------------------------------------------------


def test_a_brand_unknown_to_the_ledger_and_to_pi_is_404_and_nothing_is_made(client, pi):
    brand_id = str(uuid.uuid4())
    pi_brand(pi, brand_id, found=False)
    response = client.post(GENERATE, json={"prompt": "a cat", "brand_id": brand_id}, headers=auth())
    assert response.status_code == 404
    error = response.get_json()["error"]
    assert error["code"] == "brand_not_found" and "brand_id" in error["details"]
    assert _creates(pi) == []


def test_another_accounts_brand_is_404(client, app, pi):
    theirs = add_record(app, "pi_test_manychat_account_b_2")
    pi_brand(pi, theirs.brand_id, found=False)  # Pi scopes brands per org too
    response = client.post(
        RENDER, json={"prompt": "x", "brand_id": theirs.brand_id}, headers=auth()
    )
    assert response.status_code == 404 and _creates(pi) == []


def test_a_brand_pi_knows_is_used_when_the_ledger_does_not_know_it(client, pi):
    brand_id, job_id = str(uuid.uuid4()), str(uuid.uuid4())
    pi_brand(pi, brand_id)
    pi_generation_created(pi, "image_generation", job_id, {"prompt": "a", "brand_id": brand_id})
    pi_generation_job(pi, "image_generation", job_id, "completed", image_url=IMAGE_URL)
    response = client.post(GENERATE, json={"prompt": "a", "brand_id": brand_id}, headers=auth())
    assert response.status_code == 200 and response.json["brand_id"] == brand_id


def test_a_pi_that_cannot_answer_the_brand_check_leaves_the_verdict_to_the_create(app_config, pi):
    app = create_app({**app_config, "PI_MAX_RETRIES": 0})
    brand_id, job_id = str(uuid.uuid4()), str(uuid.uuid4())
    pi.get(f"http://pi.test/api/v1/brands/{brand_id}", status=503, json={"error": {}})
    pi_generation_created(pi, "image_generation", job_id)
    pi_generation_job(pi, "image_generation", job_id, "completed", image_url=IMAGE_URL)
    body = {"prompt": "a", "brand_id": brand_id}
    response = app.test_client().post(GENERATE, json=body, headers=auth())
    assert response.status_code == 200 and len(_creates(pi)) == 1


# -- Dynamic Blocks -----------------------------------------------------------------------


def test_dynamic_block_of_a_finished_image_shows_it_and_sets_its_fields(client, app):
    record = add_record(app, kind="image_generation")
    block = client.get(
        f"/manychat/v1/jobs/{record.job_id}?format=dynamic_block", headers=auth()
    ).json
    content = block["content"]
    assert block["version"] == "v2" and "type" not in content  # Messenger
    image, caption = content["messages"]
    assert image == {"type": "image", "url": IMAGE_URL, "buttons": []}
    assert caption["type"] == "text" and "image" in caption["text"]
    assert content["actions"] == [
        {"action": "set_field_value", "field_name": "job_id", "value": record.job_id},
        {"action": "set_field_value", "field_name": "job_status", "value": "completed"},
        {"action": "set_field_value", "field_name": "image_url", "value": IMAGE_URL},
    ]
    assert content["quick_replies"] == []


def test_dynamic_block_of_a_running_image_says_it_is_on_its_way(short_app, pi):
    job_id = str(uuid.uuid4())
    pi_generation_created(pi, "campaign_render", job_id)
    pi_generation_job(pi, "campaign_render", job_id, "processing")
    block = (
        short_app.test_client()
        .post(RENDER + "?format=dynamic_block", json={"prompt": "sale"}, headers=auth())
        .json
    )
    [message] = block["content"]["messages"]
    assert message["type"] == "text" and "on its way" in message["text"]
    assert [a["field_name"] for a in block["content"]["actions"]] == ["job_id", "job_status"]


def test_dynamic_block_of_a_failed_image_says_why_within_the_caps(client, app):
    record = add_record(app, kind="image_generation", status="failed", error="e" * 4000)
    block = client.get(
        f"/manychat/v1/jobs/{record.job_id}?format=dynamic_block", headers=auth()
    ).json
    [message] = block["content"]["messages"]
    assert message["text"].startswith("Sorry") and len(message["text"]) <= 320
    assert block["content"]["actions"][1]["value"] == "failed"


@pytest.mark.parametrize(
    ("channel", "quick_replies", "buttons"),
    [("instagram", True, True), ("whatsapp", False, False), ("telegram", False, False)],
)
def test_a_channel_sets_the_content_type_and_leaves_out_what_it_lacks(
    client, app, channel, quick_replies, buttons
):
    record = add_record(app, kind="image_generation")
    url = f"/manychat/v1/jobs/{record.job_id}?format=dynamic_block&channel={channel}"
    content = client.get(url, headers=auth()).json["content"]
    assert content["type"] == channel
    assert ("quick_replies" in content) is quick_replies
    assert ("buttons" in content["messages"][0]) is buttons
    assert content["messages"][0]["url"] == IMAGE_URL


def test_messenger_is_the_default_channel(client, app):
    record = add_record(app, kind="image_generation")
    url = f"/manychat/v1/jobs/{record.job_id}?format=dynamic_block"
    assert (
        client.get(url, headers=auth()).json
        == client.get(url + "&channel=messenger", headers=auth()).json
    )


def test_the_channel_applies_to_brand_blocks_too(client, app):
    record = add_record(app)
    url = f"/manychat/v1/jobs/{record.job_id}?format=dynamic_block&channel=whatsapp"
    content = client.get(url, headers=auth()).json["content"]
    assert content["type"] == "whatsapp" and "quick_replies" not in content
    assert [a["field_name"] for a in content["actions"]][0] == "brand_id"


def test_the_flat_reply_ignores_the_channel(client, app):
    record = add_record(app, kind="campaign_render")
    url = f"/manychat/v1/jobs/{record.job_id}?channel=telegram"
    flat = client.get(url, headers=auth()).json
    assert list(flat) == list(FLAT_KEYS) and flat["image_url"] == IMAGE_URL


# -- push settings ------------------------------------------------------------------------


def test_push_settings_store_a_subscriber_that_sends_the_image_for_the_channel(short_app, pi):
    job_id = str(uuid.uuid4())
    pi_generation_created(pi, "image_generation", job_id)
    pi_generation_job(pi, "image_generation", job_id, "processing")
    body = {
        "prompt": "a cat",
        "subscriber_id": 42,
        "manychat_api_key": MC_KEY,
        "flow_ns": "content_image_done",
        "send_image": "true",
    }
    client = short_app.test_client()
    assert (
        client.post(GENERATE + "?channel=instagram", json=body, headers=auth()).status_code == 200
    )
    expected = push_subscriber(
        "42", MC_KEY, "content_image_done", send_image=True, channel="instagram"
    )
    with short_app.app_context():
        subs = short_app.extensions["subscriptions"]
        stored = subs.get(account_id_for(KEY_A), job_id, expected.id)
    assert stored is not None and stored.secret == MC_KEY
    assert stored.data == {
        "subscriber_id": "42",
        "flow_ns": "content_image_done",
        "send_image": True,
        "channel": "instagram",
    }
