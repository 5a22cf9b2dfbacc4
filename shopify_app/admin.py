"""The embedded admin page and its session-token authenticated JSON API."""

from __future__ import annotations

from typing import Any

from flask import jsonify, make_response, render_template, request, url_for

from connector.errors import Unauthorized, UpstreamError
from connector.ledger import BRAND_FIELDS, iso
from shopify_app.blueprint import bp
from shopify_app.errors import TokenError
from shopify_app.install import finish_install
from shopify_app.settings import get_shopify_settings
from shopify_app.shops import get_shops
from shopify_app.tasks import enqueue_extraction
from shopify_app.tokens import exchange_session_token
from shopify_app.verify import require_shop, session_shop


def brand_view(shop: str) -> dict[str, Any]:
    """Return what the admin page shows: status, brand fields, last error, times."""
    config = get_shops().config(shop)
    brand = config["brand"]
    view: dict[str, Any] = {
        "shop": shop,
        "status": config["status"],
        "job_id": config["job_id"],
        "brand_id": config["brand_id"],
    }
    # brand_id comes from the shop config itself; the other brand fields from its summary.
    view.update({k: brand.get(k) for k in BRAND_FIELDS if k != "brand_id"})
    view["source_domain"] = config["source_domain"]
    view["domain_change"] = config["domain_change"]
    view["error"] = config["last_error"]
    view["metafield_error"] = config["metafield_error"]
    view["last_extracted_at"] = iso(config["last_extracted_at"])
    view["updated_at"] = iso(config["updated_at"])
    return view


def _authenticated_shop() -> str:
    """Return the shop of the request's session token (401 on any doubt)."""
    return session_shop(
        request.headers.get("Authorization"), get_shopify_settings(), request.args.get("shop")
    )


def _installed_shop() -> tuple[str, str]:
    """Return the session token's shop and its install id; 401 when not installed."""
    shop = _authenticated_shop()
    record = get_shops().installed(shop)
    if record is None:
        raise Unauthorized("the app is not installed on this shop", code="shop_not_installed")
    return shop, record.install_id


@bp.get("/app")
def app_page():
    """Serve the embedded page; its data comes from the session-token API below."""
    settings = get_shopify_settings()
    shop = require_shop(request.args.get("shop"))
    api_base = url_for("shopify.api_brand").rsplit("/", 1)[0]
    html = render_template(
        "shopify/app.html", api_key=settings.api_key, shop=shop, api_base=api_base
    )
    response = make_response(html)
    response.headers["Content-Security-Policy"] = (
        f"frame-ancestors https://{shop} https://admin.shopify.com;"
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/api/brand")
def api_brand():
    """Return the shop's brand and extraction status."""
    shop, _ = _installed_shop()
    return jsonify(brand_view(shop))


@bp.post("/api/brand/refresh")
def api_brand_refresh():
    """Start a new extraction unless one is pending (a failed job gets a new Pi job)."""
    shop, install_id = _installed_shop()
    enqueued = enqueue_extraction(shop, install_id)
    view = brand_view(shop)
    view["enqueued"] = enqueued
    return jsonify(view), 202


@bp.post("/api/session")
def api_session():
    """Install through token exchange when the shop has no offline token yet (managed install)."""
    settings = get_shopify_settings()
    shop = _authenticated_shop()
    if get_shops().installed(shop) is not None:
        return jsonify({"shop": shop, "installed": True, "exchanged": False})
    raw = request.headers["Authorization"].removeprefix("Bearer ")
    try:
        tokens = exchange_session_token(settings, shop, raw)
    except TokenError as exc:
        raise UpstreamError(exc.message, code="shopify_token_exchange_failed") from None
    finish_install(settings, shop, tokens)
    return jsonify({"shop": shop, "installed": True, "exchanged": True}), 201
