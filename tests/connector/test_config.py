"""Layered settings and the required-setting check."""

import pytest

from connector.config import ConfigError, check_required, load_settings


def test_environment_overrides_defaults_and_mapping_overrides_environment():
    env = {"CONNECTOR_MANYCHAT_WAIT_SECONDS": "5", "PI_BASE_URL": "http://env"}
    settings = load_settings({"PI_BASE_URL": "http://mapping"}, environ=env)
    assert settings["CONNECTOR_MANYCHAT_WAIT_SECONDS"] == 5.0
    assert settings["PI_BASE_URL"] == "http://mapping"
    assert settings["CONNECTOR_ZAPIER_WAIT_SECONDS"] == 25.0


def test_booleans_and_ints_are_parsed_from_the_environment():
    env = {"CONNECTOR_ALLOW_PRIVATE_TARGETS": "true", "PI_MAX_RETRIES": "7"}
    settings = load_settings(environ=env)
    assert settings["CONNECTOR_ALLOW_PRIVATE_TARGETS"] is True
    assert settings["PI_MAX_RETRIES"] == 7


def test_unreadable_value_names_the_setting():
    with pytest.raises(ConfigError, match="PI_MAX_RETRIES"):
        load_settings(environ={"PI_MAX_RETRIES": "many"})


def test_missing_required_settings_are_all_named():
    with pytest.raises(ConfigError) as info:
        check_required(load_settings(environ={}))
    for name in ("PI_BASE_URL", "REDIS_URL", "CONNECTOR_SECRET_KEY"):
        assert name in str(info.value)


def test_create_app_fails_at_start_naming_the_missing_setting(monkeypatch):
    from connector import create_app

    monkeypatch.delenv("PI_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="PI_BASE_URL"):
        create_app({"REDIS_URL": "redis://127.0.0.1:1/0", "CONNECTOR_SECRET_KEY": "x"})
