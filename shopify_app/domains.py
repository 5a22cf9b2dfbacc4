"""Keep the brand on the primary domain: shop/update and domains/* webhooks, re-extraction."""

from __future__ import annotations

import contextlib
from typing import Any

from connector.errors import BadRequest
from shopify_app import queries, tasks
from shopify_app.errors import ShopNotInstalled
from shopify_app.settings import get_shopify_settings
from shopify_app.shops import get_shops
from shopify_app.verify import normalize_host

SHOP_UPDATE = "shop/update"
# A domain was added, changed or removed: its payload (`host`) does not say which domain is
# primary, so these start a check of the primary domain through Admin GraphQL.
DOMAIN_TOPICS = ("domains/create", "domains/update", "domains/destroy")
TOPICS = (SHOP_UPDATE, *DOMAIN_TOPICS)
CHECK_TTL = 300  # a queued check covers every domain event until it starts


def payload_host(topic: str, payload: dict[str, Any]) -> str:
    """Return the domain a shop/update or domains/* payload names; 400 when it names none."""
    field = "domain" if topic == SHOP_UPDATE else "host"
    host = normalize_host(payload.get(field))
    if host is None:
        raise BadRequest(
            f"the {topic} payload has no valid `{field}` (a domain name)",
            code="invalid_webhook_payload",
        )
    return host


def on_webhook(shop: str, install_id: str, topic: str, host: str) -> str:
    """Act on a domain signal; return `started`, `unchanged` or `checking`."""
    if topic == SHOP_UPDATE:
        # shop/update carries the primary domain itself: compare, no Shopify call needed.
        return refresh_if_moved(shop, install_id, host)
    return enqueue_check(shop, install_id)


def refresh_if_moved(shop: str, install_id: str, host: str) -> str:
    """Start one extraction per new primary domain; `unchanged` when nothing moved."""
    shops = get_shops()
    if not shops.claim_domain_change(shop, install_id, host):
        return "unchanged"
    try:
        # With one already pending, none is added: a queued run reads the new domain when it
        # starts, and a running one extracts again when it ends (tasks._follow_domain_change).
        tasks.enqueue_extraction(shop, install_id)
    except BaseException:
        # Unclaim, so that Shopify's retry of this delivery claims and enqueues again.
        with contextlib.suppress(Exception):
            shops.settle_domain_change(shop, install_id, host)
        raise
    return "started"


def enqueue_check(shop: str, install_id: str) -> str:
    """Queue one look at the primary domain, however many domain events arrive meanwhile."""
    shops = get_shops()
    key = shops.key(shop, "lock", "domain-check")
    if shops.redis.set(key, install_id, nx=True, ex=CHECK_TTL):
        try:
            tasks.enqueue(shop, check_primary_domain, install_id, retry=tasks.RETRY)
        except BaseException:
            shops.redis.delete(key)
            raise
    return "checking"


def check_primary_domain(shop: str, install_id: str) -> str:
    """RQ task: read the primary domain through Admin GraphQL; re-extract when it moved."""
    shops = get_shops()
    # From here on a new domain event needs a new look: this one may read too early for it.
    shops.redis.delete(shops.key(shop, "lock", "domain-check"))
    record = shops.installed(shop)
    if record is None or record.install_id != install_id:
        return "skipped"
    client = tasks.admin_client(get_shopify_settings(), shop, install_id)
    try:
        info = queries.shop_info(client)
    except ShopNotInstalled:
        return "skipped"
    return refresh_if_moved(shop, install_id, info.primary_host)
