"""POST /shopify/webhooks: HMAC over the raw body, dedupe, topics, compliance, erasure."""

from __future__ import annotations

import json
import threading
import time

import pytest
from rq import Queue

from connector.ledger import JobRecord, get_ledger
from shopify_app.shops import get_shops
from shopify_app.webhooks import parse_triggered_at
from tests.shopify_app.conftest import install, run_worker
from tests.shopify_app.helpers import (
    OLD_SECRET,
    SECRET,
    SHOP,
    dump_redis,
    webhook_body,
    webhook_headers,
)


def _post(client, topic: str, body: bytes | None = None, **header_args):
    body = webhook_body(topic) if body is None else body
    return client.post(
        "/shopify/webhooks", data=body, headers=webhook_headers(body, topic, **header_args)
    )


def _queue(redis_client) -> Queue:
    return Queue("pic-shopify", connection=redis_client)


def test_valid_webhook_is_accepted_and_queued(shop_client, redis_client):
    response = _post(shop_client, "app/uninstalled")
    assert response.status_code == 200
    assert response.json == {"status": "accepted"}
    (job,) = _queue(redis_client).get_jobs()
    assert job.func_name == "shopify_app.tasks.handle_uninstalled"
    assert job.args[0] == SHOP


@pytest.mark.parametrize(
    "mutate", ["bad_signature", "no_signature", "body_changed", "wrong_secret"]
)
def test_webhook_with_bad_hmac_is_401_and_stores_nothing(shop_client, redis_client, mutate):
    body = webhook_body("shop/redact")
    headers = webhook_headers(
        body, "shop/redact", secret=OLD_SECRET if mutate == "wrong_secret" else SECRET
    )
    if mutate == "bad_signature":
        headers["X-Shopify-Hmac-SHA256"] = "AAAA" + headers["X-Shopify-Hmac-SHA256"][4:]
    elif mutate == "no_signature":
        del headers["X-Shopify-Hmac-SHA256"]
    elif mutate == "body_changed":
        body = body.replace(b"1", b"2")
    response = shop_client.post("/shopify/webhooks", data=body, headers=headers)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "invalid_hmac"
    assert redis_client.dbsize() == 0


def test_webhook_signed_with_old_secret_is_accepted_during_rotation(shopify_config, redis_client):
    from connector import create_app

    rotating = create_app({**shopify_config, "SHOPIFY_API_SECRET_OLD": OLD_SECRET}).test_client()
    assert _post(rotating, "customers/redact", secret=OLD_SECRET).status_code == 200
    plain = create_app(shopify_config).test_client()
    assert _post(plain, "customers/redact", secret=OLD_SECRET).status_code == 401


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe", b""])
def test_malformed_json_with_valid_hmac_is_400_and_stores_nothing(shop_client, redis_client, body):
    response = _post(shop_client, "shop/redact", body=body)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_json"
    assert "Traceback" not in response.get_data(as_text=True)
    assert redis_client.dbsize() == 0


def test_webhook_without_topic_or_id_or_with_bad_shop_is_400(shop_client, redis_client):
    body = webhook_body("shop/redact")
    headers = webhook_headers(body, "shop/redact")
    for name, value in [
        ("X-Shopify-Topic", ""),
        ("X-Shopify-Webhook-Id", ""),
        ("X-Shopify-Webhook-Id", "id with spaces"),
        ("X-Shopify-Shop-Domain", "evil.com"),
    ]:
        response = shop_client.post(
            "/shopify/webhooks", data=body, headers={**headers, name: value}
        )
        assert response.status_code == 400, (name, value)
        assert response.is_json
    assert redis_client.dbsize() == 0


def test_redelivery_is_processed_once(shop_client, redis_client):
    body = webhook_body("app/uninstalled")
    headers = webhook_headers(body, "app/uninstalled")
    first = shop_client.post("/shopify/webhooks", data=body, headers=headers)
    again = shop_client.post("/shopify/webhooks", data=body, headers=headers)
    assert (first.json["status"], again.json["status"]) == ("accepted", "duplicate")
    assert _queue(redis_client).count == 1
    assert redis_client.ttl(f"pic:shopify:webhook:{headers['X-Shopify-Webhook-Id']}") > 6 * 86400


def test_ten_concurrent_redeliveries_are_processed_once(shop_app, redis_client):
    body = webhook_body("app/uninstalled")
    headers = webhook_headers(body, "app/uninstalled")
    barrier = threading.Barrier(10)
    statuses: list[str] = []

    def deliver() -> None:
        client = shop_app.test_client()
        barrier.wait()
        response = client.post("/shopify/webhooks", data=body, headers=headers)
        statuses.append(f"{response.status_code}:{response.json['status']}")

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(statuses) == ["200:accepted"] + ["200:duplicate"] * 9
    assert _queue(redis_client).count == 1


def test_unknown_topic_is_acknowledged_and_ignored(shop_client, redis_client):
    response = _post(shop_client, "products/update")
    assert response.status_code == 200 and response.json["status"] == "ignored"
    assert redis_client.dbsize() == 0


