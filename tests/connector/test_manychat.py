"""The ManyChat endpoints: flat replies, Dynamic Blocks, placeholders, bad input and faults."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import responses
from responses import matchers

from connector import create_app
from connector.auth import account_id_for
from connector.ledger import JobRecord, get_ledger
from connector.manychat import FLAT_KEYS, MAX_TEXT
from tests.support.procs import free_port

PI = "http://pi.test/api/v1"
KEY_A = "pi_test_manychat_account_a_1"
KEY_B = "pi_test_manychat_account_b_2"
MC_KEY = "1234567:mc_unit_key_abcdef0123456789"
EXTRACT = "/manychat/v1/brands/extract"
BRAND = {
    "brand_id": None,
    "brand_name": "Acme",
    "domain": "acme.com",
    "primary_hex": "#112233",
    "secondary_hex": "#445566",
    "logo_url": "https://cdn.example.com/acme.png",
}


def auth(key: str = KEY_A) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def pi():
    """Fake Pi at the transport; an unregistered call fails the request."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _envelope(data: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    return {"id": "req_pi_1", "object": "job", "status": status, "created_at": 1, "data": data}


def pi_created(pi, job_id: str, url: str | None = None) -> None:
    match = [matchers.json_params_matcher({"url": url})] if url else []
    pi.post(
        f"{PI}/brands/extract",
        status=202,
        match=match,
        json=_envelope({"job_id": job_id}, "queued"),
    )


def pi_job(pi, job_id: str, status: str, *, brand_id: str | None = None, error: str | None = None):
    data: dict[str, Any] = {
        "id": job_id,
        "org_id": str(uuid.uuid4()),
        "type": "brand_extraction",
        "status": status,
        "payload": {"phase": status},
        "result_url": None,
        "error_log": error,
        "created_at": 1,
        "updated_at": 2,
    }
    if brand_id:
        data["payload"]["brand_id"] = brand_id
        data["result_url"] = f"brands/{brand_id}"
        brand = {k: v for k, v in BRAND.items() if k != "brand_id"}
        brand["name"] = brand.pop("brand_name")
        data["job_result"] = {
            "type": "brand",
            "id": brand_id,
            "url": f"brands/{brand_id}",
            "brand": {"id": brand_id, **brand},
        }
    pi.get(f"{PI}/jobs/{job_id}", json=_envelope(data))


def add_record(app, key: str = KEY_A, *, status: str = "completed", error: str | None = None):
    """Write a finished ManyChat job straight into the ledger."""
    record = JobRecord(
        job_id=str(uuid.uuid4()),
        account_id=account_id_for(key),
        kind="brand_extraction",
        input={"url": "https://acme.com"},
        origin="manychat",
    )
    with app.app_context():
        ledger = get_ledger()
        ledger.create(record)
        if status != "queued":
            record.status, record.error = status, error
            if status == "completed":
                record.brand_id = str(uuid.uuid4())
                record.brand = {**BRAND, "brand_id": record.brand_id}
            ledger.finish(record)
    return record


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
    }
    assert list(response.get_json()) == list(FLAT_KEYS)
    [poll] = [c.request for c in pi.calls if c.request.method == "GET"]
    assert poll.params["wait_for_completion"] == "true"
    assert 1 <= int(poll.params["timeout_seconds"]) <= 7  # Pi's long-poll cut to the budget


def test_get_job_waits_for_a_running_job_within_the_budget(app_config, pi):
    app = create_app({**app_config, "CONNECTOR_MANYCHAT_WAIT_SECONDS": 3.0})
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
    app = create_app({**app_config, "CONNECTOR_MANYCHAT_WAIT_SECONDS": 1.0})
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


def test_redis_unreachable_is_503_json_without_a_stack_trace(app_config, pi):
    app = create_app({**app_config, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    client = app.test_client()
    post = client.post(EXTRACT, json={"url": "https://acme.com"}, headers=auth())
    get = client.get(f"/manychat/v1/jobs/{uuid.uuid4()}", headers=auth())
    for response in (post, get):
        text = response.get_data(as_text=True)
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "redis_unavailable"
        assert "Traceback" not in text and "redis.exceptions" not in text
    assert len(pi.calls) == 0


def _nothing_recorded(app) -> None:
    with app.app_context():
        redis = get_ledger().redis
        keys = [k.decode() for k in redis.keys("*")]
        assert not [k for k in keys if ":job:" in k or k.endswith(":jobs") or ":idem:" in k], keys
        assert redis.zcard(get_ledger().inflight_key()) == 0


@pytest.mark.parametrize("status", [500, 502, 503])
def test_pi_5xx_on_submit_is_502_and_nothing_is_recorded(app_config, pi, status):
    app = create_app({**app_config, "PI_MAX_RETRIES": 0})
    pi.post(f"{PI}/brands/extract", status=status, json={"error": {"message": "boom"}})
    response = app.test_client().post(EXTRACT, json={"url": "https://acme.com"}, headers=auth())
    assert response.status_code == 502
    assert response.get_json()["error"]["code"]
    _nothing_recorded(app)


def test_pi_429_on_submit_is_429_with_retry_after_and_nothing_is_recorded(app_config, pi):
    app = create_app({**app_config, "PI_MAX_RETRIES": 0})
    pi.post(
        f"{PI}/brands/extract",
        status=429,
        headers={"Retry-After": "17"},
        json={"error": {"type": "rate_limit_error", "message": "slow down"}},
    )
    response = app.test_client().post(EXTRACT, json={"url": "https://acme.com"}, headers=auth())
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "17"
    _nothing_recorded(app)


def test_a_request_after_a_pi_failure_submits_again(app_config, pi):
    app = create_app({**app_config, "PI_MAX_RETRIES": 0})
    client = app.test_client()
    pi.post(f"{PI}/brands/extract", status=503, json={"error": {"message": "down"}})
    assert client.post(EXTRACT, json={"url": "https://acme.com"}, headers=auth()).status_code == 502
    pi.reset()
    job_id = str(uuid.uuid4())
    pi_created(pi, job_id)
    pi_job(pi, job_id, "completed", brand_id=str(uuid.uuid4()))
    response = client.post(EXTRACT, json={"url": "https://acme.com"}, headers=auth())
    assert response.status_code == 200 and response.get_json()["job_id"] == job_id


def test_identical_requests_map_to_one_pi_job(client, pi):
    job_id = str(uuid.uuid4())
    pi_created(pi, job_id)
    pi_job(pi, job_id, "completed", brand_id=str(uuid.uuid4()))
    answers = [
        client.post(EXTRACT, json={"url": url}, headers=auth()).get_json()["job_id"]
        for url in ("https://acme.com", "https://www.ACME.com/", "acme.com")
    ]
    assert answers == [job_id] * 3
    assert sum(1 for c in pi.calls if c.request.method == "POST") == 1
