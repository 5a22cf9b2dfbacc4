"""Auth, envelopes, routing and body validation, as Pi answers them."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.connector.pisim.helpers import PiHttp, assert_error


def test_missing_authorization_is_401_with_request_id_header(anon):
    response = anon.get("/brands")
    assert_error(response, 401, "missing_authorization_header", "invalid_request_error")


@pytest.mark.parametrize(
    ("header", "code", "type_"),
    [
        ("bearer pi_test_x", "invalid_authorization_scheme", "invalid_request_error"),
        ("Basic abc", "invalid_authorization_scheme", "invalid_request_error"),
        ("Bearer    ", "missing_bearer_token", "invalid_request_error"),
        ("Bearer sk_live_abc", "unkey_not_found", "authentication_error"),
    ],
)
def test_bad_authorization_gets_pi_auth_errors(anon, header, code, type_):
    response = anon.get("/brands", headers={"Authorization": header})
    assert_error(response, 401, code, type_)


def test_token_is_trimmed_and_each_key_is_its_own_org(pisim):
    padded = PiHttp(pisim.base_url, None)
    padded.session.headers["Authorization"] = "Bearer   pi_test_trim  "
    job_id = padded.extract()
    assert PiHttp(pisim.base_url, "pi_test_trim").job(job_id).status_code == 200
    assert PiHttp(pisim.base_url, "pi_test_other").job(job_id).status_code == 404


def test_create_is_202_queued_envelope(pi):
    response = pi.post("/brands/extract", json={"url": "https://acme.com"})
    assert response.status_code == 202
    body = response.json()
    assert body["object"] == "job"
    assert body["status"] == "queued"
    assert isinstance(body["created_at"], int)
    assert body["id"] == response.headers["X-Request-Id"]
    assert uuid.UUID(body["data"]["job_id"])


def test_unknown_route_is_404_envelope_and_wrong_method_is_405(pi):
    assert_error(pi.get("/nope"), 404, "route_not_found")
    response = pi.get("/brands/extract")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "POST"


def test_bad_json_is_400_invalid_json_body(pi):
    response = pi.post("/brands/extract", data=b"{not json", headers={"Content-Type": "x"})
    assert_error(response, 400, "invalid_json_body")


@pytest.mark.parametrize(
    "body",
    [{}, {"imagesBase64": []}, {"url": "not a url"}, {"url": 5}, {"logoBase64": ""}, []],
)
def test_brand_body_needs_a_valid_source_and_sends_only_a_message(pi, body):
    error = assert_error(pi.post("/brands/extract", json=body), 400, "invalid_request_body")
    assert error["message"]
    assert "issues" not in error and "param" not in error


def test_brand_extract_accepts_images_only_and_ignores_unknown_keys(pi):
    pi.create("/brands/extract", {"imagesBase64": ["aGVsbG8="], "colour": "red"})


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x" * 5001}, "prompt"),
        ({"prompt": "p", "reference_images": ["https://a.example/i.png"] * 7}, "reference_images"),
        ({"prompt": "p", "brand_id": "nope"}, "brand_id"),
        ({"prompt": "p", "output": {"aspect_ratio": "7:5"}}, "output.aspect_ratio"),
        ({"prompt": "p", "output": {"resolution": "8K"}}, "output.resolution"),
        ({"prompt": "p", "output": {"thinking_intensity": "max"}}, "output.thinking_intensity"),
        ({"prompt": "p", "client_reference_id": "x" * 201}, "client_reference_id"),
        ({"prompt": "p", "metadata": {str(i): "v" for i in range(17)}}, "metadata"),
        ({"prompt": "p", "metadata": {"k": "v" * 501}}, "metadata.k"),
    ],
)
@pytest.mark.parametrize("path", ["/images/generations", "/campaigns/generate"])
def test_generation_body_errors_carry_param_and_issues(pi, path, body, param):
    error = assert_error(pi.post(path, json=body), 400, "invalid_request_body")
    assert error["param"] == param
    assert error["issues"][0]["path"] == param.split(".")


@pytest.mark.parametrize(
    "path", ["/images/generations", "/ads/generate", "/campaigns/generate", "/images/campaigns"]
)
def test_every_create_alias_accepts_a_full_body(pi, path):
    body = {
        "prompt": "  a red shoe  ",
        "reference_images": ["https://a.example/1.png", "data:image/png;base64,aGk="],
        "brand_id": str(uuid.uuid4()),
        "brand_identity_json": {"tone": "bold"},
        "output": {"aspect_ratio": "4:5", "resolution": "2K", "thinking_intensity": "high"},
        "client_reference_id": "order-1",
        "metadata": {"k": "v"},
        "unknown": True,
    }
    job = pi.job(pi.create(path, body)).json()["data"]
    assert job["payload"]["phase"] == "queued"
    assert job["payload"]["input"]["prompt"] == "a red shoe"
    assert job["payload"]["input"]["reference_image_count"] == 2
    assert job["payload"]["input"]["client_reference_id"] == "order-1"


def test_create_types_follow_the_route(pi):
    types = {
        path: pi.job(pi.create(path, {"prompt": "p"})).json()["data"]["type"]
        for path in ("/images/generations", "/ads/generate", "/campaigns/generate")
    }
    assert types == {
        "/images/generations": "ad_generation",
        "/ads/generate": "ad_generation",
        "/campaigns/generate": "campaign_ad_generation",
    }


def test_keep_alive_connection_serves_many_requests(pi):
    adapter_session = requests.Session()
    adapter_session.headers.update(pi.session.headers)
    for _ in range(20):
        response = adapter_session.get(pi.base_url + "/brands", timeout=5)
        assert response.status_code == 200
        assert response.headers.get("Connection", "").lower() != "close"
