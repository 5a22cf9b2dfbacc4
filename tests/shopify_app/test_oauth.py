"""Install with OAuth: shop validation, state, HMAC + timestamp, code exchange, redirects."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import shopify
from werkzeug.datastructures import MultiDict

from connector.config import Settings
from connector.errors import Unauthorized
from shopify_app.settings import shopify_settings_from
from shopify_app.tasks import WEBHOOK_TOPICS
from shopify_app.verify import session_class, verify_oauth_query
from tests.shopify_app.conftest import install
from tests.shopify_app.helpers import API_KEY, OLD_SECRET, PI_KEY, SECRET, SHOP, signed_query

ATTACKS = [
    "evil.com",
    "x.myshopify.com.evil.com",
    "-a.myshopify.com",
    "shop.myshopify.com@evil.com",
    "https://evil.com/.myshopify.com",
    "shop.myshopify.com:8443",
    "sh op.myshopify.com",
    "a" * 300 + ".myshopify.com",
]


def _start(client, shop: str = SHOP) -> str:
    response = client.get(f"/shopify/install?shop={shop}")
    assert response.status_code == 302
    return parse_qs(urlsplit(response.headers["Location"]).query)["state"][0]


def _callback(client, fake, state: str, shop: str = SHOP, secret: str = SECRET, **extra):
    params = signed_query(
        {"code": fake.issue_code(shop), "shop": shop, "state": state, **extra}, secret
    )
    return client.get("/shopify/callback", query_string=params)


def _assert_json_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    assert response.json["error"]["code"] == code
    assert "Location" not in response.headers
    assert "Traceback" not in response.get_data(as_text=True)


# --- ShopifyAPI's HMAC, used without its global state ------------------------------------


def test_shopify_published_hmac_vector_matches():
    params = {
        "shop": "some-shop.myshopify.com",
        "code": "a94a110d86d2452eb3e2af4cfb8a3828",
        "timestamp": "1337178173",
        "hmac": "2cb1a277650a659f1b11e92a4a64275b128e037f2c3390e3c8fd2d8721dac9e2",
    }
    cls = session_class("any-key", "hush")
    assert cls.calculate_hmac(params) == params["hmac"]
    assert cls.validate_hmac(params)
    assert not session_class("any-key", "not-hush").validate_hmac(params)
    settings = shopify_settings_from(
        Settings.load({"SHOPIFY_API_KEY": "k", "SHOPIFY_API_SECRET": "hush", "PI_API_KEY": "p"})
    )
    # The vector's timestamp is from 2012: the HMAC holds, the age does not.
    with pytest.raises(Unauthorized) as exc:
        verify_oauth_query(MultiDict(params), settings)
    assert exc.value.code == "stale_request"
    with pytest.raises(Unauthorized) as exc:
        verify_oauth_query(MultiDict({**params, "code": "b" * 32}), settings)
    assert exc.value.code == "invalid_hmac"


def test_credentials_never_leak_into_shopifyapi_globals():
    before = (shopify.Session.api_key, shopify.Session.secret)
    session_class("key-a", "secret-a")
    session_class("key-b", "secret-b")
    assert (shopify.Session.api_key, shopify.Session.secret) == before
    assert session_class("key-a", "secret-a").secret == "secret-a"
    assert session_class("key-b", "secret-b").secret == "secret-b"


# --- /install -----------------------------------------------------------------------------


def test_install_redirects_to_the_real_shop_authorize_url_with_a_stored_state(
    shop_client, redis_client
):
    response = shop_client.get(f"/shopify/install?shop={SHOP}")
    assert response.status_code == 302
    url = urlsplit(response.headers["Location"])
    assert (url.scheme, url.netloc, url.path) == ("https", SHOP, "/admin/oauth/authorize")
    query = parse_qs(url.query)
    assert query["client_id"] == [API_KEY]
    assert query["scope"] == ["read_products"]
    assert query["redirect_uri"] == ["https://connector.test/shopify/callback"]
    state = query["state"][0]
    assert len(state) >= 32
    key = f"pic:shop:{{{SHOP}}}:state:{state}".encode()
    assert redis_client.exists(key)
    assert 0 < redis_client.ttl(key) <= 600


def test_install_accepts_a_bare_shop_name(shop_client):
    response = shop_client.get("/shopify/install?shop=pi-demo")
    assert urlsplit(response.headers["Location"]).netloc == SHOP


@pytest.mark.parametrize("shop", ATTACKS)
def test_install_refuses_hostile_shop_domains_before_any_redirect(shop_client, redis_client, shop):
    response = shop_client.get("/shopify/install", query_string={"shop": shop})
    _assert_json_error(response, 400, "invalid_shop")
    assert redis_client.dbsize() == 0


def test_install_without_shop_is_a_400(shop_client, redis_client):
    _assert_json_error(shop_client.get("/shopify/install"), 400, "missing_shop")
    _assert_json_error(shop_client.get("/shopify/install?shop="), 400, "missing_shop")
    assert redis_client.dbsize() == 0


def test_install_checks_shopify_signature_when_present(shop_client, redis_client):
    good = signed_query({"shop": SHOP})
    assert shop_client.get("/shopify/install", query_string=good).status_code == 302
    redis_client.flushdb()
    bad = {**good, "hmac": "0" * 64}
    _assert_json_error(shop_client.get("/shopify/install", query_string=bad), 401, "invalid_hmac")
    assert redis_client.dbsize() == 0


# --- /callback ----------------------------------------------------------------------------


def test_callback_exchanges_code_for_expiring_token_and_redirects_into_admin(
    shop_client, shop_app, fake_shopify, redis_client
):
    state = _start(shop_client)
    response = _callback(shop_client, fake_shopify, state)
    assert response.status_code == 302
    assert response.headers["Location"] == f"https://{SHOP}/admin/apps/{API_KEY}"
    (token_call,) = fake_shopify.calls("token")
    assert token_call["grant"] == "code" and token_call["expiring"] == "1"
    # app/uninstalled, then the primary domain's topics, through Admin GraphQL, to our endpoint.
    assert fake_shopify.shops[SHOP].webhooks == [
        {"topic": topic, "uri": "https://connector.test/shopify/webhooks"}
        for topic in WEBHOOK_TOPICS
    ]
    shop_hash = redis_client.hgetall(f"pic:shop:{{{SHOP}}}")
    assert shop_hash[b"scopes"] == b"read_products"
    assert float(shop_hash[b"access_expires_at"]) > time.time() + 3000
    for issued in fake_shopify.issued:
        assert issued.encode() not in b"".join(shop_hash.values())
    with shop_app.app_context():
        from shopify_app.shops import get_shops

        tokens = get_shops().tokens(SHOP)
        assert tokens.access_token in fake_shopify.shops[SHOP].access
        assert tokens.refresh_token == fake_shopify.shops[SHOP].refresh
        assert get_shops().config(SHOP)["status"] == "queued"
    from rq import Queue

    assert Queue("pic-shopify", connection=redis_client).count == 1


def test_callback_state_cannot_be_replayed(shop_client, fake_shopify):
    state = _start(shop_client)
    assert _callback(shop_client, fake_shopify, state).status_code == 302
    _assert_json_error(_callback(shop_client, fake_shopify, state), 403, "invalid_state")
    assert len(fake_shopify.calls("token")) == 1


def test_callback_refuses_state_issued_for_another_shop(shop_client, fake_shopify):
    fake_shopify.add_shop("other-shop.myshopify.com")
    state = _start(shop_client, "other-shop.myshopify.com")
    _assert_json_error(_callback(shop_client, fake_shopify, state), 403, "invalid_state")
    _assert_json_error(_callback(shop_client, fake_shopify, "made-up"), 403, "invalid_state")
    assert fake_shopify.calls("token") == []


def test_callback_with_bad_hmac_is_401_and_keeps_the_state(shop_client, fake_shopify, redis_client):
    state = _start(shop_client)
    before = set(redis_client.keys())
    params = signed_query({"code": fake_shopify.issue_code(SHOP), "shop": SHOP, "state": state})
    params["code"] = "tampered"
    _assert_json_error(
        shop_client.get("/shopify/callback", query_string=params), 401, "invalid_hmac"
    )
    missing = {k: v for k, v in params.items() if k != "hmac"}
    _assert_json_error(
        shop_client.get("/shopify/callback", query_string=missing), 401, "missing_hmac"
    )
    assert set(redis_client.keys()) == before
    assert fake_shopify.calls("token") == []
    assert _callback(shop_client, fake_shopify, state).status_code == 302


def test_callback_with_expired_timestamp_is_refused(shop_client, fake_shopify, redis_client):
    state = _start(shop_client)
    before = set(redis_client.keys())
    old = str(int(time.time()) - 2 * 86400)
    params = signed_query(
        {"code": fake_shopify.issue_code(SHOP), "shop": SHOP, "state": state, "timestamp": old}
    )
    _assert_json_error(
        shop_client.get("/shopify/callback", query_string=params), 401, "stale_request"
    )
    params = signed_query({"code": "c", "shop": SHOP, "state": state, "timestamp": "yesterday"})
    _assert_json_error(
        shop_client.get("/shopify/callback", query_string=params), 400, "invalid_timestamp"
    )
    assert set(redis_client.keys()) == before


@pytest.mark.parametrize("shop", [*ATTACKS, None])
def test_callback_refuses_missing_or_hostile_shop(shop_client, fake_shopify, redis_client, shop):
    params = signed_query(
        {"code": "abc", "state": "s", **({"shop": shop} if shop is not None else {})}
    )
    response = shop_client.get("/shopify/callback", query_string=params)
    _assert_json_error(response, 400, "missing_shop" if shop is None else "invalid_shop")
    assert redis_client.dbsize() == 0


def test_callback_refuses_insufficient_scopes_and_stores_nothing(
    shop_client, fake_shopify, redis_client
):
    fake_shopify.shops[SHOP].granted_scopes = "read_orders"
    state = _start(shop_client)
    _assert_json_error(_callback(shop_client, fake_shopify, state), 403, "insufficient_scopes")
    assert not redis_client.exists(f"pic:shop:{{{SHOP}}}")
    assert redis_client.dbsize() == 0


def test_write_scope_covers_read_scope(shop_client, fake_shopify):
    fake_shopify.shops[SHOP].granted_scopes = "write_products"
    assert _callback(shop_client, fake_shopify, _start(shop_client)).status_code == 302


def test_callback_with_a_code_shopify_refuses_is_502(shop_client, fake_shopify, redis_client):
    state = _start(shop_client)
    params = signed_query({"code": "never-issued", "shop": SHOP, "state": state})
    response = shop_client.get("/shopify/callback", query_string=params)
    _assert_json_error(response, 502, "shopify_token_exchange_failed")
    assert not redis_client.exists(f"pic:shop:{{{SHOP}}}")


def test_callback_signed_with_the_old_secret_passes_during_rotation(shopify_config, fake_shopify):
    from connector import create_app

    rotating = create_app({**shopify_config, "SHOPIFY_API_SECRET_OLD": OLD_SECRET}).test_client()
    assert _callback(rotating, fake_shopify, _start(rotating), secret=OLD_SECRET).status_code == 302
    plain = create_app(shopify_config).test_client()
    _assert_json_error(
        _callback(plain, fake_shopify, _start(plain), secret=OLD_SECRET), 401, "invalid_hmac"
    )


def test_reinstall_after_uninstall_installs_afresh(shop_client, shop_app, fake_shopify):
    from shopify_app import tasks
    from shopify_app.shops import get_shops
    from tests.shopify_app.helpers import bearer, session_token

    install(shop_client, fake_shopify)
    with shop_app.app_context():
        first = get_shops().get(SHOP)
        assert tasks.handle_uninstalled(SHOP, time.time()) == "uninstalled"
        assert get_shops().get(SHOP) is None
    response = shop_client.get("/shopify/api/brand", headers=bearer(session_token()))
    assert response.json["error"]["code"] == "shop_not_installed"
    assert install(shop_client, fake_shopify) == f"https://{SHOP}/admin/apps/{API_KEY}"
    with shop_app.app_context():
        second = get_shops().installed(SHOP)
        assert second is not None and second.install_id != first.install_id
        assert get_shops().config(SHOP)["status"] == "queued"  # a fresh extraction is queued
    assert shop_client.get("/shopify/api/brand", headers=bearer(session_token())).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/shopify/install?shop=" + SHOP,
        "/shopify/app?shop=" + SHOP,
        "/shopify/api/brand",
        "/shopify/callback",
    ],
)
def test_endpoints_answer_503_when_shopify_is_not_configured(client, path):
    response = client.get(path)
    assert response.status_code == 503
    assert response.json["error"]["code"] == "shopify_not_configured"


def test_not_configured_names_the_missing_settings(app_config):
    from connector import create_app

    app = create_app({**app_config, "SHOPIFY_API_KEY": API_KEY, "PI_API_KEY": PI_KEY})
    response = app.test_client().post("/shopify/webhooks", data=b"{}")
    assert response.status_code == 503
    assert "SHOPIFY_API_SECRET" in response.json["error"]["message"]
