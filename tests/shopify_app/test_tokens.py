"""Expiring offline tokens: stored encrypted as one pair, refreshed before expiry and on 401."""

from __future__ import annotations

import threading
import time

import pytest

from connector.runtime.secrets import rotate_all
from shopify_app import queries
from shopify_app.errors import ShopifyAuthError
from shopify_app.settings import get_shopify_settings
from shopify_app.shops import TokenSet, get_shops
from shopify_app.tasks import admin_client
from shopify_app.tokens import ShopTokens
from tests.shopify_app.conftest import install
from tests.shopify_app.helpers import SHOP, dump_redis
from tests.support.constants import TEST_SECRET_KEY

NEW_KEY = "q7mkGv6Qd1Yk0x2cPZ4w3bQz9n8s7r6t5y4u3i2o1pA="


def _provider(app) -> ShopTokens:
    record = get_shops().get(SHOP)
    return ShopTokens(get_shops(), get_shopify_settings(), SHOP, record.install_id)


def test_tokens_are_stored_encrypted_never_in_clear(shop_client, fake_shopify, redis_client):
    install(shop_client, fake_shopify)
    dump = dump_redis(redis_client)
    assert fake_shopify.issued  # a code, an access token and a refresh token
    for secret in fake_shopify.issued:
        assert secret.encode() not in dump


def test_token_close_to_expiry_is_refreshed_before_use(shop_client, shop_app, fake_shopify):
    install(shop_client, fake_shopify)
    with shop_app.app_context():
        # Two minutes left: inside the five-minute refresh margin.
        get_shops().redis.hset(get_shops().key(SHOP), "access_expires_at", repr(time.time() + 120))
        old = get_shops().tokens(SHOP)
        token = _provider(shop_app).access_token()
        new = get_shops().tokens(SHOP)
    assert token != old.access_token and token == new.access_token
    assert new.refresh_token == fake_shopify.shops[SHOP].refresh != old.refresh_token
    assert [c["grant"] for c in fake_shopify.calls("token")] == ["code", "refresh_token"]


def test_fresh_token_is_used_without_refresh(shop_client, shop_app, fake_shopify):
    install(shop_client, fake_shopify)
    with shop_app.app_context():
        assert _provider(shop_app).access_token() == get_shops().tokens(SHOP).access_token
    assert [c["grant"] for c in fake_shopify.calls("token")] == ["code"]


def test_expired_token_is_refreshed_and_the_call_retried_once(shop_client, shop_app, fake_shopify):
    install(shop_client, fake_shopify)
    fake_shopify.expire_access_tokens(SHOP)  # Shopify now answers 401 to the stored token
    graphql_before = len(fake_shopify.calls("graphql"))
    with shop_app.app_context():
        record = get_shops().get(SHOP)
        info = queries.shop_info(admin_client(get_shopify_settings(), SHOP, record.install_id))
    assert info.installation_gid == fake_shopify.shops[SHOP].installation_gid
    assert len(fake_shopify.calls("graphql")) - graphql_before == 2  # 401, then success
    assert [c["grant"] for c in fake_shopify.calls("token")] == ["code", "refresh_token"]


def test_a_second_401_after_refresh_is_not_retried_again(shop_client, shop_app, fake_shopify):
    install(shop_client, fake_shopify)
    fake_shopify.reject_tokens = True
    graphql_before = len(fake_shopify.calls("graphql"))
    with shop_app.app_context(), pytest.raises(ShopifyAuthError):
        queries.shop_info(
            admin_client(get_shopify_settings(), SHOP, get_shops().get(SHOP).install_id)
        )
    assert len(fake_shopify.calls("graphql")) - graphql_before == 2
    assert [c["grant"] for c in fake_shopify.calls("token")] == ["code", "refresh_token"]


def test_refused_refresh_drops_the_pair_so_the_shop_reinstalls(shop_client, shop_app, fake_shopify):
    install(shop_client, fake_shopify)
    fake_shopify.expire_access_tokens(SHOP)
    fake_shopify.refresh_refused = True
    with shop_app.app_context():
        with pytest.raises(ShopifyAuthError):
            queries.shop_info(
                admin_client(get_shopify_settings(), SHOP, get_shops().get(SHOP).install_id)
            )
        assert get_shops().installed(SHOP) is None
        assert get_shops().tokens(SHOP) is None


