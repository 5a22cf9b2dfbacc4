"""Failures of server-to-server Shopify calls, under one root."""

from __future__ import annotations


class ShopifyError(Exception):
    """A Shopify call failed; the message is ours and never carries a token."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ShopifyUnavailable(ShopifyError):
    """Shopify could not be reached, kept answering 5xx, or kept throttling us."""

    retryable = True


class ShopifyAuthError(ShopifyError):
    """Shopify rejected the shop's token even after a refresh: the app needs reinstalling."""


class TokenError(ShopifyError):
    """Shopify refused a token request (code exchange, token exchange or refresh)."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message, status=status)
        self.code = code
        # A refused grant is final; a 5xx or a dropped connection is worth another try.
        self.retryable = status is None or status >= 500 or status == 429


class GraphQLError(ShopifyError):
    """Admin GraphQL answered with errors (other than throttling)."""


class UserErrors(ShopifyError):
    """A mutation answered with userErrors."""

    def __init__(self, message: str, errors: list[dict]) -> None:
        super().__init__(message)
        self.errors = errors


class ShopNotInstalled(ShopifyError):
    """The shop has no current installation (never installed, uninstalled, or tokens dropped)."""
