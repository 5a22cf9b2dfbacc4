"""Typed settings: layering, coercion alike from the environment and a mapping, required ones."""

import pytest

from connector.config import ConfigError, Settings


def test_environment_overrides_defaults_and_mapping_overrides_environment():
    env = {"CONNECTOR_MANYCHAT_WAIT_SECONDS": "5", "PI_BASE_URL": "http://env"}
    settings = Settings.load({"PI_BASE_URL": "http://mapping"}, environ=env)
    assert settings.manychat_wait_seconds == 5.0
    assert settings.pi_base_url == "http://mapping"
    assert settings.zapier_wait_seconds == 25.0


def test_booleans_and_ints_are_parsed_from_the_environment():
    env = {"CONNECTOR_ALLOW_PRIVATE_TARGETS": "true", "PI_MAX_RETRIES": "7"}
    settings = Settings.load(environ=env)
    assert settings.allow_private_targets is True
    assert settings.pi_max_retries == 7


@pytest.mark.parametrize(
    ("raw", "expected"), [("false", False), ("0", False), ("off", False), ("TRUE", True)]
)
def test_a_string_in_the_mapping_means_what_it_means_in_the_environment(raw, expected):
    from_mapping = Settings.load({"CONNECTOR_ALLOW_PRIVATE_TARGETS": raw}, environ={})
    from_env = Settings.load(environ={"CONNECTOR_ALLOW_PRIVATE_TARGETS": raw})
    assert from_mapping.allow_private_targets is expected
    assert from_env.allow_private_targets is expected


def test_numbers_given_as_text_in_the_mapping_are_numbers():
    settings = Settings.load({"MAX_CONTENT_LENGTH": "64", "PI_TIMEOUT": "2.5"}, environ={})
    assert settings.max_content_length == 64
    assert settings.pi_timeout == 2.5


def test_unreadable_value_names_the_setting():
    with pytest.raises(ConfigError, match="PI_MAX_RETRIES"):
        Settings.load(environ={"PI_MAX_RETRIES": "many"})
    with pytest.raises(ConfigError, match="CONNECTOR_ALLOW_PRIVATE_TARGETS"):
        Settings.load({"CONNECTOR_ALLOW_PRIVATE_TARGETS": "maybe"}, environ={})


def test_a_value_outside_its_range_names_the_setting_and_the_range():
    with pytest.raises(ConfigError, match="CONNECTOR_TRACKER_POLL_SECONDS.*between 1 and 30"):
        Settings.load({"CONNECTOR_TRACKER_POLL_SECONDS": 31}, environ={})
    with pytest.raises(ConfigError, match="CONNECTOR_DELIVERY_THREADS"):
        Settings.load(environ={"CONNECTOR_DELIVERY_THREADS": "0"})


def test_settings_are_frozen_and_keep_secrets_out_of_their_repr():
    settings = Settings.load({"CONNECTOR_SECRET_KEY": "s3cret-key", "PI_API_KEY": "pi_live_x"})
    with pytest.raises(AttributeError):
        settings.pi_timeout = 1.0  # type: ignore[misc]
    assert "s3cret-key" not in repr(settings) and "pi_live_x" not in repr(settings)


def test_missing_required_settings_are_all_named():
    with pytest.raises(ConfigError) as info:
        Settings.load(environ={}).check_required()
    for name in ("PI_BASE_URL", "REDIS_URL", "CONNECTOR_SECRET_KEY"):
        assert name in str(info.value)


def test_create_app_fails_at_start_naming_the_missing_setting(monkeypatch):
    from connector import create_app

    monkeypatch.delenv("PI_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="PI_BASE_URL"):
        create_app({"REDIS_URL": "redis://127.0.0.1:1/0", "CONNECTOR_SECRET_KEY": "x"})


def test_create_app_reads_false_in_a_mapping_as_false(app_config):
    from connector import create_app
    from connector.config import get_settings

    app = create_app({**app_config, "CONNECTOR_ALLOW_PRIVATE_TARGETS": "false"})
    assert get_settings(app).allow_private_targets is False
    assert app.config["CONNECTOR_ALLOW_PRIVATE_TARGETS"] is False
    # A private callback target is refused, as the environment's "false" would refuse it.
    response = app.test_client().post(
        "/v1/jobs",
        json={
            "kind": "brand_extraction",
            "input": {"url": "https://acme.example"},
            "callback_url": "http://127.0.0.1:9/hook",
        },
        headers={"Authorization": "Bearer pi_test_config_key_123"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_callback_url"


def test_create_app_reads_a_body_limit_given_as_text(app_config):
    from connector import create_app

    client = create_app({**app_config, "MAX_CONTENT_LENGTH": "64"}).test_client()
    auth = {"Authorization": "Bearer pi_test_config_key_123"}
    response = client.post("/v1/jobs", data=b"{" + b" " * 100 + b"}", headers=auth)
    assert response.status_code == 413
    assert "64 bytes" in response.get_json()["error"]["message"]
    response = client.post("/v1/jobs", json={"kind": "nope"}, headers=auth)
    assert response.status_code == 400  # small bodies still reach the endpoint


def test_every_setting_is_documented_in_the_readme():
    import pathlib

    from connector.config import env_names

    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme[readme.index("## Configuration") : readme.index("## Command line")]

    # Grouped rows name the shared prefix once: `CONNECTOR_WORKER_METRICS_PORT` / `_HOST`.
    def documented(name: str) -> bool:
        parts = name.split("_")
        suffixes = ("_" + "_".join(parts[i:]) for i in range(1, len(parts)))
        return f"`{name}`" in table or any(f"`{suffix}`" in table for suffix in suffixes)

    undocumented = [name for name in env_names() if not documented(name)]
    assert not undocumented, undocumented
