"""A local fake of Shopify's server-to-server endpoints: the token endpoint and Admin GraphQL.

Paths are `/<shop>/admin/...`, so the connector reaches it through
SHOPIFY_ADMIN_URL_TEMPLATE = "http://127.0.0.1:<port>/{shop}".
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

from tests.shopify_app.helpers import API_KEY, SECRET

ACCESS_TTL = 3600
REFRESH_TTL = 90 * 86400


@dataclass
class FakeShop:
    """What the fake Shopify knows about one shop."""

    domain: str
    primary_url: str
    installation_gid: str
    granted_scopes: str = "read_products"
    codes: set[str] = field(default_factory=set)
    access: dict[str, float] = field(default_factory=dict)  # token -> expires at
    refresh: str | None = None
    metafields: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    webhooks: list[dict[str, str]] = field(default_factory=list)


class FakeShopify:
    """The state and controls of the fake, shared with its handler threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.shops: dict[str, FakeShop] = {}
        self.requests: list[dict[str, Any]] = []
        self.issued: list[str] = []  # every token and code handed out, to grep Redis for
        self.throttle_next = 0
        self.rate_limit_next = 0
        self.retry_after = "0.05"
        self.fail_next = 0
        self.metafield_errors_next: list[dict[str, Any]] = []
        self.access_ttl = ACCESS_TTL
        self.refresh_refused = False
        self.reject_tokens = False
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.template = self.base_url + "/{shop}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # --- lifecycle and controls --------------------------------------------------------
    def start(self) -> FakeShopify:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_shop(
        self, domain: str, primary_url: str | None = None, scopes: str = "read_products"
    ) -> FakeShop:
        """Create (or reset) a shop with a primary domain."""
        with self.lock:
            shop = FakeShop(
                domain=domain,
                primary_url=primary_url or f"https://www.{domain.split('.')[0]}.example",
                installation_gid=f"gid://shopify/AppInstallation/{secrets.randbelow(10**9)}",
                granted_scopes=scopes,
            )
            self.shops[domain] = shop
            return shop

    def issue_code(self, domain: str) -> str:
        """Return an authorization code Shopify would put on the callback."""
        code = secrets.token_hex(16)
        with self.lock:
            self.shops[domain].codes.add(code)
            self.issued.append(code)
        return code

    def set_primary_domain(self, domain: str, primary_url: str) -> None:
        """Make another domain the shop's primary one (Settings > Domains in the admin)."""
        with self.lock:
            self.shops[domain].primary_url = primary_url

    def expire_access_tokens(self, domain: str) -> None:
        """Make every access token of the shop expired (Shopify answers 401 from now on)."""
        with self.lock:
            shop = self.shops[domain]
            shop.access = {token: 0.0 for token in shop.access}

    def calls(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Return the recorded requests (optionally one kind: token, graphql)."""
        with self.lock:
            return [r for r in self.requests if kind is None or r["kind"] == kind]

    # --- behaviour -----------------------------------------------------------------------
    def _new_pair(self, shop: FakeShop, expiring: bool) -> dict[str, Any]:
        access = "shpat_" + secrets.token_hex(16)
        body: dict[str, Any] = {"access_token": access, "scope": shop.granted_scopes}
        shop.access[access] = time.time() + self.access_ttl if expiring else float("inf")
        self.issued.append(access)
        if expiring:
            shop.refresh = "shprt_" + secrets.token_hex(16)
            self.issued.append(shop.refresh)
            body.update(
                expires_in=self.access_ttl,
                refresh_token=shop.refresh,
                refresh_token_expires_in=REFRESH_TTL,
            )
        return body

    def token(self, domain: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests.append(
                {
                    "kind": "token",
                    "shop": domain,
                    "grant": form.get("grant_type", "code"),
                    "expiring": form.get("expiring"),
                }
            )
            shop = self.shops.get(domain)
            if shop is None:
                return 404, {"error": "shop_not_found"}
            if form.get("client_id") != API_KEY or form.get("client_secret") != SECRET:
                return 400, {"error": "invalid_client"}
            grant = form.get("grant_type")
            expiring = form.get("expiring") == "1"
            if grant is None:
                code = form.get("code", "")
                if code not in shop.codes:
                    return 400, {"error": "invalid_grant"}
                shop.codes.discard(code)
                return 200, self._new_pair(shop, expiring)
            if grant == "refresh_token":
                if self.refresh_refused or form.get("refresh_token") != shop.refresh:
                    return 400, {"error": "invalid_grant"}
                return 200, self._new_pair(shop, True)
            if grant == "urn:ietf:params:oauth:grant-type:token-exchange":
                try:
                    claims = jwt.decode(
                        form.get("subject_token", ""),
                        SECRET,
                        audience=API_KEY,
                        algorithms=["HS256"],
                    )
                except jwt.PyJWTError:
                    return 400, {"error": "invalid_subject_token"}
                if claims.get("dest") != f"https://{domain}":
                    return 400, {"error": "invalid_subject_token"}
                return 200, self._new_pair(shop, expiring)
            return 400, {"error": "unsupported_grant_type"}

    def graphql(
        self, domain: str, token: str, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        query = str(body.get("query", ""))
        variables = body.get("variables") or {}
        with self.lock:
            self.requests.append(
                {"kind": "graphql", "shop": domain, "query": query, "variables": variables}
            )
            shop = self.shops.get(domain)
            if shop is None:
                return 404, {"errors": "Not Found"}, {}
            if self.reject_tokens or shop.access.get(token, 0) <= time.time():
                return 401, {"errors": "[API] Invalid API key or access token"}, {}
            if self.fail_next:
                self.fail_next -= 1
                return 502, {"errors": "Bad Gateway"}, {}
            if self.rate_limit_next:
                self.rate_limit_next -= 1
                return (
                    429,
                    {"errors": "Exceeded 2 calls per second"},
                    {"Retry-After": self.retry_after},
                )
            if self.throttle_next:
                self.throttle_next -= 1
                return (
                    200,
                    {
                        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                        "extensions": {
                            "cost": {
                                "requestedQueryCost": 12,
                                "actualQueryCost": None,
                                "throttleStatus": {
                                    "maximumAvailable": 2000.0,
                                    "currentlyAvailable": 10,
                                    "restoreRate": 100.0,
                                },
                            }
                        },
                    },
                    {},
                )
            if "metafieldsSet" in query:
                return 200, {"data": {"metafieldsSet": self._metafields(shop, variables)}}, {}
            if "webhookSubscriptionCreate" in query:
                return (
                    200,
                    {"data": {"webhookSubscriptionCreate": self._webhook(shop, variables)}},
                    {},
                )
            if "primaryDomain" in query:
                host = urlsplit(shop.primary_url).hostname
                return (
                    200,
                    {
                        "data": {
                            "shop": {
                                "name": domain.split(".")[0].title(),
                                "myshopifyDomain": domain,
                                "primaryDomain": {"url": shop.primary_url, "host": host},
                            },
                            "currentAppInstallation": {"id": shop.installation_gid},
                        }
                    },
                    {},
                )
            return 200, {"errors": [{"message": "unknown operation"}]}, {}

    def _metafields(self, shop: FakeShop, variables: dict[str, Any]) -> dict[str, Any]:
        if self.metafield_errors_next:
            return {"metafields": [], "userErrors": [self.metafield_errors_next.pop(0)]}
        errors, saved = [], []
        for i, mf in enumerate(variables.get("metafields") or []):
            if mf.get("ownerId") != shop.installation_gid:
                errors.append(
                    {
                        "field": ["metafields", str(i), "ownerId"],
                        "message": "Owner does not exist",
                        "code": "INVALID",
                    }
                )
                continue
            if mf.get("type") == "json":
                try:
                    json.loads(mf.get("value", ""))
                except ValueError:
                    errors.append(
                        {
                            "field": ["metafields", str(i), "value"],
                            "message": "Value is invalid JSON",
                            "code": "INVALID_VALUE",
                        }
                    )
                    continue
            saved.append(mf)
        if errors:
            return {"metafields": [], "userErrors": errors}  # metafieldsSet is atomic
        for mf in saved:
            shop.metafields[(mf["namespace"], mf["key"])] = {
                "type": mf["type"],
                "value": mf["value"],
            }
        return {
            "metafields": [
                {"key": m["key"], "namespace": m["namespace"], "value": m["value"]} for m in saved
            ],
            "userErrors": [],
        }

    def _webhook(self, shop: FakeShop, variables: dict[str, Any]) -> dict[str, Any]:
        topic = variables.get("topic")
        uri = (variables.get("subscription") or {}).get("uri")
        if not uri:
            return {
                "webhookSubscription": None,
                "userErrors": [{"field": ["uri"], "message": "URI can't be blank"}],
            }
        if any(w["topic"] == topic and w["uri"] == uri for w in shop.webhooks):
            return {
                "webhookSubscription": None,
                "userErrors": [
                    {
                        "field": ["webhookSubscription", "uri"],
                        "message": "Address for this topic has already been taken",
                    }
                ],
            }
        shop.webhooks.append({"topic": topic, "uri": uri})
        return {
            "webhookSubscription": {
                "id": f"gid://shopify/WebhookSubscription/{len(shop.webhooks)}"
            },
            "userErrors": [],
        }


def _handler(fake: FakeShopify) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _send(
            self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            parts = urlsplit(self.path).path.strip("/").split("/")
            if len(parts) < 3 or parts[1] != "admin":
                self._send(404, {"errors": "Not Found"})
                return
            domain = parts[0]
            if parts[2:] == ["oauth", "access_token"]:
                form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                status, body = fake.token(domain, form)
                self._send(status, body)
                return
            if len(parts) == 5 and parts[2] == "api" and parts[4] == "graphql.json":
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._send(400, {"errors": "invalid JSON"})
                    return
                token = self.headers.get("X-Shopify-Access-Token", "")
                status, answer, headers = fake.graphql(domain, token, body)
                self._send(status, answer, headers)
                return
            self._send(404, {"errors": "Not Found"})

    return Handler
