"""The brand follows the shop's primary domain: shop/update and domains/* webhooks, run by RQ."""

from __future__ import annotations

import json
import threading
import tomllib
from pathlib import Path

import pytest
from rq import Queue

from shopify_app.shops import get_shops
from shopify_app.spec import ShopBrand, WebhookReceipt
from shopify_app.tasks import WEBHOOK_TOPICS
from tests.shopify_app.conftest import extraction_asking_pi, install, run_worker
from tests.shopify_app.helpers import (
    PRIMARY_HOST,
    SHOP,
    bearer,
    session_token,
    webhook_body,
    webhook_headers,
)

EXTRACT = "POST /api/v1/brands/extract"
NEW_URL = "https://www.acme-outfitters.example"
NEW_HOST = "www.acme-outfitters.example"
APP_TOML = Path(__file__).resolve().parents[2] / "shopify_app" / "shopify.app.toml"


def _post(client, topic: str, shop: str = SHOP, **fields):
    body = webhook_body(topic, shop, **fields)
    return client.post(
        "/shopify/webhooks", data=body, headers=webhook_headers(body, topic, shop=shop)
    )


def _config(app) -> dict:
    with app.app_context():
        return get_shops().config(SHOP)


def _jobs(redis_client) -> list[str]:
    return [j.func_name for j in Queue("pic-shopify", connection=redis_client).get_jobs()]


@pytest.fixture
def extracted(sim_app, fake_shopify, pisim):
    """An installed shop whose first brand (from its primary domain) is in config and metafields."""
    client = sim_app.test_client()
    install(client, fake_shopify)
    run_worker(sim_app)
    config = _config(sim_app)
    assert config["status"] == "completed" and config["source_domain"] == PRIMARY_HOST
    return client


def test_install_subscribes_the_primary_domain_topics_too(shop_client, fake_shopify):
    install(shop_client, fake_shopify)
    topics = [w["topic"] for w in fake_shopify.shops[SHOP].webhooks]
    assert topics == list(WEBHOOK_TOPICS)
    assert {"SHOP_UPDATE", "DOMAINS_UPDATE"} <= set(topics)
    # The app configuration deployed with the CLI declares the same topics.
    declared = {
        topic
        for subscription in tomllib.loads(APP_TOML.read_text())["webhooks"]["subscriptions"]
        for topic in subscription.get("topics", [])
    }
    assert {t.lower().replace("_", "/", 1) for t in WEBHOOK_TOPICS} == declared


def test_shop_update_for_the_same_domain_starts_nothing(extracted, sim_app, redis_client, pisim):
    for _ in range(2):
        response = _post(extracted, "shop/update", domain=PRIMARY_HOST.upper() + ".")
        assert response.status_code == 200
        assert response.json == {"status": "accepted", "refresh": "unchanged"}
    assert _jobs(redis_client) == []
    assert pisim.count(EXTRACT) == 1
    assert _config(sim_app)["domain_change"] is None


def test_a_new_primary_domain_is_extracted_once_into_config_and_metafields(
    extracted, sim_app, fake_shopify, redis_client, pisim
):
    first = _config(sim_app)
    fake_shopify.set_primary_domain(SHOP, NEW_URL)
    answers = [_post(extracted, "shop/update", domain=NEW_HOST).json for _ in range(2)]
    assert answers == [
        {"status": "accepted", "refresh": "started"},
        {"status": "accepted", "refresh": "unchanged"},  # another delivery, same new domain
    ]
    assert all(WebhookReceipt().validate(answer) == {} for answer in answers)
    assert _jobs(redis_client) == ["shopify_app.tasks.extract_brand_for_shop"]
    pending = _config(sim_app)
    assert (pending["status"], pending["domain_change"]) == ("queued", NEW_HOST)
    assert pending["brand_id"] == first["brand_id"]  # the old brand stays until the new one

    run_worker(sim_app)
    config = _config(sim_app)
    assert config["status"] == "completed" and config["domain_change"] is None
    assert config["source_domain"] == NEW_HOST
    assert config["brand"]["domain"] == "acme-outfitters.example"
    assert config["brand"]["brand_name"] == "Acme Outfitters"
    assert config["brand_id"] != first["brand_id"]
    metafields = fake_shopify.shops[SHOP].metafields
    assert metafields[("pi", "brand_id")]["value"] == config["brand_id"]
    assert json.loads(metafields[("pi", "brand")]["value"]) == config["brand"]
    assert pisim.count(EXTRACT) == 2
    # Shopify keeps sending shop/update for other settings: the new domain is now the known one.
    assert _post(extracted, "shop/update", domain=NEW_HOST).json["refresh"] == "unchanged"


def test_concurrent_deliveries_for_a_new_domain_enqueue_one_extraction(
    extracted, sim_app, fake_shopify, redis_client
):
    fake_shopify.set_primary_domain(SHOP, NEW_URL)
    barrier = threading.Barrier(8)
    refreshes: list[str] = []

    def deliver() -> None:
        client = sim_app.test_client()
        barrier.wait()
        refreshes.append(_post(client, "shop/update", domain=NEW_HOST).json["refresh"])

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(refreshes) == ["started"] + ["unchanged"] * 7
    assert _jobs(redis_client) == ["shopify_app.tasks.extract_brand_for_shop"]


