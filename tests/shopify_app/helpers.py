"""Test helpers: app credentials, and signing done the way Shopify signs (not by ShopifyAPI)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import time
import uuid
import zlib
from typing import Any

import jwt

API_KEY = "pi-test-shopify-key"
SECRET = "shpss_current_test_secret_0123456789"
OLD_SECRET = "shpss_previous_test_secret_9876543210"
PI_KEY = "pi_test_shopify_app_account_key"
SHOP = "pi-demo.myshopify.com"
PRIMARY_HOST = "www.pi-demo.example"  # the fake Shopify's primary domain for SHOP


def oauth_hmac(params: dict[str, str], secret: str = SECRET) -> str:
    """Return Shopify's hex HMAC over the sorted query (hmac excluded)."""
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "hmac")
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def signed_query(params: dict[str, str], secret: str = SECRET) -> dict[str, str]:
    """Return params with a timestamp (unless given) and their HMAC."""
    params = {"timestamp": str(int(time.time())), **params}
    return {**params, "hmac": oauth_hmac(params, secret)}


def webhook_headers(
    body: bytes,
    topic: str,
    shop: str = SHOP,
    *,
    secret: str = SECRET,
    webhook_id: str | None = None,
    triggered_at: str | None = None,
) -> dict[str, str]:
    """Return the headers of a webhook delivery signed with `secret`."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-SHA256": base64.b64encode(digest).decode(),
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Triggered-At": triggered_at
        or time.strftime("%Y-%m-%dT%H:%M:%S.123456789Z", time.gmtime()),
        "X-Shopify-API-Version": "2026-10",
    }


def webhook_body(topic: str, shop: str = SHOP, **fields: Any) -> bytes:
    """Return a plausible payload for a topic (`fields` replace or add top-level keys)."""
    domain = fields.pop("domain", PRIMARY_HOST)
    payloads: dict[str, Any] = {
        "app/uninstalled": {"id": 1, "name": "Pi Demo", "domain": shop, "myshopify_domain": shop},
        "shop/redact": {"shop_id": 1, "shop_domain": shop},
        "customers/redact": {
            "shop_id": 1,
            "shop_domain": shop,
            "customer": {"id": 7, "email": "c@x.test"},
        },
        "customers/data_request": {
            "shop_id": 1,
            "shop_domain": shop,
            "customer": {"id": 7},
            "data_request": {"id": 9999},
        },
        # shop/update sends the whole shop: `domain` is its primary domain.
        "shop/update": {
            "id": 1,
            "name": "Pi Demo",
            "domain": domain,
            "myshopify_domain": shop,
            "email": "owner@pi-demo.example",
        },
    }
    for name in ("domains/create", "domains/update", "domains/destroy"):
        payloads[name] = {
            "id": 7,
            "host": domain,
            "ssl_enabled": True,
            "localization": {"country": None, "default_locale": "en", "alternate_locales": []},
        }
    payload = {**payloads.get(topic, {"shop_domain": shop}), **fields}
    return json.dumps(payload).encode()


def session_token(
    shop: str = SHOP,
    *,
    secret: str = SECRET,
    api_key: str = API_KEY,
    lifetime: float = 60,
    dest: str | None = None,
    iss: str | None = None,
    **extra: Any,
) -> str:
    """Mint an App Bridge session token (HS256 JWT) as Shopify does."""
    now = int(time.time())
    claims = {
        "iss": iss or f"https://{shop}/admin",
        "dest": dest or f"https://{shop}",
        "aud": api_key,
        "sub": "42",
        "exp": now + int(lifetime),
        "nbf": now - 1,
        "iat": now - 1,
        "jti": str(uuid.uuid4()),
        "sid": uuid.uuid4().hex,
        **extra,
    }
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, secret, algorithm="HS256")


def bearer(token: str) -> dict[str, str]:
    """Return an Authorization header for a session token."""
    return {"Authorization": f"Bearer {token}"}


def dump_redis(client) -> bytes:
    """Return every key and value of a Redis as one byte string (to grep for secrets)."""
    chunks = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        chunks.append(key)
        if kind == b"string":
            chunks.append(client.get(key) or b"")
        elif kind == b"hash":
            for k, v in client.hgetall(key).items():
                chunks += [k, v]
                if k == b"data":  # RQ stores job arguments as a zlib-compressed pickle
                    with contextlib.suppress(zlib.error):
                        chunks.append(zlib.decompress(v))
        elif kind == b"set":
            chunks += list(client.smembers(key))
        elif kind == b"zset":
            chunks += [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
        elif kind == b"list":
            chunks += client.lrange(key, 0, -1)
        elif kind == b"stream":
            for _id, fields in client.xrange(key):
                for k, v in fields.items():
                    chunks += [k, v]
    return b"\n".join(chunks)
