"""The embedded page and its session-token API: auth, install check, refresh, token exchange."""

from __future__ import annotations

import re

import pytest
from rq import Queue

from shopify_app.shops import get_shops
from tests.shopify_app.conftest import install
from tests.shopify_app.helpers import (
    API_KEY,
    OLD_SECRET,
    SHOP,
    bearer,
    dump_redis,
    session_token,
)

OTHER = "other-shop.myshopify.com"


def _error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.json["error"]["code"] == code
    assert "Traceback" not in response.get_data(as_text=True)


# --- the page -----------------------------------------------------------------------------


def test_page_loads_app_bridge_first_and_frames_only_in_the_admin(shop_client):
    response = shop_client.get(f"/shopify/app?shop={SHOP}&host=abc&embedded=1")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'<meta name="shopify-api-key" content="{API_KEY}">' in html
    scripts = re.findall(r"<script[^>]*src=\"([^\"]+)\"", html)
    assert scripts[0] == "https://cdn.shopify.com/shopifycloud/app-bridge.js"
    assert "/shopify/static/app.js" in scripts[1]
    csp = response.headers["Content-Security-Policy"]
    assert csp == f"frame-ancestors https://{SHOP} https://admin.shopify.com;"
    assert shop_client.get("/shopify/static/app.js").status_code == 200
    assert shop_client.get("/shopify/static/app.css").status_code == 200


@pytest.mark.parametrize(
    "query,code",
    [
        ("", "missing_shop"),
        ("?shop=evil.com", "invalid_shop"),
        ("?shop=x.myshopify.com.evil.com", "invalid_shop"),
    ],
)
def test_page_refuses_missing_or_hostile_shop(shop_client, query, code):
    response = shop_client.get("/shopify/app" + query)
    _error(response, 400, code)
    assert "Content-Security-Policy" not in response.headers


# --- session token authentication -----------------------------------------------------------


@pytest.fixture
def installed(shop_client, fake_shopify):
    install(shop_client, fake_shopify)
    return shop_client


def test_brand_api_returns_the_shop_config(installed):
    response = installed.get("/shopify/api/brand", headers=bearer(session_token()))
    assert response.status_code == 200
    view = response.json
    assert view["shop"] == SHOP and view["status"] == "queued"
    assert set(view) >= {
        "brand_id",
        "brand_name",
        "domain",
        "primary_hex",
        "secondary_hex",
        "logo_url",
        "error",
        "last_extracted_at",
        "job_id",
    }


def test_missing_session_token_is_401_and_stores_nothing(installed, redis_client):
    before = set(redis_client.keys())
    _error(installed.get("/shopify/api/brand"), 401, "missing_session_token")
    _error(installed.post("/shopify/api/brand/refresh"), 401, "missing_session_token")
    _error(installed.post("/shopify/api/session"), 401, "missing_session_token")
    assert set(redis_client.keys()) == before


@pytest.mark.parametrize(
    "token",
    [
        session_token(secret="shpss_someone_elses_secret_0123456789"),
        session_token(api_key="another-app"),
        session_token(lifetime=-120),
        session_token(exp=None),
        session_token(sid=None),
        "not.a.jwt",
    ],
    ids=["bad_signature", "wrong_audience", "expired", "no_expiry", "missing_claim", "garbage"],
)
def test_invalid_session_tokens_are_401(installed, token, redis_client):
    before = set(redis_client.keys())
    _error(installed.get("/shopify/api/brand", headers=bearer(token)), 401, "invalid_session_token")
    _error(
        installed.post("/shopify/api/brand/refresh", headers=bearer(token)),
        401,
        "invalid_session_token",
    )
    assert set(redis_client.keys()) == before


def test_non_bearer_header_is_401(installed):
    response = installed.get(
        "/shopify/api/brand", headers={"Authorization": "Basic " + session_token()}
    )
    _error(response, 401, "invalid_session_token")


