"""The app factory: one JSON error shape, health and readiness, and request logging."""

import logging

import pytest

from connector import create_app


def assert_error_shape(response, status, code=None):
    assert response.status_code == status
    assert response.is_json, response.data[:200]
    error = response.get_json()["error"]
    assert set(error) <= {"code", "message", "details"}
    assert error["message"]
    if code:
        assert error["code"] == code
    assert b"<html" not in response.data.lower()
    assert b"Traceback" not in response.data
    return error


def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["X-Request-Id"].startswith("req_pic_")


def test_unknown_path_is_json_404(client):
    assert_error_shape(client.get("/nope"), 404, "not_found")


def test_wrong_method_is_json_405(client):
    error = assert_error_shape(client.delete("/healthz"), 405)
    assert "method" in error["message"]


def test_oversized_body_is_json_413(app_config):
    app = create_app({**app_config, "MAX_CONTENT_LENGTH": 100})
    response = app.test_client().post(
        "/v1/jobs",
        data="x" * 1000,
        headers={"Authorization": "Bearer pi_test_abcdefgh"},
        content_type="application/json",
    )
    assert_error_shape(response, 413)


def test_unexpected_exception_is_json_500_without_traceback(app, caplog):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret pi_test_leakme123 inside")

    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/boom")
    error = assert_error_shape(response, 500, "internal_error")
    assert "leakme" not in error["message"]
    assert "leakme" not in caplog.text
    assert "Traceback" not in caplog.text


def test_readyz_is_503_with_reasons_when_pi_is_unreachable(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "Pi unreachable" in response.get_json()["error"]["message"]


def test_readyz_is_503_naming_redis_when_redis_is_down(app_config, pisim):
    from tests.support.procs import free_port

    app = create_app(
        {
            **app_config,
            "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
            "PI_BASE_URL": pisim.base_url,
        }
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    message = response.get_json()["error"]["message"]
    assert "Redis unreachable" in message
    assert "Pi unreachable" not in message


def test_readyz_is_200_when_redis_and_pi_answer(app_config, pisim):
    app = create_app({**app_config, "PI_BASE_URL": pisim.base_url})
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ready"


def test_request_log_never_contains_authorization_or_query(client, caplog):
    with caplog.at_level(logging.INFO, logger="connector.http"):
        client.get(
            "/healthz?code=abc123secret", headers={"Authorization": "Bearer pi_test_topsecret99"}
        )
    assert "GET /healthz 200" in caplog.text
    assert "topsecret99" not in caplog.text
    assert "abc123secret" not in caplog.text


@pytest.mark.parametrize("path", ["/healthz/", "/v1/jobs/"])
def test_trailing_slash_never_redirects(client, path):
    response = client.get(path)
    assert response.status_code not in (301, 302, 307, 308)