def test_concurrent_refreshes_use_the_refresh_token_once(shop_client, shop_app, fake_shopify):
    install(shop_client, fake_shopify)
    with shop_app.app_context():
        stale = get_shops().tokens(SHOP).access_token
    results: list[str] = []
    barrier = threading.Barrier(4)

    def refresh() -> None:
        with shop_app.app_context():
            provider = _provider(shop_app)
            barrier.wait()
            results.append(provider.after_unauthorized(stale))

    threads = [threading.Thread(target=refresh) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 4 and len(set(results)) == 1
    assert [c["grant"] for c in fake_shopify.calls("token")] == ["code", "refresh_token"]


def test_refreshed_pair_is_not_written_for_an_uninstalled_shop(shop_client, shop_app, fake_shopify):
    install(shop_client, fake_shopify)
    with shop_app.app_context():
        shops = get_shops()
        install_id = shops.get(SHOP).install_id
        shops.drop_install(SHOP)
        pair = TokenSet(
            access_token="shpat_late", refresh_token="shprt_late", access_expires_at=1e12
        )
        assert shops.replace_tokens(SHOP, install_id, pair) is False
        assert shops.tokens(SHOP) is None
        assert not shops.redis.exists(shops.key(SHOP))


def test_pair_is_replaced_in_one_write(shop_client, shop_app, fake_shopify, redis_client):
    install(shop_client, fake_shopify)
    with shop_app.app_context():
        shops = get_shops()
        pair = TokenSet(access_token="shpat_new", refresh_token="shprt_new", access_expires_at=1e12)
        redis_client.config_resetstat()
        assert shops.replace_tokens(SHOP, shops.get(SHOP).install_id, pair)
        stats = redis_client.info("commandstats")
        # One atomic script doing one HSET of every field: no moment with half a pair.
        assert stats["cmdstat_evalsha"]["calls"] == 1
        assert stats["cmdstat_hset"]["calls"] == 1
        got = shops.tokens(SHOP)
    assert (got.access_token, got.refresh_token) == ("shpat_new", "shprt_new")


def test_rotate_keys_re_encrypts_shop_tokens(shopify_config, shop_client, shop_app, fake_shopify):
    from connector import create_app

    install(shop_client, fake_shopify)
    with shop_app.app_context():
        original = get_shops().tokens(SHOP)
    rotated_app = create_app(
        {**shopify_config, "CONNECTOR_SECRET_KEY": f"{NEW_KEY},{TEST_SECRET_KEY}"}
    )
    with rotated_app.app_context():
        assert rotate_all() >= 2  # the access and the refresh token
    new_only = create_app({**shopify_config, "CONNECTOR_SECRET_KEY": NEW_KEY})
    with new_only.app_context():
        again = get_shops().tokens(SHOP)
    assert (again.access_token, again.refresh_token) == (
        original.access_token,
        original.refresh_token,
    )


def test_rotate_keys_cli_covers_shop_tokens(
    shopify_config, shop_client, fake_shopify, monkeypatch, capsys
):
    from connector import create_app
    from connector.cli import main

    install(shop_client, fake_shopify)
    monkeypatch.setenv("REDIS_URL", shopify_config["REDIS_URL"])
    monkeypatch.setenv("PI_BASE_URL", shopify_config["PI_BASE_URL"])
    monkeypatch.setenv("CONNECTOR_SECRET_KEY", f"{NEW_KEY},{TEST_SECRET_KEY}")
    assert main(["rotate-keys"]) == 0
    assert "re-encrypted 2 stored secret(s)" in capsys.readouterr().out
    with create_app({**shopify_config, "CONNECTOR_SECRET_KEY": NEW_KEY}).app_context():
        assert get_shops().tokens(SHOP).access_token in fake_shopify.shops[SHOP].access
