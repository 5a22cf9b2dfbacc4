"""Install with OAuth: /shopify/install redirects to Shopify, /shopify/callback finishes."""

from __future__ import annotations

from flask import redirect, request

from connector.errors import ApiError, BadRequest, UpstreamError
from shopify_app.blueprint import bp
from shopify_app.errors import TokenError
from shopify_app.install import finish_install
from shopify_app.settings import get_shopify_settings
from shopify_app.shops import get_shops
from shopify_app.tokens import exchange_code
from shopify_app.verify import permission_url, require_shop, verify_oauth_query


@bp.get("/install")
def install():
    """Validate the shop, store a one-time state, and send the merchant to Shopify's consent."""
    settings = get_shopify_settings()
    shop = require_shop(request.args.get("shop"))
    if "hmac" in request.args:  # Shopify signs the app-URL visit; a typed-in shop is unsigned
        verify_oauth_query(request.args, settings)
    state = get_shops().new_state(shop)
    url = permission_url(settings, shop, state, settings.public("/shopify/callback"))
    return redirect(url, code=302)


@bp.get("/callback")
def callback():
    """Verify Shopify's redirect, exchange the code, store the shop and start the extraction."""
    settings = get_shopify_settings()
    shop = require_shop(request.args.get("shop"))
    verify_oauth_query(request.args, settings)
    code = request.args.get("code")
    if not code:
        raise BadRequest("the callback carries no authorization code", code="missing_code")
    if not get_shops().consume_state(shop, request.args.get("state", "")):
        raise ApiError(
            "unknown, expired or already used OAuth state; start the install again",
            code="invalid_state",
            status=403,
        )
    try:
        tokens = exchange_code(settings, shop, code)
    except TokenError as exc:
        raise UpstreamError(exc.message, code="shopify_token_exchange_failed") from None
    finish_install(settings, shop, tokens)
    return redirect(f"https://{shop}/admin/apps/{settings.api_key}", code=302)