def test_token_whose_dest_is_another_shop_is_refused(installed):
    mixed = session_token(iss=f"https://{SHOP}/admin", dest=f"https://{OTHER}")
    _error(
        installed.get("/shopify/api/brand", headers=bearer(mixed)),
        401,
        "session_token_shop_mismatch",
    )
    # A genuine token of another shop cannot read this shop's data by naming it.
    other = session_token(OTHER)
    response = installed.get(f"/shopify/api/brand?shop={SHOP}", headers=bearer(other))
    _error(response, 401, "session_token_shop_mismatch")


def test_token_for_a_shop_that_is_not_installed_is_401(installed):
    _error(
        installed.get("/shopify/api/brand", headers=bearer(session_token(OTHER))),
        401,
        "shop_not_installed",
    )
    _error(
        installed.post("/shopify/api/brand/refresh", headers=bearer(session_token(OTHER))),
        401,
        "shop_not_installed",
    )


def test_token_signed_with_the_old_secret_works_during_rotation(shopify_config, fake_shopify):
    from connector import create_app

    client = create_app({**shopify_config, "SHOPIFY_API_SECRET_OLD": OLD_SECRET}).test_client()
    install(client, fake_shopify)
    assert (
        client.get(
            "/shopify/api/brand", headers=bearer(session_token(secret=OLD_SECRET))
        ).status_code
        == 200
    )


# --- refresh ------------------------------------------------------------------------------


def test_double_click_refresh_enqueues_one_extraction(installed, shop_app, redis_client):
    queue = Queue("pic-shopify", connection=redis_client)
    queue.empty()
    with shop_app.app_context():
        get_shops().redis.delete(get_shops().key(SHOP, "lock", "extract"))
    first = installed.post("/shopify/api/brand/refresh", headers=bearer(session_token()))
    second = installed.post("/shopify/api/brand/refresh", headers=bearer(session_token()))
    assert (first.status_code, second.status_code) == (202, 202)
    assert (first.json["enqueued"], second.json["enqueued"]) == (True, False)
    assert second.json["status"] == "queued"
    assert queue.count == 1


# --- token exchange (managed install, the second way in) ----------------------------------


def test_session_token_is_exchanged_for_an_expiring_offline_token(
    shop_client, shop_app, fake_shopify, redis_client
):
    token = session_token()
    _error(shop_client.get("/shopify/api/brand", headers=bearer(token)), 401, "shop_not_installed")
    response = shop_client.post("/shopify/api/session", headers=bearer(token))
    assert response.status_code == 201 and response.json["exchanged"] is True
    (call,) = fake_shopify.calls("token")
    assert call["grant"] == "urn:ietf:params:oauth:grant-type:token-exchange"
    assert call["expiring"] == "1"
    with shop_app.app_context():
        assert get_shops().installed(SHOP) is not None
        assert get_shops().tokens(SHOP).refresh_token == fake_shopify.shops[SHOP].refresh
    assert fake_shopify.shops[SHOP].webhooks[0]["topic"] == "APP_UNINSTALLED"
    assert Queue("pic-shopify", connection=redis_client).count == 1
    assert (
        shop_client.get("/shopify/api/brand", headers=bearer(session_token())).json["status"]
        == "queued"
    )
    again = shop_client.post("/shopify/api/session", headers=bearer(session_token()))
    assert again.status_code == 200 and again.json["exchanged"] is False
    assert len(fake_shopify.calls("token")) == 1
    assert token.encode() not in dump_redis(redis_client)


def test_refused_token_exchange_is_502_and_stores_nothing(shop_client, fake_shopify, redis_client):
    del fake_shopify.shops[SHOP]  # Shopify does not know the shop
    response = shop_client.post("/shopify/api/session", headers=bearer(session_token()))
    _error(response, 502, "shopify_token_exchange_failed")
    assert redis_client.dbsize() == 0
