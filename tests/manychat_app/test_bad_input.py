"""ManyChat bad input: formats, unfilled placeholders, URLs, push fields, auth."""

from __future__ import annotations

import uuid

import pytest

from connector.auth import account_id_for
from connector.ledger import get_ledger
from tests.manychat_app.fakes import (
    EXTRACT,
    KEY_A,
    MC_KEY,
    add_record,
    auth,
    pi_created,
    pi_job,
)


def test_unknown_format_is_400_naming_format(client, app):
    record = add_record(app)
    response = client.get(f"/manychat/v1/jobs/{record.job_id}?format=xml", headers=auth())
    assert response.status_code == 400
    assert "format" in response.get_json()["error"]["details"]


@pytest.mark.parametrize("url", ["{{cuf_123}}", "{{url}}", "https://{{cuf_9}}.com", "", "  "])
def test_unfilled_or_blank_url_is_400_saying_to_map_url(client, pi, url):
    response = client.post(EXTRACT, json={"url": url}, headers=auth())
    error = response.get_json()["error"]
    assert response.status_code == 400
    assert "url" in error["details"]
    assert "url" in error["message"] and "map" in error["message"]
    assert len(pi.calls) == 0


def test_missing_url_is_400_saying_to_map_url(client, pi):
    response = client.post(EXTRACT, json={"subscriber_id": "{{user_id}}"}, headers=auth())
    assert response.status_code == 400
    assert list(response.get_json()["error"]["details"]) == ["url"]
    assert len(pi.calls) == 0


@pytest.mark.parametrize(
    "url", ["ftp://acme.com", "javascript:alert(1)", "file:///etc/passwd", "mailto:a@acme.com"]
)
def test_non_http_url_is_400_naming_url(client, pi, url):
    response = client.post(EXTRACT, json={"url": url}, headers=auth())
    assert response.status_code == 400
    assert list(response.get_json()["error"]["details"]) == ["url"]
    assert len(pi.calls) == 0


@pytest.mark.parametrize("data", [b"{not json", b"[1, 2]", b'"https://acme.com"'])
def test_malformed_or_non_object_json_is_400(client, pi, data):
    response = client.post(
        EXTRACT, data=data, headers={**auth(), "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_json"


def test_unknown_keys_from_manychat_are_ignored(client, pi):
    job_id = str(uuid.uuid4())
    pi_created(pi, job_id, url="https://acme.com")
    pi_job(pi, job_id, "completed", brand_id=str(uuid.uuid4()))
    body = {"url": "https://acme.com", "first_name": "Ann", "cuf_42": 7, "page": {"id": 1}}
    response = client.post(EXTRACT, json=body, headers=auth())
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        ({"manychat_api_key": MC_KEY}, "subscriber_id"),
        ({"manychat_api_key": MC_KEY, "subscriber_id": "{{user_id}}"}, "subscriber_id"),
        ({"subscriber_id": "12345"}, "manychat_api_key"),
        ({"subscriber_id": 12345, "manychat_api_key": "{{cuf_1}}"}, "manychat_api_key"),
    ],
)
def test_push_needs_both_key_and_subscriber(client, pi, body, missing):
    response = client.post(EXTRACT, json={"url": "https://acme.com", **body}, headers=auth())
    error = response.get_json()["error"]
    assert response.status_code == 400
    assert list(error["details"]) == [missing]
    assert missing in error["message"]
    assert MC_KEY not in response.get_data(as_text=True)  # the key is never echoed
    assert len(pi.calls) == 0


def test_flow_without_push_settings_is_400(client, pi):
    response = client.post(
        EXTRACT, json={"url": "https://acme.com", "flow_ns": "content2024"}, headers=auth()
    )
    assert response.status_code == 400
    assert set(response.get_json()["error"]["details"]) == {"manychat_api_key", "subscriber_id"}


def test_all_push_fields_unfilled_means_no_push(client, app, pi):
    job_id = str(uuid.uuid4())
    pi_created(pi, job_id)
    pi_job(pi, job_id, "completed", brand_id=str(uuid.uuid4()))
    body = {
        "url": "https://acme.com",
        "subscriber_id": "{{user_id}}",
        "manychat_api_key": "{{cuf_1}}",
        "flow_ns": "{{cuf_2}}",
    }
    assert client.post(EXTRACT, json=body, headers=auth()).status_code == 200
    with app.app_context():
        subs_key = get_ledger().account_key(account_id_for(KEY_A), "job", job_id, "subs")
        assert get_ledger().redis.hlen(subs_key) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("subscriber_id", "abc"), ("manychat_api_key", "has space key"), ("flow_ns", "a b")],
)
def test_invalid_push_fields_are_400_naming_the_field(client, pi, field, value):
    body = {
        "url": "https://acme.com",
        "subscriber_id": "1",
        "manychat_api_key": MC_KEY,
        field: value,
    }
    response = client.post(EXTRACT, json=body, headers=auth())
    assert response.status_code == 400
    assert list(response.get_json()["error"]["details"]) == [field]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer ä"},
    ],
)
def test_missing_or_garbled_auth_is_401_on_both_endpoints(client, pi, headers):
    post = client.post(EXTRACT, json={"url": "https://acme.com"}, headers=headers)
    get = client.get(f"/manychat/v1/jobs/{uuid.uuid4()}", headers=headers)
    for response in (post, get):
        assert response.status_code == 401
        assert response.get_json()["error"]["code"]
    assert len(pi.calls) == 0
