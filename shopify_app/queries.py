"""The Admin GraphQL operations the app runs: shop info, brand metafields, webhook registration."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from shopify_app.errors import GraphQLError, UserErrors
from shopify_app.graphql import AdminClient
from shopify_app.verify import normalize_host

NAMESPACE = "pi"

SHOP_QUERY = """
query PiShop {
  shop { name myshopifyDomain primaryDomain { url host } }
  currentAppInstallation { id }
}
"""

METAFIELDS_SET = """
mutation PiBrandMetafields($metafields: [MetafieldsSetInput!]!) {
  metafieldsSet(metafields: $metafields) {
    metafields { key namespace value }
    userErrors { field message code }
  }
}
"""

WEBHOOK_CREATE = """
mutation PiWebhook($topic: WebhookSubscriptionTopic!, $subscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $subscription) {
    webhookSubscription { id }
    userErrors { field message }
  }
}
"""


@dataclass(frozen=True)
class ShopInfo:
    """What the extraction needs to know about the shop."""

    name: str | None
    primary_url: str
    installation_gid: str
    primary_host: str = ""


def shop_info(client: AdminClient) -> ShopInfo:
    """Read the shop's primary domain and the current app installation id."""
    data = client.execute(SHOP_QUERY)
    shop = data.get("shop") or {}
    url = (shop.get("primaryDomain") or {}).get("url")
    installation = (data.get("currentAppInstallation") or {}).get("id")
    if not isinstance(url, str) or not url or not isinstance(installation, str):
        raise GraphQLError("Admin GraphQL did not return the shop's primary domain")
    host = normalize_host((shop.get("primaryDomain") or {}).get("host"))
    return ShopInfo(
        name=shop.get("name"),
        primary_url=url,
        installation_gid=installation,
        primary_host=host or normalize_host(urlsplit(url).hostname) or "",
    )


def brand_metafields(owner_id: str, fields: dict[str, Any]) -> list[dict[str, str]]:
    """Return the metafieldsSet inputs for a brand: `pi.brand_id` and `pi.brand` (json)."""
    return [
        {
            "ownerId": owner_id,
            "namespace": NAMESPACE,
            "key": "brand_id",
            "type": "single_line_text_field",
            "value": str(fields["brand_id"]),
        },
        {
            "ownerId": owner_id,
            "namespace": NAMESPACE,
            "key": "brand",
            "type": "json",
            "value": json.dumps(fields, sort_keys=True),
        },
    ]


def set_brand_metafields(client: AdminClient, owner_id: str, fields: dict[str, Any]) -> None:
    """Write the brand metafields on the app installation; raise UserErrors when refused."""
    data = client.execute(METAFIELDS_SET, {"metafields": brand_metafields(owner_id, fields)})
    result = data.get("metafieldsSet") or {}
    errors = result.get("userErrors") or []
    if errors:
        text = "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict))
        raise UserErrors(f"Shopify refused the brand metafields: {text}"[:500], errors)


def register_webhook(client: AdminClient, topic: str, uri: str) -> None:
    """Subscribe the shop's `topic` (e.g. APP_UNINSTALLED) to our webhook endpoint."""
    data = client.execute(WEBHOOK_CREATE, {"topic": topic, "subscription": {"uri": uri}})
    result = data.get("webhookSubscriptionCreate") or {}
    errors = [e for e in result.get("userErrors") or [] if isinstance(e, dict)]
    # Shopify answers "already been taken" for a subscription that exists: that is success.
    real = [e for e in errors if "taken" not in str(e.get("message", "")).lower()]
    if real:
        text = "; ".join(str(e.get("message")) for e in real)
        raise UserErrors(f"Shopify refused the webhook subscription: {text}"[:500], real)
