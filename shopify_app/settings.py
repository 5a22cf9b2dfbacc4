"""The Shopify app's settings, built from the connector's settings when needed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connector.auth import Account, account_id_for
from connector.config import Settings, get_settings
from connector.errors import ServiceUnavailable


@dataclass(frozen=True)
class ShopifySettings:
    """What the Shopify endpoints and tasks need, validated once per use."""

    api_key: str
    secrets: tuple[str, ...] = field(repr=False)  # newest first: SECRET, then SECRET_OLD
    scopes: tuple[str, ...]
    api_version: str
    admin_url_template: str
    public_url: str
    pi_api_key: str = field(repr=False)

    @property
    def secret(self) -> str:
        """Return the current app secret."""
        return self.secrets[0]

    def admin_url(self, shop: str, path: str) -> str:
        """Return the URL of a server-to-server Shopify call for the shop."""
        return self.admin_url_template.format(shop=shop).rstrip("/") + path

    def graphql_url(self, shop: str) -> str:
        """Return the shop's Admin GraphQL endpoint for the configured API version."""
        return self.admin_url(shop, f"/admin/api/{self.api_version}/graphql.json")

    def public(self, path: str) -> str:
        """Return an absolute URL of this connector."""
        return self.public_url.rstrip("/") + path

    def pi_account(self) -> Account:
        """Return the Pi account the Shopify app submits jobs with."""
        return Account(account_id_for(self.pi_api_key), self.pi_api_key)


def parse_scopes(value: Any) -> tuple[str, ...]:
    """Split a comma-separated scope list into distinct, trimmed scopes."""
    parts = value.split(",") if isinstance(value, str) else list(value or ())
    seen: dict[str, None] = {}
    for part in parts:
        scope = str(part).strip()
        if scope:
            seen[scope] = None
    return tuple(seen)


def scopes_cover(granted: Any, required: tuple[str, ...]) -> bool:
    """Return True when the granted scopes include every required one (write_x implies read_x)."""
    have = set(parse_scopes(granted))
    for scope in required:
        implied = scope.startswith("read_") and "write_" + scope[5:] in have
        if scope not in have and not implied:
            return False
    return True


def shopify_settings_from(settings: Settings) -> ShopifySettings:
    """Build the Shopify settings, or raise ServiceUnavailable naming what is missing."""
    required = {
        "SHOPIFY_API_KEY": settings.shopify_api_key,
        "SHOPIFY_API_SECRET": settings.shopify_api_secret,
        "PI_API_KEY": settings.pi_api_key,
    }
    missing = [name for name, value in required.items() if not value]
    if missing:
        raise ServiceUnavailable(
            "the Shopify app is not configured on this connector (missing "
            + ", ".join(missing)
            + ")",
            code="shopify_not_configured",
        )
    secrets = [settings.shopify_api_secret]
    if settings.shopify_api_secret_old:
        secrets.append(settings.shopify_api_secret_old)
    return ShopifySettings(
        api_key=settings.shopify_api_key,
        secrets=tuple(secrets),
        scopes=parse_scopes(settings.shopify_scopes),
        api_version=settings.shopify_api_version,
        admin_url_template=settings.shopify_admin_url_template,
        public_url=settings.public_url,
        pi_api_key=settings.pi_api_key,
    )


def get_shopify_settings() -> ShopifySettings:
    """Return the current app's Shopify settings (503 shopify_not_configured when incomplete)."""
    return shopify_settings_from(get_settings())
