"""The whole Shopify flow with real processes: gunicorn, RQ worker, Pi simulator, fake Shopify."""

from __future__ import annotations

import json
import threading
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import redis
import requests

from shopify_app.tasks import WEBHOOK_TOPICS
from tests.shopify_app.helpers import (
    API_KEY,
    SHOP,
    dump_redis,
    signed_query,
    webhook_body,
    webhook_headers,
)


def _wait(predicate, timeout: float = 20.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def _deliver(stack, topic: str, webhook_id: str | None = None) -> requests.Response:
    body = webhook_body(topic)
    headers = webhook_headers(body, topic, webhook_id=webhook_id)
    return requests.post(
        stack.base_url + "/shopify/webhooks", data=body, headers=headers, timeout=10
    )


def test_install_to_brand_id_in_config_and_metafield_then_uninstall_and_redact(
    shop_stack, fake_shopify, pisim, redis_url
):
    r = redis.Redis.from_url(redis_url)
    http = requests.Session()
    response = http.get(
        f"{shop_stack.base_url}/shopify/install?shop={SHOP}", allow_redirects=False, timeout=10
    )
    assert response.status_code == 302
    authorize = urlsplit(response.headers["Location"])
    assert (authorize.netloc, authorize.path) == (SHOP, "/admin/oauth/authorize")
    state = parse_qs(authorize.query)["state"][0]

    params = signed_query({"code": fake_shopify.issue_code(SHOP), "shop": SHOP, "state": state})
    started = time.monotonic()
    response = http.get(
        f"{shop_stack.base_url}/shopify/callback", params=params, allow_redirects=False, timeout=10
    )
    assert response.status_code == 302, response.text
    assert response.headers["Location"] == f"https://{SHOP}/admin/apps/{API_KEY}"

    config_key = f"pic:shop:{{{SHOP}}}:config"
    brand_id = _wait(lambda: r.hget(config_key, "brand_id"), timeout=30).decode()
    elapsed = time.monotonic() - started
    assert elapsed < 10, elapsed  # a 1 s simulator job
    config = {k.decode(): v.decode() for k, v in r.hgetall(config_key).items()}
    assert config["status"] == "completed"
    assert json.loads(config["brand"])["brand_id"] == brand_id
    _wait(lambda: ("pi", "brand") in fake_shopify.shops[SHOP].metafields)
    metafields = fake_shopify.shops[SHOP].metafields
    assert metafields[("pi", "brand_id")]["value"] == brand_id
    assert json.loads(metafields[("pi", "brand")]["value"])["brand_id"] == brand_id
    assert fake_shopify.shops[SHOP].webhooks == [
        {"topic": topic, "uri": shop_stack.base_url + "/shopify/webhooks"}
        for topic in WEBHOOK_TOPICS
    ]
    assert pisim.count("POST /api/v1/brands/extract") == 1

    # Ten concurrent redeliveries of one webhook over real HTTP are processed once.
    webhook_id = str(uuid.uuid4())
    statuses: list[str] = []
    barrier = threading.Barrier(10)

    def redeliver() -> None:
        barrier.wait()
        statuses.append(_deliver(shop_stack, "customers/data_request", webhook_id).json()["status"])

    threads = [threading.Thread(target=redeliver) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(statuses) == ["accepted"] + ["duplicate"] * 9
    assert r.llen(f"pic:shop:{{{SHOP}}}:compliance") == 1

    # Secrets never at rest in clear, never in the logs.
    dump = dump_redis(r)
    logs = shop_stack.logs()
    for secret in fake_shopify.issued:
        assert secret.encode() not in dump
        assert secret not in logs

    assert _deliver(shop_stack, "app/uninstalled").status_code == 200
    _wait(lambda: not r.exists(f"pic:shop:{{{SHOP}}}"))
    assert _deliver(shop_stack, "shop/redact").status_code == 200
    _wait(lambda: not r.keys(f"*{SHOP}*") and SHOP.encode() not in dump_redis(r))
    assert b"pi-demo.example" not in dump_redis(r)  # the ledger entry of the shop is gone too
