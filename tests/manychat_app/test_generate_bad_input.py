"""Bad input on the image and campaign endpoints: one error envelope, a 4xx, nothing sent to Pi."""

from __future__ import annotations

import uuid

import pytest

from connector.pi.validation import MAX_PROMPT_CHARS
from tests.manychat_app.fakes import (
    GENERATE,
    IMAGE_URL,
    MC_KEY,
    RENDER,
    auth,
    pi_generation_created,
    pi_generation_job,
)

ENDPOINTS = [GENERATE, RENDER]
BRAND = str(uuid.uuid4())


def _refused(response, status: int = 400) -> dict:
    """Assert the one error envelope with the status; return its inside."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"}
    assert {"code", "message"} <= set(body["error"])
    return body["error"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("data", [b"{not json", b"[1, 2]", b'"a cat"', b"null", b"\xff\xfe"])
def test_malformed_or_non_object_json_is_400(client, pi, endpoint, data):
    response = client.post(
        endpoint, data=data, headers={**auth(), "Content-Type": "application/json"}
    )
    assert _refused(response)["code"] == "invalid_json"
    assert len(pi.calls) == 0


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    "prompt", [None, "", "   ", "{{cuf_7}}", "Draw {{first_name}}'s shop", "\u3000\n"]
)
def test_a_missing_blank_or_unfilled_prompt_is_400_saying_to_map_it(client, pi, endpoint, prompt):
    body = {} if prompt is None else {"prompt": prompt}
    error = _refused(client.post(endpoint, json=body, headers=auth()))
    assert list(error["details"]) == ["prompt"]
    assert "prompt" in error["message"] and "map" in error["message"]
    assert len(pi.calls) == 0


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_prompt_longer_than_pis_limit_is_400(client, pi, endpoint):
    body = {"prompt": "x" * (MAX_PROMPT_CHARS + 1)}
    error = _refused(client.post(endpoint, json=body, headers=auth()))
    assert list(error["details"]) == ["prompt"] and str(MAX_PROMPT_CHARS) in error["message"]
    assert len(pi.calls) == 0


def test_a_prompt_at_pis_limit_is_sent(client, pi):
    job_id, prompt = str(uuid.uuid4()), "y" * MAX_PROMPT_CHARS
    pi_generation_created(pi, "image_generation", job_id, {"prompt": prompt})
    pi_generation_job(pi, "image_generation", job_id, "completed", image_url=IMAGE_URL)
    assert client.post(GENERATE, json={"prompt": prompt}, headers=auth()).status_code == 200


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("prompt", 42),
        ("prompt", ["a cat"]),
        ("prompt", {"text": "a cat"}),
        ("brand_id", "not-a-uuid"),
        ("brand_id", 12345),
        ("brand_id", f"{BRAND}\n"),
        ("brand_id", f" {BRAND}"),
        ("aspect_ratio", "7:3"),
        ("aspect_ratio", 1.5),
        ("resolution", "8K"),
        ("resolution", 1024),
        ("resolution", True),
        ("send_image", "maybe"),
        ("send_image", 2),
        ("send_image", ["true"]),
    ],
)
def test_a_wrong_value_or_type_is_400_naming_the_field(client, pi, endpoint, field, value):
    body = {"prompt": "a cat", field: value}
    if field == "send_image":
        body.update(subscriber_id="1", manychat_api_key=MC_KEY)
    error = _refused(client.post(endpoint, json=body, headers=auth()))
    assert list(error["details"]) == [field]
    assert MC_KEY not in str(error)
    assert len(pi.calls) == 0


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        ({"send_image": True}, {"manychat_api_key", "subscriber_id"}),
        ({"send_image": "yes", "flow_ns": "f"}, {"manychat_api_key", "subscriber_id"}),
        ({"manychat_api_key": MC_KEY}, {"subscriber_id"}),
        ({"subscriber_id": 7}, {"manychat_api_key"}),
    ],
)
def test_push_settings_go_together(client, pi, body, missing):
    error = _refused(client.post(GENERATE, json={"prompt": "a", **body}, headers=auth()))
    assert set(error["details"]) == missing
    assert len(pi.calls) == 0


@pytest.mark.parametrize("value", [False, "false", "no", "0", 0, "{{cuf_3}}", "", None])
def test_send_image_off_or_unfilled_needs_no_push_settings(client, pi, value):
    job_id = str(uuid.uuid4())
    pi_generation_created(pi, "image_generation", job_id)
    pi_generation_job(pi, "image_generation", job_id, "completed", image_url=IMAGE_URL)
    body = {"prompt": "a", "send_image": value}
    assert client.post(GENERATE, json=body, headers=auth()).status_code == 200


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    ("query", "name"),
    [("format=xml", "format"), ("channel=sms", "channel"), ("channel=WhatsApp", "channel")],
)
def test_an_unknown_format_or_channel_is_400_naming_it(client, pi, endpoint, query, name):
    error = _refused(client.post(f"{endpoint}?{query}", json={"prompt": "a"}, headers=auth()))
    assert list(error["details"]) == [name]
    assert len(pi.calls) == 0


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic x"}])
def test_missing_or_garbled_auth_is_401(client, pi, endpoint, headers):
    response = client.post(endpoint, json={"prompt": "a"}, headers=headers)
    assert _refused(response, 401)["code"]
    assert len(pi.calls) == 0


def test_pi_refusing_the_key_on_the_brand_check_is_401(client, pi):
    pi.get(
        f"http://pi.test/api/v1/brands/{BRAND}",
        status=401,
        json={"error": {"type": "authentication_error", "message": "bad key"}},
    )
    response = client.post(GENERATE, json={"prompt": "a", "brand_id": BRAND}, headers=auth())
    assert _refused(response, 401)["code"] == "invalid_api_key"
    assert [c.request.method for c in pi.calls] == ["GET"]