def test_a_domain_change_during_a_running_extraction_gets_its_own_run(
    sim_app, fake_shopify, redis_client, pisim
):
    fake_shopify.add_shop(SHOP, primary_url="https://www.secs2-store.example")  # a 2 s Pi job
    client = sim_app.test_client()
    install(client, fake_shopify)
    Queue("pic-shopify", connection=redis_client).empty()  # the install's task runs here instead
    thread, outcome = extraction_asking_pi(sim_app, pisim)  # it read the old domain, asked Pi
    fake_shopify.set_primary_domain(SHOP, NEW_URL)
    assert _post(client, "shop/update", domain=NEW_HOST).json["refresh"] == "started"
    assert _jobs(redis_client) == []  # one extraction at a time: the running one follows up
    thread.join(30)
    assert outcome == ["completed"]
    assert _config(sim_app)["source_domain"] == "www.secs2-store.example"
    assert _jobs(redis_client) == ["shopify_app.tasks.extract_brand_for_shop"]
    run_worker(sim_app)
    config = _config(sim_app)
    assert (config["source_domain"], config["domain_change"]) == (NEW_HOST, None)
    assert config["brand"]["brand_name"] == "Acme Outfitters"
    assert _jobs(redis_client) == []  # and no loop after it
    assert pisim.count(EXTRACT) == 2


def test_domain_topics_look_at_the_primary_domain_once_however_many_arrive(
    extracted, sim_app, fake_shopify, redis_client, pisim
):
    fake_shopify.set_primary_domain(SHOP, NEW_URL)
    for topic in ("domains/create", "domains/update", "domains/destroy"):
        response = _post(extracted, topic, domain="shop.other.example")
        assert response.json == {"status": "accepted", "refresh": "checking"}
    assert _jobs(redis_client) == ["shopify_app.domains.check_primary_domain"]
    run_worker(sim_app)  # the check reads the new primary domain, then its extraction runs
    config = _config(sim_app)
    assert (config["source_domain"], config["domain_change"]) == (NEW_HOST, None)
    assert pisim.count(EXTRACT) == 2


def test_a_domain_event_that_leaves_the_primary_domain_alone_starts_nothing(
    extracted, sim_app, fake_shopify, redis_client, pisim
):
    assert _post(extracted, "domains/create", domain="blog.pi-demo.example").status_code == 200
    graphql_before = len(fake_shopify.calls("graphql"))
    run_worker(sim_app)
    assert len(fake_shopify.calls("graphql")) == graphql_before + 1  # one look, nothing more
    assert pisim.count(EXTRACT) == 1
    assert _config(sim_app)["domain_change"] is None


def test_the_admin_page_api_says_the_brand_is_re_extracting_after_a_domain_change(
    extracted, sim_app, fake_shopify
):
    fake_shopify.set_primary_domain(SHOP, NEW_URL)
    _post(extracted, "shop/update", domain=NEW_HOST)
    view = extracted.get("/shopify/api/brand", headers=bearer(session_token())).json
    assert (view["status"], view["source_domain"], view["domain_change"]) == (
        "queued",
        PRIMARY_HOST,
        NEW_HOST,
    )
    assert view["brand_id"]  # the current brand is still shown meanwhile
    assert ShopBrand().validate(view) == {}  # what /openapi.json documents, no key more
    run_worker(sim_app)
    view = extracted.get("/shopify/api/brand", headers=bearer(session_token())).json
    assert (view["status"], view["source_domain"], view["domain_change"]) == (
        "completed",
        NEW_HOST,
        None,
    )


def test_a_delivery_that_could_not_enqueue_is_processed_on_shopifys_retry(
    extracted, sim_app, fake_shopify, redis_client, monkeypatch
):
    from shopify_app import tasks

    real = tasks.enqueue_extraction
    monkeypatch.setattr(tasks, "enqueue_extraction", lambda *a: 1 / 0)
    body = webhook_body("shop/update", domain=NEW_HOST)
    headers = webhook_headers(body, "shop/update")
    sim_app.config["PROPAGATE_EXCEPTIONS"] = False
    assert extracted.post("/shopify/webhooks", data=body, headers=headers).status_code == 500
    assert _config(sim_app)["domain_change"] is None
    monkeypatch.setattr(tasks, "enqueue_extraction", real)
    retry = extracted.post("/shopify/webhooks", data=body, headers=headers)  # same webhook id
    assert retry.json == {"status": "accepted", "refresh": "started"}
    assert _jobs(redis_client) == ["shopify_app.tasks.extract_brand_for_shop"]


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "fields"),
    [
        ("shop/update", {"domain": None}),
        ("shop/update", {"domain": ""}),
        ("shop/update", {"domain": 42}),
        ("shop/update", {"domain": "not a domain"}),
        ("shop/update", {"domain": "a" * 300 + ".example"}),
        ("shop/update", {"domain": "https://www.pi-demo.example/"}),
        ("domains/update", {"host": None}),
        ("domains/destroy", {"host": ["www.pi-demo.example"]}),
    ],
)
def test_a_domain_payload_without_a_domain_is_a_400_that_stores_nothing(
    shop_client, fake_shopify, redis_client, topic, fields
):
    install(shop_client, fake_shopify)
    keys = set(redis_client.keys())
    response = _post(shop_client, topic, **fields)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json["error"]["code"] == "invalid_webhook_payload"
    assert set(redis_client.keys()) == keys  # no dedupe marker: a fixed retry is processed


@pytest.mark.parametrize("topic", ["shop/update", "domains/update"])
def test_a_domain_webhook_for_a_shop_without_the_app_is_ignored(shop_client, redis_client, topic):
    response = _post(shop_client, topic, shop="unknown-shop.myshopify.com")
    assert response.status_code == 200
    assert response.json == {"status": "ignored", "topic": topic}
    assert redis_client.dbsize() == 0


def test_a_malformed_domain_webhook_body_is_a_400(shop_client, redis_client):
    body = b'{"domain": "www.pi-demo.example"'
    response = shop_client.post(
        "/shopify/webhooks", data=body, headers=webhook_headers(body, "shop/update")
    )
    assert response.status_code == 400 and response.json["error"]["code"] == "invalid_json"
    assert redis_client.dbsize() == 0
