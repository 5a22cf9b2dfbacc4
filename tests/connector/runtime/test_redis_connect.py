"""Where Redis is: URLs, Sentinel sets, redacted descriptions, and the required settings."""

from __future__ import annotations

import pytest
import redis

from connector.config import ConfigError, Settings
from connector.runtime.redis_connect import (
    RedisConnector,
    RedisTarget,
    RedisTargetError,
    parse_sentinels,
    redact_url,
)


def test_sentinels_are_parsed_from_host_port_pairs():
    assert parse_sentinels(" 10.0.0.5:26379, [::1]:26380,") == (("10.0.0.5", 26379), ("::1", 26380))
    with pytest.raises(RedisTargetError, match="not host:port"):
        parse_sentinels("10.0.0.5")


def test_a_password_in_a_url_is_never_shown():
    assert (
        redact_url("rediss://:hunter2@redis.internal:6380/0")
        == "rediss://:***@redis.internal:6380/0"
    )
    assert redact_url("redis://user:pw@[::1]:6379/1") == "redis://user:***@[::1]:6379/1"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert "hunter2" not in RedisTarget.from_url("redis://:hunter2@h:1/0").describe()


def test_sentinels_win_over_a_url_and_carry_their_passwords():
    settings = Settings.load(
        {
            "REDIS_URL": "redis://ignored:1/0",
            "REDIS_SENTINELS": "127.0.0.1:26379,127.0.0.1:26380",
            "REDIS_SENTINEL_MASTER": "pic",
            "REDIS_SENTINEL_PASSWORD": "s3ntinel",
            "REDIS_PASSWORD": "n0de",
        },
        environ={},
    )
    target = RedisTarget.from_settings(settings)
    assert target.uses_sentinel and target.url is None
    assert target.describe() == "sentinel://127.0.0.1:26379,127.0.0.1:26380/pic"
    assert "s3ntinel" not in repr(settings) and "n0de" not in repr(settings)


def test_a_sentinel_client_asks_the_sentinels_with_their_password():
    target = RedisTarget(
        sentinels=(("127.0.0.1", 1),), sentinel_master="pic", sentinel_password="s", password="p"
    )
    client = RedisConnector(target).client(socket_timeout=1, max_connections=5)
    pool = client.connection_pool
    assert pool.service_name == "pic"
    assert pool.connection_kwargs["password"] == "p"
    sentinel = pool.sentinel_manager.sentinels[0].connection_pool.connection_kwargs
    assert sentinel["password"] == "s" and sentinel["socket_timeout"] == 0.5


def test_tls_files_reach_the_connection_of_a_rediss_url():
    target = RedisTarget(
        url="rediss://127.0.0.1:1/0", ca_cert="/ca", client_cert="/c", client_key="/k"
    )
    kwargs = (
        RedisConnector(target)
        .client(socket_timeout=1, max_connections=5)
        .connection_pool.connection_kwargs
    )
    assert (kwargs["ssl_ca_certs"], kwargs["ssl_certfile"], kwargs["ssl_keyfile"]) == (
        "/ca",
        "/c",
        "/k",
    )


def test_redis_url_is_required_unless_sentinels_are_set():
    with pytest.raises(ConfigError, match=r"REDIS_URL \(or REDIS_SENTINELS\)"):
        Settings.load(
            {"PI_BASE_URL": "x", "CONNECTOR_SECRET_KEY": "k"}, environ={}
        ).check_required()
    sentinels = {"PI_BASE_URL": "x", "CONNECTOR_SECRET_KEY": "k", "REDIS_SENTINELS": "h:1"}
    with pytest.raises(ConfigError, match="REDIS_SENTINEL_MASTER"):
        Settings.load(sentinels, environ={}).check_required()
    Settings.load({**sentinels, "REDIS_SENTINEL_MASTER": "pic"}, environ={}).check_required()


def test_a_new_connection_sends_its_first_command_without_a_handshake(redis_url, redis_client):
    client = RedisConnector(RedisTarget.from_url(redis_url)).client(
        socket_timeout=5, max_connections=10
    )
    redis_client.ping()  # the observer's own connection is open before the count starts
    redis_client.config_resetstat()

    assert client.ping()  # a fresh connection

    stats = redis_client.info("commandstats")
    sent = {name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()}
    sent.pop("config|resetstat", None)  # the observer's
    assert sent == {"ping": 1}  # no HELLO, CLIENT SETINFO or CLIENT MAINT_NOTIFICATIONS
    assert client.connection_pool.connection_kwargs["protocol"] == 2


def test_a_new_connection_still_selects_the_database_its_url_names(redis_url):
    client = RedisConnector(RedisTarget.from_url(f"{redis_url.rstrip('/')}/3")).client(
        socket_timeout=5, max_connections=10
    )
    client.set("pic-test:db-check", "3")

    in_db3 = redis.Redis.from_url(f"{redis_url.rstrip('/')}/3")
    in_db0 = redis.Redis.from_url(f"{redis_url.rstrip('/')}/0")
    assert in_db3.get("pic-test:db-check") == b"3"
    assert in_db0.get("pic-test:db-check") is None
