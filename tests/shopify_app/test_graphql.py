"""Admin GraphQL client: throttling (200 THROTTLED, 429 Retry-After), 5xx, errors, userErrors."""

from __future__ import annotations

import json

import pytest

from connector.runtime.backoff import parse_retry_after
from shopify_app import queries
from shopify_app.errors import GraphQLError, ShopifyUnavailable, UserErrors
from shopify_app.graphql import AdminClient, graphql_delay
from shopify_app.settings import get_shopify_settings
from tests.shopify_app.conftest import install
from tests.shopify_app.helpers import SHOP


class StaticTokens:
    """A token provider with a fixed token (refresh is not under test here)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def access_token(self) -> str:
        return self.token

    def after_unauthorized(self, rejected: str) -> str:
        raise AssertionError("no 401 expected")


@pytest.fixture
def admin(shop_client, shop_app, fake_shopify):
    """Return (client, sleeps) for an installed shop, with sleeping recorded instead of done."""
    install(shop_client, fake_shopify)
    token = next(t for t in fake_shopify.shops[SHOP].access)
    sleeps: list[float] = []
    with shop_app.app_context():
        client = AdminClient(
            get_shopify_settings(), SHOP, StaticTokens(token), sleep=sleeps.append, max_attempts=4
        )
        yield client, sleeps


# --- the pure backoff function ------------------------------------------------------------


def no_jitter() -> float:
    return 0.0


def test_graphql_delay_honours_retry_after_capped():
    assert graphql_delay(1, retry_after=2.0) == 2.0
    assert graphql_delay(1, retry_after=0.0) == 0.0
    assert graphql_delay(1, retry_after=600.0) == 10.0


def test_graphql_delay_waits_until_the_bucket_holds_the_query_cost():
    throttle = {"maximumAvailable": 2000.0, "currentlyAvailable": 100.0, "restoreRate": 100.0}
    bucket = {"throttle": throttle, "rand": no_jitter}
    assert graphql_delay(1, requested_cost=400, **bucket) == pytest.approx(3.0)
    assert graphql_delay(1, requested_cost=50, **bucket) == 0.5  # never below the base
    assert graphql_delay(1, requested_cost=50_000, **bucket) == 10.0


def test_graphql_delay_grows_exponentially_with_jitter_and_cap():
    assert [graphql_delay(n, rand=no_jitter) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert graphql_delay(2, rand=lambda: 0.5) == 1.5
    assert graphql_delay(30, rand=no_jitter) == 10.0


def test_parse_retry_after():
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-1") is None
    assert parse_retry_after(None) is None


# --- the client against the fake ----------------------------------------------------------


def test_throttled_answers_are_retried_with_backoff(admin, fake_shopify):
    client, sleeps = admin
    fake_shopify.throttle_next = 2
    info = queries.shop_info(client)
    assert info.primary_url == fake_shopify.shops[SHOP].primary_url
    assert len(sleeps) == 2
    assert all(0.5 <= s <= 1.0 for s in sleeps)  # cost 12, 10 available, 100/s: the base wait


def test_429_is_retried_after_retry_after(admin, fake_shopify):
    client, sleeps = admin
    fake_shopify.rate_limit_next = 1
    fake_shopify.retry_after = "1.5"
    queries.shop_info(client)
    assert sleeps == [1.5]


def test_server_errors_are_retried(admin, fake_shopify):
    client, sleeps = admin
    fake_shopify.fail_next = 2
    queries.shop_info(client)
    assert len(sleeps) == 2


def test_client_gives_up_after_max_attempts(admin, fake_shopify):
    client, sleeps = admin
    fake_shopify.throttle_next = 10
    with pytest.raises(ShopifyUnavailable):
        queries.shop_info(client)
    assert len(sleeps) == 3  # four attempts, three pauses


def test_graphql_errors_are_raised_not_retried(admin):
    client, sleeps = admin
    with pytest.raises(GraphQLError, match="unknown operation"):
        client.execute("query { nothing }")
    assert sleeps == []


def test_metafields_are_set_on_the_app_installation(admin, fake_shopify):
    client, _ = admin
    owner = fake_shopify.shops[SHOP].installation_gid
    fields = {
        "brand_id": "b-1",
        "brand_name": "Demo",
        "domain": "demo.example",
        "primary_hex": "#112233",
        "secondary_hex": "#445566",
        "logo_url": None,
    }
    queries.set_brand_metafields(client, owner, fields)
    saved = fake_shopify.shops[SHOP].metafields
    assert saved[("pi", "brand_id")] == {"type": "single_line_text_field", "value": "b-1"}
    assert saved[("pi", "brand")]["type"] == "json"
    assert json.loads(saved[("pi", "brand")]["value"]) == fields


def test_metafield_user_errors_are_raised(admin, fake_shopify):
    client, _ = admin
    with pytest.raises(UserErrors, match="Owner does not exist"):
        queries.set_brand_metafields(client, "gid://shopify/AppInstallation/0", {"brand_id": "b"})
    assert fake_shopify.shops[SHOP].metafields == {}


def test_existing_webhook_subscription_counts_as_registered(admin, fake_shopify):
    client, _ = admin
    uri = "https://connector.test/shopify/webhooks"
    queries.register_webhook(client, "APP_UNINSTALLED", uri)  # already made by the install
    topics = [w["topic"] for w in fake_shopify.shops[SHOP].webhooks]
    assert topics.count("APP_UNINSTALLED") == 1
    with pytest.raises(UserErrors, match="blank"):
        queries.register_webhook(client, "APP_UNINSTALLED", "")
