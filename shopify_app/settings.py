"""The Shopify app's settings, read from the Flask config when a request or task needs them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from connector.auth import Account, account_id_for
from connector.errors import ServiceUnavailable

REQUIRED = ("SHOPIFY_API_KEY", "SHOPIFY_API_SECRET", "PI_API_KEY")


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


def load_settings(config: Mapping[str, Any]) -> ShopifySettings:
    """Build the settings from a config, or raise ServiceUnavailable naming what is missing."""
    missing = [name for name in REQUIRED if not config.get(name)]
    if missing:
        raise ServiceUnavailable(
            "the Shopify app is not configured on this connector (missing "
            + ", ".join(missing)
            + ")",
            code="shopify_not_configured",
        )
    secrets = [config["SHOPIFY_API_SECRET"]]
    if config.get("SHOPIFY_API_SECRET_OLD"):
        secrets.append(config["SHOPIFY_API_SECRET_OLD"])
    return ShopifySettings(
        api_key=str(config["SHOPIFY_API_KEY"]),
        secrets=tuple(str(s) for s in secrets),
        scopes=parse_scopes(config.get("SHOPIFY_SCOPES") or ""),
        api_version=str(config.get("SHOPIFY_API_VERSION") or "2026-10"),
        admin_url_template=str(config.get("SHOPIFY_ADMIN_URL_TEMPLATE") or "https://{shop}"),
        public_url=str(config.get("CONNECTOR_PUBLIC_URL") or ""),
        pi_api_key=str(config["PI_API_KEY"]),
    )


def get_settings() -> ShopifySettings:
    """Return the current app's Shopify settings (503 shopify_not_configured when incomplete)."""
    return load_settings(current_app.config)
