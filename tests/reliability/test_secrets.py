"""Secrets stay secret: never in logs at DEBUG, never in clear in Redis, and keys rotate safely.

The same flows run twice: in process (logs captured with caplog at DEBUG) and against live
gunicorn + RQ worker processes at DEBUG (their stderr searched). The flows: /v1 submit with a
signed callback; ManyChat submit with a push (a good key, and one ManyChat refuses); a Zapier
action with a callback and a REST hook; Shopify install + callback, token refresh after a 401,
the session-token API, a token exchange and webhooks. After them every key of the private
Redis (every type, RQ's compressed job data included) is dumped and searched.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
import requests
from cryptography.fernet import Fernet

from connector import create_app
from connector.runtime.secrets import SecretBox, SecretError
from connector.worker import run_until_idle
from shopify_app.shops import get_shops
from tests.shopify_app.conftest import stack_env
from tests.shopify_app.fake_shopify import FakeShopify
from tests.shopify_app.helpers import (
    PI_KEY,
    SECRET,
    SHOP,
    bearer,
    dump_redis,
    session_token,
    signed_query,
    webhook_body,
    webhook_headers,
)
from tests.support.constants import TEST_SECRET_KEY, WEBHOOK_SECRET
from tests.support.fake_manychat import SEND_FLOW, SET_FIELDS, VALID_KEY, FakeManyChat
from tests.support.procs import python_argv
from tests.support.receiver import Receiver

FLOW_KEY = "pi_test_secrets_flow_account_0123456789"
REFUSED_MC_KEY = "7654321:mc_refused_key_fedcba9876543210"
SECOND_SHOP = "secrets-two.myshopify.com"
# "Bearer " followed by anything but the redaction marker.
CLEAR_BEARER = re.compile(r"(?i)bearer\s+(?!\[redacted\])[^\s\"',;]+")
FERNET_TOKEN = re.compile(rb"gAAAAA[A-Za-z0-9_\-]+=*")


@dataclass
class Answer:
    """One HTTP answer, from the test client or from a live server."""

    status: int
    text: str
    headers: Mapping[str, str]

    def json(self) -> Any:
        return json.loads(self.text)


class InProcess:
    """Drive an app through its test client; run the worker in this process."""

    def __init__(self, app) -> None:
        self.app = app
        self.client = app.test_client()

    def call(self, method: str, path: str, **kwargs: Any) -> Answer:
        params = kwargs.pop("params", None)
        response = self.client.open(path, method=method, query_string=params, **kwargs)
        return Answer(response.status_code, response.get_data(as_text=True), response.headers)

    def drain(self) -> None:
        run_until_idle(self.app)


class Live:
    """Drive a live stack over HTTP; its own worker does the background work."""

    def __init__(self, stack) -> None:
        self.stack = stack

    def call(self, method: str, path: str, **kwargs: Any) -> Answer:
        response = requests.request(
            method, self.stack.base_url + path, allow_redirects=False, timeout=40, **kwargs
        )
        return Answer(response.status_code, response.text, response.headers)

    def drain(self) -> None:
        pass


def _wait(predicate: Callable[[], Any], what: str, timeout: float = 40.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout} s")


@dataclass
class World:
    """The fakes the flows talk to, and every secret handed out along the way."""

    receiver: Receiver
    manychat: FakeManyChat
    shopify: FakeShopify
    redis: redis.Redis
    minted: list[str]

    def secrets(self) -> list[str]:
        """Return every credential that must never show up in a log or in clear in Redis."""
        fixed = [FLOW_KEY, PI_KEY, VALID_KEY, REFUSED_MC_KEY, SECRET, WEBHOOK_SECRET]
        return fixed + [TEST_SECRET_KEY] + list(self.shopify.issued) + self.minted

    def session(self, shop: str = SHOP) -> dict[str, str]:
        token = session_token(shop)
        self.minted.append(token)
        return bearer(token)


@pytest.fixture
def world(redis_client, pisim):
    """Start a receiver, a fake ManyChat and a fake Shopify with two shops."""
    with Receiver() as receiver, FakeManyChat() as manychat:
        shopify = FakeShopify().start()
        shopify.add_shop(SHOP)
        shopify.add_shop(SECOND_SHOP)
        yield World(receiver, manychat, shopify, redis_client, [])
        shopify.stop()


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {FLOW_KEY}"}


def platform_flows(driver, world: World) -> None:
    """Run the /v1, Zapier and ManyChat flows to their deliveries."""
    url = world.receiver.url
    # The first callback fails once, so its retry is an RQ task whose payload the Redis dump
    # searches too (a worker makes first attempts itself, without RQ).
    world.receiver.answers = [(503, {})]
    hook = driver.call(
        "POST",
        "/zapier/v1/hooks",
        json={"target_url": url + "/zap-hook", "event": "job.completed"},
        headers=_auth(),
    )
    assert hook.status == 201, hook.text
    assert driver.call("GET", "/zapier/v1/me", headers=_auth()).status == 200
    v1 = driver.call(
        "POST",
        "/v1/jobs",
        json={
            "kind": "brand_extraction",
            "input": {"url": "https://v1-secrets.example"},
            "callback_url": url + "/v1",
        },
        headers=_auth(),
    )
    assert v1.status == 202, v1.text
    action = driver.call(
        "POST",
        "/zapier/v1/actions/extract_brand",
        json={"url": "https://zap-secrets.example", "callback_url": url + "/zap-callback"},
        headers=_auth(),
    )
    assert action.status == 200, action.text
    for subscriber, key in ((501, VALID_KEY), (502, REFUSED_MC_KEY)):
        pushed = driver.call(
            "POST",
            "/manychat/v1/brands/extract",
            json={
                "url": f"https://mc-{subscriber}.example",
                "subscriber_id": str(subscriber),
                "manychat_api_key": key,
                "flow_ns": "content_secrets_flow",
            },
            headers=_auth(),
        )
        assert pushed.status == 200, pushed.text
    driver.drain()
    paths = {"/v1", "/zap-callback", "/zap-hook"}
    _wait(lambda: paths <= {r.path for r in world.receiver.requests}, "callbacks and hooks")
    world.manychat.wait_for(SEND_FLOW, 1)
    _wait(lambda: world.manychat.calls_to(SET_FIELDS, 502), "the refused push")


def shopify_flows(driver, world: World) -> None:
    """Install, read and refresh through the session-token API, exchange a token, get webhooks."""
    fake = world.shopify
    install = driver.call("GET", "/shopify/install", params={"shop": SHOP})
    assert install.status == 302, install.text
    state = parse_qs(urlsplit(install.headers["Location"]).query)["state"][0]
    params = signed_query({"code": fake.issue_code(SHOP), "shop": SHOP, "state": state})
    callback = driver.call("GET", "/shopify/callback", params=params)
    assert callback.status == 302, callback.text
    driver.drain()
    config = f"pic:shop:{{{SHOP}}}:config"
    _wait(lambda: world.redis.hget(config, "status") == b"completed", "the shop's brand")

    # The stored access token expires at Shopify: the next Admin call gets a 401 and refreshes.
    fake.expire_access_tokens(SHOP)

    def refresh_started() -> bool:
        # The first extraction holds the shop's one pending slot until its metafield write
        # ends, after `completed` shows: a merchant's click then answers enqueued=false.
        refresh = driver.call("POST", "/shopify/api/brand/refresh", headers=world.session())
        assert refresh.status == 202, refresh.text
        return json.loads(refresh.text)["enqueued"]

    _wait(refresh_started, "a refresh that starts an extraction")
    driver.drain()
    _wait(lambda: any(c["grant"] == "refresh_token" for c in fake.calls("token")), "token refresh")
    brand = driver.call("GET", "/shopify/api/brand", headers=world.session())
    assert brand.status == 200, brand.text

    exchanged = driver.call("POST", "/shopify/api/session", headers=world.session(SECOND_SHOP))
    assert exchanged.status == 201, exchanged.text
    for topic in ("customers/data_request", "customers/redact"):
        body = webhook_body(topic)
        answer = driver.call(
            "POST", "/shopify/webhooks", data=body, headers=webhook_headers(body, topic)
        )
        assert answer.status == 200, answer.text
    driver.drain()
    second = f"pic:shop:{{{SECOND_SHOP}}}:config"
    _wait(lambda: world.redis.hget(second, "status") == b"completed", "the second shop's brand")


def assert_no_secret_in(text: str, world: World, where: str) -> None:
    """Fail naming the kind of secret (never the secret itself) found in some text."""
    found = [kind for kind, value in _labelled(world) if value and value in text]
    assert found == [], f"{where} holds {found}"
    assert CLEAR_BEARER.findall(text) == [], f"{where} holds a Bearer value in clear"


def _labelled(world: World) -> list[tuple[str, str]]:
    return [(f"secret #{i} ({s[:4]}…)", s) for i, s in enumerate(world.secrets())]


def assert_no_secret_in_redis(world: World) -> None:
    """Dump every key of every type (RQ's compressed job data too) and search it."""
    dump = dump_redis(world.redis) + b"\n" + _rq_payloads(world.redis)
    assert b"rq:job:" in dump and b"pic:" in dump, "the dump is empty: the check is broken"
    for kind, value in _labelled(world):
        assert value.encode() not in dump, f"Redis holds {kind} in clear"


def _rq_payloads(client: redis.Redis) -> bytes:
    """Return the decompressed data of every RQ job, whatever field holds it."""
    chunks = []
    for key in client.scan_iter(match="rq:job:*"):
        if client.type(key) != b"hash":
            continue
        for value in client.hgetall(key).values():
            try:
                chunks.append(zlib.decompress(value))
            except zlib.error:
                continue
    return b"\n".join(chunks)


def _settings(world: World, pisim_url: str) -> dict[str, str]:
    return {
        "PI_BASE_URL": pisim_url,
        "MANYCHAT_API_URL": world.manychat.url,
        "CONNECTOR_LOG_LEVEL": "DEBUG",
        "CONNECTOR_MANYCHAT_WAIT_SECONDS": "3",
        **stack_env(world.shopify),
    }


def test_no_secret_reaches_the_logs_or_redis_in_process(app_config, pisim, world, caplog):
    caplog.set_level("DEBUG")
    # Built inside the test, so the log set-up (with its redaction) covers caplog's handler.
    app = create_app(
        {**app_config, **_settings(world, pisim.base_url), "CONNECTOR_PUBLIC_URL": "https://c.test"}
    )
    driver = InProcess(app)
    platform_flows(driver, world)
    shopify_flows(driver, world)
    assert_no_secret_in_redis(world)

    names = {r.name for r in caplog.records}
    assert {"connector.http", "connector.delivery.dispatch", "connector.delivery.outbound"} <= names
    assert any(r.levelname == "DEBUG" for r in caplog.records)
    text = caplog.text + "\n".join(str(r.__dict__) for r in caplog.records)
    assert_no_secret_in(text, world, "the captured logs")


def test_no_secret_reaches_live_process_output_or_redis(live_stack_factory, pisim, world):
    stack = live_stack_factory(**_settings(world, pisim.base_url))
    driver = Live(stack)
    platform_flows(driver, world)
    shopify_flows(driver, world)
    assert_no_secret_in_redis(world)

    logs = stack.logs()
    assert '"level": "DEBUG"' in logs and "connector.delivery.dispatch" in logs
    assert_no_secret_in(logs, world, "the web and worker output")


# --- key rotation ---------------------------------------------------------------------------

OLD_KEY = TEST_SECRET_KEY
NEW_KEY = Fernet.generate_key().decode()


def _ciphertexts(client: redis.Redis) -> list[bytes]:
    """Return every Fernet token stored anywhere in Redis, indexed for rotation or not."""
    return FERNET_TOKEN.findall(dump_redis(client))


def _decrypts(box: SecretBox, token: bytes) -> bool:
    try:
        box.decrypt(token)
    except SecretError:
        return False
    return True


def _rotate_with_the_cli(config: dict[str, Any], keys: str) -> str:
    env = {
        "REDIS_URL": config["REDIS_URL"],
        "PI_BASE_URL": config["PI_BASE_URL"],
        "CONNECTOR_SECRET_KEY": keys,
    }
    done = subprocess.run(
        python_argv("-m", "connector.cli", "rotate-keys"),
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_key_rotation_keeps_old_secrets_readable_then_re_encrypts_everything(
    app_config, pisim, world
):
    base = {
        **app_config,
        **_settings(world, pisim.base_url),
        "CONNECTOR_LOG_LEVEL": "INFO",
        "CONNECTOR_MANYCHAT_WAIT_SECONDS": "0",  # leave the jobs running: their secrets stay
        "CONNECTOR_PUBLIC_URL": "https://c.test",
    }
    old_app = create_app({**base, "CONNECTOR_SECRET_KEY": OLD_KEY})
    driver = InProcess(old_app)
    install = driver.call("GET", "/shopify/install", params={"shop": SHOP})
    state = parse_qs(urlsplit(install.headers["Location"]).query)["state"][0]
    params = signed_query({"code": world.shopify.issue_code(SHOP), "shop": SHOP, "state": state})
    assert driver.call("GET", "/shopify/callback", params=params).status == 302
    push = {"url": "https://rotate.example", "subscriber_id": "601", "manychat_api_key": VALID_KEY}
    assert (
        driver.call("POST", "/manychat/v1/brands/extract", json=push, headers=_auth()).status == 200
    )

    old_only, new_only = SecretBox([OLD_KEY]), SecretBox([NEW_KEY])
    before = _ciphertexts(world.redis)
    # Shop access + refresh token, the ManyChat key, and the Pi keys the trackers keep.
    assert len(before) >= 4
    assert all(_decrypts(old_only, t) for t in before)

    # During the rotation: old ciphertexts still decrypt, new secrets use the newest key.
    both = f"{NEW_KEY},{OLD_KEY}"
    rotating = create_app({**base, "CONNECTOR_SECRET_KEY": both})
    assert all(_decrypts(SecretBox([NEW_KEY, OLD_KEY]), t) for t in before)
    second = {**push, "url": "https://rotate-two.example", "subscriber_id": "602"}
    answer = InProcess(rotating).call(
        "POST", "/manychat/v1/brands/extract", json=second, headers=_auth()
    )
    assert answer.status == 200
    fresh = set(_ciphertexts(world.redis)) - set(before)
    assert fresh and all(_decrypts(new_only, t) for t in fresh)
    with rotating.app_context():
        assert get_shops().tokens(SHOP).access_token in world.shopify.issued

    output = _rotate_with_the_cli(base, both)
    assert re.search(r"re-encrypted [1-9][0-9]* stored secret", output), output
    after = _ciphertexts(world.redis)
    assert len(after) == len(before) + len(fresh)
    undecryptable = [t[:12] for t in after if not _decrypts(new_only, t)]
    assert undecryptable == [], "left under the old key after rotate-keys"
    assert not any(_decrypts(old_only, t) for t in after)

    # The old key dropped: the shop's tokens, the pushes and the trackers all still work.
    new_app = create_app({**base, "CONNECTOR_SECRET_KEY": NEW_KEY})
    with new_app.app_context():
        assert get_shops().tokens(SHOP).access_token in world.shopify.issued
    InProcess(new_app).drain()
    world.manychat.wait_for(SET_FIELDS, 2)
    pushed = {c.subscriber_id for c in world.manychat.calls if c.status == 200}
    assert {601, 602} <= pushed
