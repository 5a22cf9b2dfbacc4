"""Everything that proves a request came from Shopify: shop domains, OAuth HMAC, webhooks, JWTs."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from typing import Any
from urllib.parse import urlsplit

import shopify
from shopify import session_token
from shopify.utils.shop_url import sanitize_shop_domain
from werkzeug.datastructures import MultiDict

from connector.errors import BadRequest, Unauthorized
from connector.pi.validation import SPACE
from shopify_app.settings import ShopifySettings

_NAME = "[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]"
# A shop as sanitize_shop_domain reads it (after trimming): its name, or its myshopify.com
# domain and a path, each with or without http(s)://. Checked first, so it is the rule.
SHOP_DOMAIN = re.compile(
    f"^(?:[hH][tT][tT][pP][sS]?://)?(?:{_NAME}|{_NAME}"
    r"\.[mM][yY][sS][hH][oO][pP][iI][fF][yY]\.[cC][oO][mM]"
    f"(?:[/?#][^{SPACE}]*)?)$"
)
# Epoch seconds, as Shopify signs them (and as int() reads them once trimmed).
TIMESTAMP = re.compile(r"^-?[0-9]+$")
_LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# A host name (a shop's primary domain), lower case, without a trailing dot.
HOST = re.compile(f"^(?=.{{1,253}}$)(?:{_LABEL}\\.)*{_LABEL}$")


def require_shop(value: Any) -> str:
    """Return the canonical myshopify domain, or raise 400 before anything else happens."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise BadRequest("the shop parameter is required", code="missing_shop")
    shop = None
    if isinstance(value, str) and len(value) <= 255 and SHOP_DOMAIN.match(value.strip()):
        shop = sanitize_shop_domain(value)
    if not shop:
        raise BadRequest(
            "shop must be a shop's myshopify.com domain, e.g. example.myshopify.com",
            code="invalid_shop",
        )
    return shop


def normalize_host(value: Any) -> str | None:
    """Return a domain as one spelling (lower case, no trailing dot), or None when it is none."""
    if not isinstance(value, str):
        return None
    host = value.strip().rstrip(".").lower()
    return host if HOST.fullmatch(host) else None


@functools.lru_cache(maxsize=8)
def session_class(api_key: str, secret: str) -> type[shopify.Session]:
    """Return a Session subclass carrying one app's credentials."""
    # ShopifyAPI keeps key and secret on the Session class (global state); a subclass per
    # credential pair gives its HMAC and permission-URL helpers our values, no lock, no leak.
    return type("PiShopifySession", (shopify.Session,), {"api_key": api_key, "secret": secret})


def query_params(args: MultiDict) -> dict[str, Any]:
    """Return query parameters the way ShopifyAPI signs them (`x[]` keys keep every value)."""
    return {k: (args.getlist(k) if k.endswith("[]") else args.get(k)) for k in args}


def verify_oauth_query(args: MultiDict, settings: ShopifySettings) -> None:
    """Check the HMAC and the timestamp of a request Shopify signed; raise 400/401 when wrong."""
    params = query_params(args)
    if not params.get("hmac"):
        raise Unauthorized("the request carries no Shopify HMAC", code="missing_hmac")
    timestamp = params.get("timestamp")
    if not isinstance(timestamp, str) or not TIMESTAMP.match(timestamp.strip()):
        raise BadRequest("timestamp must be an integer (epoch seconds)", code="invalid_timestamp")
    for secret in settings.secrets:  # the current secret, then the old one during rotation
        cls = session_class(settings.api_key, secret)
        if cls.validate_params(params):
            return
        if cls.validate_hmac(params):
            raise Unauthorized(
                "the request is too old; start the install again", code="stale_request"
            )
    raise Unauthorized("the Shopify HMAC does not match", code="invalid_hmac")


def permission_url(settings: ShopifySettings, shop: str, state: str, redirect_uri: str) -> str:
    """Return Shopify's authorize URL on the shop's real domain (never the admin URL template)."""
    cls = session_class(settings.api_key, settings.secret)
    session = cls(shop, settings.api_version)
    return session.create_permission_url(
        scope=list(settings.scopes), redirect_uri=redirect_uri, state=state
    )


def webhook_signature(body: bytes, secret: str) -> str:
    """Return the base64 HMAC-SHA256 of a webhook body, as Shopify sends it."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def webhook_hmac_valid(body: bytes, header: str | None, secrets: tuple[str, ...]) -> bool:
    """Return True when the header matches the raw body under the current or the old secret."""
    if not header:
        return False
    given = header.strip().encode()
    return any(
        hmac.compare_digest(webhook_signature(body, secret).encode(), given) for secret in secrets
    )


def session_shop(
    header: str | None, settings: ShopifySettings, requested: str | None = None
) -> str:
    """Verify an App Bridge session token and return the shop it was issued for (its `dest`)."""
    if not header:
        raise Unauthorized(
            "a session token is required (Authorization: Bearer <token>)",
            code="missing_session_token",
        )
    payload = None
    mismatch = False
    for secret in settings.secrets:
        try:
            payload = session_token.decode_from_header(header, settings.api_key, secret)
            break
        except (session_token.MismatchedHostsError, session_token.InvalidIssuerError):
            mismatch = True  # signed by us, but its issuer and destination disagree
        except session_token.SessionTokenError:
            continue
    if payload is None:
        if mismatch:
            raise Unauthorized(
                "the session token's shop does not match its issuer",
                code="session_token_shop_mismatch",
            )
        raise Unauthorized("the session token is invalid or expired", code="invalid_session_token")
    if "exp" not in payload:
        raise Unauthorized("the session token has no expiry", code="invalid_session_token")
    shop = sanitize_shop_domain(urlsplit(str(payload.get("dest", ""))).hostname or "")
    if not shop:
        raise Unauthorized("the session token names no shop", code="invalid_session_token")
    if requested and sanitize_shop_domain(requested) != shop:
        raise Unauthorized(
            "the session token was issued for another shop", code="session_token_shop_mismatch"
        )
    return shop
