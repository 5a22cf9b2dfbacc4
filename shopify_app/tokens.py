"""Offline access tokens: code exchange, token exchange, refresh, and a per-shop token provider."""

from __future__ import annotations

import logging
import time
from typing import Any

import requests

from shopify_app.errors import ShopifyAuthError, ShopNotInstalled, TokenError
from shopify_app.settings import ShopifySettings
from shopify_app.shops import ShopStore, TokenSet

log = logging.getLogger(__name__)

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
OFFLINE_TOKEN = "urn:shopify:params:oauth:token-type:offline-access-token"
REFRESH_MARGIN = 300.0  # refresh five minutes before expiry, as Shopify recommends
TIMEOUT = 10.0


def _token_set(body: Any, now: float) -> TokenSet:
    """Read Shopify's token response; raise TokenError when it is not one."""
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise TokenError("Shopify's token response holds no access token", status=200)
    expires_in = body.get("expires_in")
    refresh_in = body.get("refresh_token_expires_in")
    return TokenSet(
        access_token=body["access_token"],
        scopes=str(body.get("scope") or ""),
        refresh_token=body.get("refresh_token") or None,
        access_expires_at=now + float(expires_in) if isinstance(expires_in, int | float) else None,
        refresh_expires_at=now + float(refresh_in) if isinstance(refresh_in, int | float) else None,
    )


def request_tokens(
    settings: ShopifySettings, shop: str, grant: dict[str, str], *, session=None
) -> TokenSet:
    """POST one grant to the shop's token endpoint and return the token pair."""
    data = {"client_id": settings.api_key, "client_secret": settings.secret, **grant}
    http = session or requests
    started = time.time()
    try:
        response = http.post(
            settings.admin_url(shop, "/admin/oauth/access_token"),
            data=data,
            headers={"Accept": "application/json"},
            timeout=TIMEOUT,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise TokenError(
            f"Shopify's token endpoint could not be reached ({type(exc).__name__})"
        ) from None
    if response.status_code != 200:
        code = None
        try:
            body = response.json()
            code = body.get("error") if isinstance(body, dict) else None
        except ValueError:
            pass
        code = code if isinstance(code, str) and code.isidentifier() else None
        raise TokenError(
            f"Shopify refused the token request (HTTP {response.status_code}"
            + (f", {code})" if code else ")"),
            status=response.status_code,
            code=code,
        )
    try:
        body = response.json()
    except ValueError:
        raise TokenError("Shopify's token response is not JSON", status=200) from None
    return _token_set(body, started)


def exchange_code(settings: ShopifySettings, shop: str, code: str) -> TokenSet:
    """Exchange an OAuth authorization code for an expiring offline token pair."""
    return request_tokens(settings, shop, {"code": code, "expiring": "1"})


def exchange_session_token(settings: ShopifySettings, shop: str, session_token: str) -> TokenSet:
    """Exchange an App Bridge session token for an expiring offline token pair."""
    return request_tokens(
        settings,
        shop,
        {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": session_token,
            "subject_token_type": ID_TOKEN,
            "requested_token_type": OFFLINE_TOKEN,
            "expiring": "1",
        },
    )


def refresh_tokens(settings: ShopifySettings, shop: str, refresh_token: str) -> TokenSet:
    """Trade a refresh token for a new pair (Shopify rotates the refresh token too)."""
    return request_tokens(
        settings, shop, {"grant_type": "refresh_token", "refresh_token": refresh_token}
    )


class ShopTokens:
    """Hand out a valid access token for one shop, refreshing before expiry and after a 401."""

    def __init__(
        self,
        shops: ShopStore,
        settings: ShopifySettings,
        shop: str,
        install_id: str,
        *,
        margin: float = REFRESH_MARGIN,
    ) -> None:
        self.shops = shops
        self.settings = settings
        self.shop = shop
        self.install_id = install_id
        self.margin = margin

    def _current(self) -> TokenSet:
        record = self.shops.get(self.shop)
        if record is None or record.install_id != self.install_id:
            raise ShopNotInstalled(f"{self.shop} is no longer installed")
        tokens = self.shops.tokens(self.shop)
        if tokens is None:
            raise ShopNotInstalled(f"{self.shop} has no access token")
        return tokens

    def access_token(self) -> str:
        """Return an access token valid for at least the margin."""
        tokens = self._current()
        if tokens.fresh(self.margin):
            return tokens.access_token
        return self._refresh(tokens.access_token)

    def after_unauthorized(self, rejected: str) -> str:
        """Return a new access token after Shopify rejected `rejected` with 401."""
        return self._refresh(rejected)

    def _refresh(self, seen: str) -> str:
        # One refresher per shop: Shopify rotates refresh tokens, so racing refreshes lose one.
        with self.shops.lock(self.shop, "refresh", timeout=30, wait=20) as acquired:
            tokens = self._current()
            if tokens.access_token != seen and tokens.fresh(self.margin):
                return tokens.access_token  # another process refreshed meanwhile
            if not acquired:
                raise TokenError("another process holds the token refresh lock")
            if not tokens.refresh_token:
                self.shops.drop_tokens(self.shop)
                raise ShopifyAuthError(
                    f"Shopify rejected the token of {self.shop}; reinstall needed"
                )
            try:
                new = refresh_tokens(self.settings, self.shop, tokens.refresh_token)
            except TokenError as exc:
                if not exc.retryable:
                    # A refused refresh is final: forget the pair so the next visit reinstalls.
                    self.shops.drop_tokens(self.shop)
                    raise ShopifyAuthError(
                        f"Shopify refused to refresh the token of {self.shop}; reinstall needed",
                        status=exc.status,
                    ) from None
                raise
            if not new.refresh_token:
                new.refresh_token = tokens.refresh_token
            if not self.shops.replace_tokens(self.shop, self.install_id, new):
                raise ShopNotInstalled(f"{self.shop} was uninstalled during a token refresh")
            log.info("refreshed the offline token of %s", self.shop)
            return new.access_token
