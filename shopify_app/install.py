"""Finish an installation, whichever way it came in (OAuth callback or token exchange)."""

from __future__ import annotations

import logging

from connector.errors import ApiError
from shopify_app import tasks
from shopify_app.errors import ShopifyError
from shopify_app.settings import ShopifySettings, scopes_cover
from shopify_app.shops import TokenSet, get_shops

log = logging.getLogger(__name__)


def finish_install(settings: ShopifySettings, shop: str, tokens: TokenSet) -> str:
    """Check scopes, store the shop, subscribe its webhooks, enqueue the extraction."""
    if not scopes_cover(tokens.scopes, settings.scopes):
        raise ApiError(
            "the app was not granted every scope it needs (" + ", ".join(settings.scopes) + ")",
            code="insufficient_scopes",
            status=403,
        )
    install_id = get_shops().save_install(shop, tokens)
    try:
        # Two quick attempts inline; the queue keeps trying if Shopify is slow right now.
        tasks.register_webhooks(shop, install_id, max_attempts=2)
    except ShopifyError as exc:
        log.warning("webhook registration for %s deferred: %s", shop, type(exc).__name__)
        tasks.enqueue(shop, tasks.register_webhooks, install_id, retry=tasks.RETRY)
    tasks.enqueue_extraction(shop, install_id)
    # The merchant is told the install worked: the shop and its queued work must be on a
    # replica (503 otherwise; re-opening the app re-runs the install, which is idempotent).
    shops = get_shops()
    shops.store.confirm_replicated(shops.key(shop))
    return install_id
