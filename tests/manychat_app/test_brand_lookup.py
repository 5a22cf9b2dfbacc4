"""ManyChat brand lookups: by id and by domain, the caller's brands only, from the ledger."""

from __future__ import annotations

import uuid

import pytest

from manychat_app.replies import FLAT_KEYS
from tests.manychat_app.fakes import KEY_A, KEY_B, add_record, auth

BRANDS = "/manychat/v1/brands"


def test_a_brand_by_id_answers_the_flat_object(client, app, pi):
    record = add_record(app)
    response = client.get(f"{BRANDS}/{record.brand_id}", headers=auth())
    flat = response.get_json()
    assert response.status_code == 200
    assert list(flat) == list(FLAT_KEYS)
    assert flat["brand_id"] == record.brand_id and flat["brand_name"] == "Acme"
    assert flat["status"] == "completed" and flat["job_id"] == record.job_id
    assert flat["domain"] == "acme.com" and flat["image_url"] is None
    assert len(pi.calls) == 0  # the ledger answers


def test_the_latest_extraction_of_a_brand_is_answered(client, app):
    brand_id = str(uuid.uuid4())
    add_record(app, brand_id=brand_id)
    latest = add_record(app, brand_id=brand_id)
    flat = client.get(f"{BRANDS}/{brand_id}", headers=auth()).get_json()
    assert flat["job_id"] == latest.job_id


@pytest.mark.parametrize(
    "domain",
    ["acme.com", "ACME.com", "www.acme.com", "https://acme.com/about", " acme.com ", "acme.com/x"],
)
def test_a_brand_by_domain_answers_the_flat_object(client, app, pi, domain):
    add_record(app, domain="other.example")
    record = add_record(app, domain="acme.com")
    response = client.get(BRANDS, query_string={"domain": domain}, headers=auth())
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["brand_id"] == record.brand_id
    assert len(pi.calls) == 0


@pytest.mark.parametrize("channel", ["", "instagram", "whatsapp"])
def test_both_lookups_answer_a_dynamic_block_for_the_channel(client, app, channel):
    record = add_record(app)
    query = {"format": "dynamic_block", "channel": channel}
    by_id = client.get(f"{BRANDS}/{record.brand_id}", query_string=query, headers=auth())
    by_domain = client.get(BRANDS, query_string={**query, "domain": "acme.com"}, headers=auth())
    assert by_id.get_json() == by_domain.get_json()
    content = by_id.get_json()["content"]
    assert content.get("type") == (channel or None)
    assert ("quick_replies" in content) is (channel != "whatsapp")
    assert content["actions"][0] == {
        "action": "set_field_value",
        "field_name": "brand_id",
        "value": record.brand_id,
    }
    assert "Acme" in content["messages"][0]["text"]


def test_another_accounts_brand_is_404_without_its_data(client, app, pi):
    theirs = add_record(app, KEY_B, domain="theirs.example")
    for response in (
        client.get(f"{BRANDS}/{theirs.brand_id}", headers=auth(KEY_A)),
        client.get(BRANDS, query_string={"domain": "theirs.example"}, headers=auth(KEY_A)),
        client.get(f"{BRANDS}/{theirs.brand_id}?format=dynamic_block", headers=auth(KEY_A)),
    ):
        text = response.get_data(as_text=True)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "brand_not_found"
        assert theirs.brand_id not in text and theirs.job_id not in text and "Acme" not in text
    assert len(pi.calls) == 0


def test_an_unknown_brand_is_404_with_a_clear_code(client, pi):
    for response in (
        client.get(f"{BRANDS}/{uuid.uuid4()}", headers=auth()),
        client.get(BRANDS, query_string={"domain": "nobody.example"}, headers=auth()),
    ):
        error = response.get_json()["error"]
        assert response.status_code == 404
        assert error["code"] == "brand_not_found" and "extract" in error["message"]
    assert len(pi.calls) == 0


def test_a_failed_or_running_extraction_is_no_brand(client, app):
    add_record(app, status="failed", error="down", domain="down.example")
    add_record(app, status="queued", domain="running.example")
    for domain in ("down.example", "running.example"):
        response = client.get(BRANDS, query_string={"domain": domain}, headers=auth())
        assert response.status_code == 404


@pytest.mark.parametrize(
    "brand_id", ["not-a-uuid", "123", "%7B%7Bcuf_1%7D%7D", "%20", f"{uuid.uuid4()}%0A"]
)
def test_a_bad_or_unfilled_brand_id_is_400_naming_it(client, pi, brand_id):
    response = client.get(f"{BRANDS}/{brand_id}", headers=auth())
    error = response.get_json()["error"]
    assert response.status_code == 400
    assert list(error["details"]) == ["brand_id"] and "brand_id" in error["message"]
    assert len(pi.calls) == 0


@pytest.mark.parametrize(
    "query",
    [{}, {"domain": ""}, {"domain": "  "}, {"domain": "{{cuf_9}}"}, {"domain": "https://{{w}}"}],
)
def test_a_missing_blank_or_unfilled_domain_is_400_saying_to_map_it(client, pi, query):
    response = client.get(BRANDS, query_string=query, headers=auth())
    error = response.get_json()["error"]
    assert response.status_code == 400
    assert list(error["details"]) == ["domain"] and "map" in error["message"]
    assert len(pi.calls) == 0


@pytest.mark.parametrize("domain", ["not a domain", "ftp://acme.com", "javascript:alert(1)"])
def test_a_domain_that_is_no_website_is_400_naming_it(client, pi, domain):
    response = client.get(BRANDS, query_string={"domain": domain}, headers=auth())
    assert response.status_code == 400
    assert list(response.get_json()["error"]["details"]) == ["domain"]


@pytest.mark.parametrize(("query", "name"), [("format=csv", "format"), ("channel=sms", "channel")])
def test_an_unknown_format_or_channel_is_400_naming_it(client, app, query, name):
    record = add_record(app)
    for url in (f"{BRANDS}/{record.brand_id}?{query}", f"{BRANDS}?domain=acme.com&{query}"):
        response = client.get(url, headers=auth())
        assert response.status_code == 400
        assert list(response.get_json()["error"]["details"]) == [name]


def test_lookups_need_a_key(client, app):
    record = add_record(app)
    for url in (f"{BRANDS}/{record.brand_id}", f"{BRANDS}?domain=acme.com"):
        response = client.get(url)
        assert response.status_code == 401
        assert record.brand_id not in response.get_data(as_text=True)
