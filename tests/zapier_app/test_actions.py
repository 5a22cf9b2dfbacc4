"""Auth test, actions (submit + short wait or callback), and bad input that never reaches Pi."""

from __future__ import annotations

import re
import uuid

import pytest
import responses
from responses import matchers

from connector.auth import account_id_for
from connector.ledger import get_ledger
from tests.support.settings import replace_settings
from tests.zapier_app.helpers import KEY_A, PI, auth, pi_job


@pytest.fixture
def pi():
    """Fake Pi at the transport; any unregistered call fails the request."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _created(pi, path: str, job_id: str, body: dict | None = None) -> None:
    match = [matchers.json_params_matcher(body)] if body is not None else []
    pi.post(
        f"{PI}{path}",
        status=202,
        match=match,
        json={
            "id": "req_pi_1",
            "object": "job",
            "status": "queued",
            "created_at": 1,
            "data": {"job_id": job_id},
        },
    )


def test_me_checks_the_key_against_pi_and_labels_without_the_key(client, pi):
    pi.get(
        f"{PI}/brands",
        match=[matchers.header_matcher({"Authorization": f"Bearer {KEY_A}"})],
        json={
            "id": "r",
            "object": "list",
            "status": "completed",
            "created_at": 1,
            "data": {"data": [], "total_count": 0, "has_more": False},
        },
    )
    response = client.get("/zapier/v1/me", headers=auth())
    assert response.status_code == 200
    body = response.get_json()
    account_id = account_id_for(KEY_A)
    assert body == {"account_id": account_id, "label": f"Pi account …{account_id[-4:]}"}
    assert KEY_A not in response.get_data(as_text=True)
    assert KEY_A[-4:] not in body["label"]
    assert len(pi.calls) == 1
    # A trailing slash is served too, never redirected.
    assert client.get("/zapier/v1/me/", headers=auth()).status_code == 200


def test_me_is_401_when_pi_rejects_the_key(client, pi):
    pi.get(
        f"{PI}/brands",
        status=401,
        json={
            "error": {
                "type": "authentication_error",
                "code": "unkey_not_found",
                "message": "bad key",
                "request_id": "req_pi_x",
            }
        },
    )
    response = client.get("/zapier/v1/me", headers=auth())
    assert response.status_code == 401
    assert response.get_json()["error"]["message"]


def test_me_without_a_key_is_401_without_asking_pi(client, pi):
    assert client.get("/zapier/v1/me").status_code == 401
    assert len(pi.calls) == 0


def test_extract_brand_waits_and_returns_the_finished_object(client, pi):
    job_id, brand_id = str(uuid.uuid4()), str(uuid.uuid4())
    _created(pi, "/brands/extract", job_id, {"url": "https://acme.com"})
    pi.get(
        re.compile(rf"{PI}/jobs/{job_id}.*"), json=pi_job(job_id, "completed", brand_id=brand_id)
    )

    # A bare domain is read as https://acme.com.
    response = client.post(
        "/zapier/v1/actions/extract_brand", headers=auth(), json={"url": "acme.com"}
    )

    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == body["job_id"] == job_id
    assert body["status"] == "completed" and body["kind"] == "brand_extraction"
    assert body["brand_id"] == brand_id and body["brand_name"] == "Acme"
    assert body["primary_hex"] == "#000000" and body["finished_at"]


def test_action_answers_current_state_when_the_budget_runs_out(app, client, pi):
    replace_settings(app, zapier_wait_seconds=0)  # no time left: no wait at all
    job_id = str(uuid.uuid4())
    _created(pi, "/images/generations", job_id)
    response = client.post(
        "/zapier/v1/actions/generate_image",
        headers=auth(),
        json={
            "prompt": "a red bicycle",
            "aspect_ratio": "16:9",
            "resolution": 512,
            "thinking_intensity": "high",
            "reference_images": ["https://cdn.example.com/r.png", ""],
        },
    )
    body = response.get_json()
    assert response.status_code == 200
    assert (body["status"], body["job_id"], body["image_url"]) == ("queued", job_id, None)
    sent = pi.calls[0].request
    assert b'"aspect_ratio": "16:9"' in sent.body and b'"resolution": "512"' in sent.body
    assert len(pi.calls) == 1  # no wait was attempted


def test_action_retry_reuses_the_job(app, client, pi):
    replace_settings(app, zapier_wait_seconds=0)
    job_id = str(uuid.uuid4())
    _created(pi, "/brands/extract", job_id)
    first = client.post(
        "/zapier/v1/actions/extract_brand", headers=auth(), json={"url": "https://acme.com"}
    ).get_json()
    again = client.post(
        "/zapier/v1/actions/extract_brand", headers=auth(), json={"url": "https://www.acme.com/"}
    ).get_json()
    assert first["job_id"] == again["job_id"] == job_id
    assert len([c for c in pi.calls if c.request.method == "POST"]) == 1


def test_action_with_callback_answers_at_once_and_registers_the_callback(app, client, pi):
    job_id = str(uuid.uuid4())
    _created(pi, "/campaigns/generate", job_id)
    response = client.post(
        "/zapier/v1/actions/render_campaign",
        headers=auth(),
        json={
            "prompt": "summer sale",
            "brand_id": str(uuid.uuid4()),
            "callback_url": "https://hooks.zapier.com/hooks/standard/1/abc",
        },
    )
    assert response.status_code == 200
    assert response.get_json()["status"] == "queued"
    assert len(pi.calls) == 1  # submitted, not waited on
    with app.app_context():
        subs = app.extensions["subscriptions"]
        record = get_ledger().get(account_id_for(KEY_A), job_id)
        [ref] = subs.targets(record)
        sub = subs.get(record.account_id, job_id, ref.subscriber_id)
    assert (sub.kind, sub.target) == (
        "zapier_callback",
        "https://hooks.zapier.com/hooks/standard/1/abc",
    )


@pytest.mark.parametrize(
    "callback_url",
    [
        "http://hooks.zapier.com/hooks/1",
        "https://127.0.0.1/cb",
        "https://10.1.2.3/cb",
        "ftp://x.com/a",
    ],
)
def test_callback_url_must_be_public_https_outside_the_dev_allowance(app, client, pi, callback_url):
    replace_settings(app, allow_private_targets=False)
    response = client.post(
        "/zapier/v1/actions/extract_brand",
        headers=auth(),
        json={"url": "https://acme.com", "callback_url": callback_url},
    )
    assert response.status_code == 400
    assert "callback_url" in response.get_json()["error"]["details"]
    assert len(pi.calls) == 0


BAD_INPUT = [
    ("extract_brand", {"url": "not a url"}, "url"),
    ("extract_brand", {"url": "javascript:alert(1)"}, "url"),
    ("extract_brand", {"url": "ftp://acme.com"}, "url"),
    ("extract_brand", {}, "url"),
    ("generate_image", {"prompt": "x" * 5001}, "prompt"),
    ("generate_image", {}, "prompt"),
    (
        "render_campaign",
        {"prompt": "ok", "reference_images": ["https://e.com/i.png"] * 7},
        "reference_images",
    ),
    ("generate_image", {"prompt": "ok", "aspect_ratio": "7:3"}, "aspect_ratio"),
    ("generate_image", {"prompt": "ok", "resolution": "8K"}, "resolution"),
    ("render_campaign", {"prompt": "ok", "thinking_intensity": "max"}, "thinking_intensity"),
    ("render_campaign", {"prompt": "ok", "brand_id": "acme"}, "brand_id"),
    (
        "generate_image",
        {"prompt": "ok", "reference_images": ["ftp://e.com/i.png"]},
        "reference_images[0]",
    ),
]


@pytest.mark.parametrize(("action", "body", "field"), BAD_INPUT)
def test_bad_input_is_400_naming_the_field_before_any_pi_call(client, pi, action, body, field):
    response = client.post(f"/zapier/v1/actions/{action}", headers=auth(), json=body)
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert field in error["details"], error
    assert field.split("[")[0] in error["message"]
    assert len(pi.calls) == 0


def test_prompt_of_exactly_the_limit_is_accepted(app, client, pi):
    replace_settings(app, zapier_wait_seconds=0)
    _created(pi, "/images/generations", str(uuid.uuid4()))
    response = client.post(
        "/zapier/v1/actions/generate_image",
        headers=auth(),
        json={"prompt": "x" * 5000, "reference_images": ["https://e.com/i.png"] * 6},
    )
    assert response.status_code == 200


def test_action_without_a_key_is_401_and_pi_is_not_called(client, pi):
    response = client.post("/zapier/v1/actions/extract_brand", json={"url": "https://acme.com"})
    assert response.status_code == 401
    assert len(pi.calls) == 0


def test_action_is_401_when_pi_rejects_the_key(client, pi):
    pi.post(
        f"{PI}/brands/extract",
        status=401,
        json={
            "error": {
                "type": "authentication_error",
                "code": "unkey_not_found",
                "message": "no",
                "request_id": "r",
            }
        },
    )
    response = client.post(
        "/zapier/v1/actions/extract_brand", headers=auth(), json={"url": "https://acme.com"}
    )
    assert response.status_code == 401


def test_pi_rate_limit_is_a_429_with_integer_retry_after(client, pi):
    pi.post(
        f"{PI}/brands/extract",
        status=429,
        headers={"Retry-After": "7"},
        json={
            "error": {
                "type": "rate_limit_error",
                "code": "unkey_rate_limited",
                "message": "slow down",
                "request_id": "r",
            }
        },
    )
    response = client.post(
        "/zapier/v1/actions/extract_brand", headers=auth(), json={"url": "https://acme.com"}
    )
    assert response.status_code == 429
    assert response.headers["Retry-After"].isdigit()


def test_unknown_action_is_404(client):
    assert client.post("/zapier/v1/actions/make_coffee", headers=auth(), json={}).status_code == 404


def test_body_that_is_not_a_json_object_is_400(client, pi):
    response = client.post(
        "/zapier/v1/actions/extract_brand",
        headers=auth(),
        data="[1]",
        content_type="application/json",
    )
    assert response.status_code == 400
    assert len(pi.calls) == 0
