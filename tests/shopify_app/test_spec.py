"""Shopify's OpenAPI additions: the shop and timestamp patterns are the checks' own rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.errors import BadRequest
from connector.web.openapi import padded
from shopify_app.verify import SHOP_DOMAIN, require_shop
from tests.shopify_app.helpers import signed_query
from tests.support.properties import PATTERN_EXAMPLES


@PATTERN_EXAMPLES
@given(st.from_regex(padded(SHOP_DOMAIN), fullmatch=True).filter(lambda s: len(s) <= 255))
def test_every_shop_the_documented_pattern_admits_is_accepted(shop):
    assert require_shop(shop).endswith(".myshopify.com")


@pytest.mark.parametrize(
    "shop",
    ["Pi-Demo", " pi-demo.myshopify.com ", "HTTPS://pi-demo.MyShopify.com/admin?x=1"],
)
def test_shops_sanitize_shop_domain_reads_stay_accepted(shop):
    assert require_shop(shop) == "pi-demo.myshopify.com"


@pytest.mark.parametrize(
    "shop", ["https://https://pi-demo.myshopify.com", "pi-demo.myshopify.com/a b", "\u212a.com"]
)
def test_shops_outside_the_pattern_are_refused_first(shop):
    with pytest.raises(BadRequest):
        require_shop(shop)


@pytest.mark.parametrize("timestamp", ["--5", "\u00b2", " 12 3"])
def test_a_timestamp_that_is_not_an_integer_is_400(shop_client, timestamp):
    params = signed_query({"code": "c", "shop": "pi-demo", "state": "s", "timestamp": timestamp})
    response = shop_client.get("/shopify/callback", query_string=params)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_timestamp"
