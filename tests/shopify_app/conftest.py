"""Fixtures for the Shopify app: a fake Shopify, app settings, a worker, an installed shop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.shopify_app.fake_shopify import FakeShopify
from tests.shopify_app.helpers import API_KEY, PI_KEY, SECRET, SHOP, signed_query


@pytest.fixture
def fake_shopify() -> Iterator[FakeShopify]:
    """Run a fake Shopify (token endpoint + Admin GraphQL) on a loopback port."""
    fake = FakeShopify().start()
    fake.add_shop(SHOP)
    yield fake
    fake.stop()


@pytest.fixture
def shopify_config(app_config: dict, fake_shopify: FakeShopify) -> dict:
    """Return app settings with the Shopify app configured against the fake."""
    return {
        **app_config,
        "PI_API_KEY": PI_KEY,
        "SHOPIFY_API_KEY": API_KEY,
        "SHOPIFY_API_SECRET": SECRET,
        "SHOPIFY_SCOPES": "read_products",
        "SHOPIFY_ADMIN_URL_TEMPLATE": fake_shopify.template,
        "CONNECTOR_PUBLIC_URL": "https://connector.test",
    }


@pytest.fixture
def shop_app(shopify_config: dict):
    """Return an app with the Shopify app configured (Pi unreachable)."""
    from connector import create_app

    return create_app(shopify_config)


@pytest.fixture
def shop_client(shop_app):
    return shop_app.test_client()


@pytest.fixture
def sim_app(shopify_config: dict, pisim):
    """Return an app with the Shopify app configured and Pi = the simulator."""
    from connector import create_app

    return create_app({**shopify_config, "PI_BASE_URL": pisim.base_url})


def run_worker(app) -> None:
    """Follow every in-flight job and run every queued task in this process until idle."""
    from connector.worker import run_until_idle

    run_until_idle(app)


def extraction_asking_pi(app, pisim, shop: str = SHOP) -> tuple[threading.Thread, list[str]]:
    """Run the shop's extraction task on a thread; return once it has asked Pi for the job."""
    from shopify_app.shops import get_shops
    from shopify_app.tasks import extract_brand_for_shop

    with app.app_context():
        install_id = get_shops().get(shop).install_id
    asked = pisim.count("POST /api/v1/brands/extract")
    outcome: list[str] = []

    def work() -> None:
        with app.app_context():
            outcome.append(extract_brand_for_shop(shop, install_id))

    thread = threading.Thread(target=work)
    thread.start()
    deadline = time.monotonic() + 10
    while pisim.count("POST /api/v1/brands/extract") == asked and time.monotonic() < deadline:
        time.sleep(0.02)
    return thread, outcome


def install(client, fake: FakeShopify, shop: str = SHOP) -> str:
    """Go through /install and /callback for a shop; return the callback's redirect target."""
    response = client.get(f"/shopify/install?shop={shop}")
    assert response.status_code == 302, response.get_data(as_text=True)
    state = parse_qs(urlsplit(response.headers["Location"]).query)["state"][0]
    params = signed_query(
        {
            "code": fake.issue_code(shop),
            "shop": shop,
            "state": state,
            "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvcGktZGVtbw",
        }
    )
    response = client.get("/shopify/callback", query_string=params)
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def stack_env(fake: FakeShopify) -> dict[str, str]:
    """Return the environment that configures the Shopify app of a live stack."""
    return {
        "PI_API_KEY": PI_KEY,
        "SHOPIFY_API_KEY": API_KEY,
        "SHOPIFY_API_SECRET": SECRET,
        "SHOPIFY_SCOPES": "read_products",
        "SHOPIFY_ADMIN_URL_TEMPLATE": fake.template,
    }


@pytest.fixture
def shop_stack(redis_url: str, pisim, fake_shopify: FakeShopify):
    """Run web (gunicorn) + worker processes configured for the fake Shopify and the simulator."""
    from tests.support.stack import LiveStack

    stack = LiveStack(redis_url, pisim.base_url, stack_env(fake_shopify)).start()
    yield stack
    stack.stop()