@pytest.mark.parametrize("topic", ["customers/data_request", "customers/redact"])
def test_customer_compliance_requests_are_recorded_without_customer_data(
    shop_client, shop_app, redis_client, topic
):
    response = _post(shop_client, topic, webhook_id="wh-" + topic.replace("/", "-"))
    assert response.status_code == 200
    with shop_app.app_context():
        (entry,) = get_shops().compliance(SHOP)
    assert entry["topic"] == topic and entry["webhook_id"] == "wh-" + topic.replace("/", "-")
    assert entry["ref"] == ("9999" if topic == "customers/data_request" else None)
    dump = dump_redis(redis_client)
    assert b"c@x.test" not in dump and b'"customer"' not in dump


def test_webhook_handler_answers_fast(shop_client):
    durations = []
    for n in range(60):
        topic = ("app/uninstalled", "customers/data_request", "shop/redact")[n % 3]
        started = time.perf_counter()
        assert _post(shop_client, topic).status_code == 200
        durations.append(time.perf_counter() - started)
    assert max(durations) < 1.0  # Shopify allows 5 s; the benchmark holds the 50 ms p99 goal


def test_parse_triggered_at_reads_nanosecond_timestamps():
    assert parse_triggered_at("2026-03-29T18:00:27.877041743Z") == pytest.approx(1774807227.877041)
    assert parse_triggered_at("garbage") is None
    assert parse_triggered_at(None) is None


# --- what the queued tasks do -------------------------------------------------------------


def test_uninstall_drops_tokens_config_and_pending_work(
    shop_client, shop_app, fake_shopify, redis_client
):
    install(shop_client, fake_shopify)
    assert _queue(redis_client).count == 1  # the pending extraction
    assert _post(shop_client, "app/uninstalled").status_code == 200
    (uninstall_job,) = [
        j for j in _queue(redis_client).get_jobs() if j.func_name.endswith("handle_uninstalled")
    ]
    # Run the uninstall task alone: the queued extraction must be dropped, not run.
    from shopify_app.tasks import handle_uninstalled

    with shop_app.app_context():
        uninstall_job.delete()
        assert handle_uninstalled(SHOP, time.time()) == "uninstalled"
        assert get_shops().get(SHOP) is None
        assert get_shops().tokens(SHOP) is None
        assert get_shops().config(SHOP)["status"] == "none"
    assert _queue(redis_client).count == 0
    assert not any(SHOP.encode() in k for k in redis_client.scan_iter())
    assert not any(SHOP.encode() in m for m in redis_client.smembers("pic:secrets:index"))


def test_uninstall_redelivered_after_a_reinstall_is_ignored(shop_client, shop_app, fake_shopify):
    from shopify_app.tasks import handle_uninstalled

    install(shop_client, fake_shopify)
    with shop_app.app_context():
        assert handle_uninstalled(SHOP, time.time() - 3600) == "stale"
        assert get_shops().installed(SHOP) is not None


def test_uninstall_then_shop_redact_leave_no_key_for_the_shop(
    shop_client, shop_app, fake_shopify, redis_client
):
    install(shop_client, fake_shopify)
    with shop_app.app_context():
        from shopify_app.settings import get_shopify_settings

        account_id = get_shopify_settings().pi_account().account_id
        # A finished extraction of this shop in the ledger, as the task leaves it.
        record = JobRecord(
            job_id="5b1f6a57-0000-4000-8000-000000000001",
            account_id=account_id,
            kind="brand_extraction",
            input={"url": "https://www.pi-demo.example"},
            origin="shopify",
            origin_ref=SHOP,
        )
        get_ledger().create(record)
        record.status, record.brand_id = "completed", "6c2e7b68-0000-4000-8000-000000000002"
        record.brand = {
            "brand_id": record.brand_id,
            "brand_name": "Pi Demo",
            "domain": "pi-demo.example",
        }
        get_ledger().finish(record)
    _post(shop_client, "customers/data_request")
    assert _post(shop_client, "app/uninstalled").status_code == 200
    assert _post(shop_client, "shop/redact").status_code == 200
    run_worker(shop_app)

    assert redis_client.keys(f"*{SHOP}*") == []
    dump = dump_redis(redis_client)
    assert SHOP.encode() not in dump
    assert b"pi-demo.example" not in dump
    with shop_app.app_context():
        assert get_ledger().get(account_id, record.job_id) is None
        assert get_ledger().list_brands(account_id) == []
    # Dedupe markers name only the delivery, so they may outlive the shop.
    assert (
        _post(
            shop_client, "shop/redact", body=json.dumps({"shop_domain": SHOP}).encode()
        ).status_code
        == 200
    )


def test_uninstall_never_cancels_a_queued_shop_redact(
    shop_client, shop_app, fake_shopify, redis_client
):
    from shopify_app.tasks import handle_uninstalled

    install(shop_client, fake_shopify)
    assert _post(shop_client, "app/uninstalled").status_code == 200
    assert _post(shop_client, "shop/redact").status_code == 200
    with shop_app.app_context():
        assert handle_uninstalled(SHOP, time.time()) == "uninstalled"
    functions = [job.func_name for job in _queue(redis_client).get_jobs()]
    assert "shopify_app.tasks.redact_shop" in functions  # compliance work survives
    assert "shopify_app.tasks.extract_brand_for_shop" not in functions  # install work is dropped
