"""Route API requests: count them, inject faults, authenticate, rate limit, dispatch."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import unquote

from connector.pisim import api
from connector.pisim.controls import Config, Controls
from connector.pisim.envelopes import Reply, error, server_error
from connector.pisim.state import JobStore, org_id_for

if TYPE_CHECKING:
    from email.message import Message

Handler = Callable[..., Reply]
API = "/api/v1"
KEY_PREFIXES = ("pi_test_", "pi_live_")

# Static paths win over dynamic ones (GET /brands/extract is a 405, not a brand lookup).
STATIC_ROUTES: dict[str, dict[str, Handler]] = {
    f"{API}/brands/extract": {"POST": api.create_brand},
    f"{API}/images/generations": {"POST": api.create_ad},
    f"{API}/ads/generate": {"POST": api.create_ad},
    f"{API}/campaigns/generate": {"POST": api.create_campaign},
    f"{API}/images/campaigns": {"POST": api.create_campaign},
    f"{API}/brands": {"GET": api.list_brands},
}
DYNAMIC_ROUTES: list[tuple[re.Pattern[str], str, dict[str, Handler]]] = [
    (re.compile(rf"^{API}/jobs/([^/]+)$"), f"{API}/jobs/:id", {"GET": api.get_job}),
    (re.compile(rf"^{API}/brands/([^/]+)$"), f"{API}/brands/:id", {"GET": api.get_brand}),
]
CREATE_HANDLERS = (api.create_brand, api.create_ad, api.create_campaign)


def match_route(path: str) -> tuple[str | None, dict[str, Handler], dict[str, str]]:
    """Return (route template, handlers by method, path params) for a path."""
    if path in STATIC_ROUTES:
        return path, STATIC_ROUTES[path], {}
    for pattern, template, handlers in DYNAMIC_ROUTES:
        found = pattern.match(path)
        if found:
            return template, handlers, {"id": unquote(found.group(1))}
    return None, {}, {}


def authenticate(headers: Message) -> tuple[str | None, Reply | None]:
    """Return (org id, None) for a valid key, or (None, the 401 reply)."""
    header = headers.get("Authorization")
    if not header:
        return None, error(401, "missing_authorization_header")
    # Pi checks startsWith("Bearer "): case-sensitive, with the space.
    if not header.startswith("Bearer "):
        return None, error(401, "invalid_authorization_scheme")
    token = header[len("Bearer ") :].strip()
    if not token:
        return None, error(401, "missing_bearer_token")
    if not token.startswith(KEY_PREFIXES):
        return None, error(401, "unkey_not_found", type="authentication_error")
    return org_id_for(token), None


class PiSim:
    """The simulated Pi: its tables and its controls."""

    def __init__(self, config: Config | None = None) -> None:
        self.store = JobStore()
        self.controls = Controls(config or Config())

    def handle_api(self, req: api.Request) -> Reply:
        """Answer one request under /api/v1 (or any other non-admin path)."""
        template, handlers, params = match_route(req.path)
        route = f"{req.method} {template}" if template else f"{req.method} (unmatched)"
        self.controls.count_request(route)
        fault = self.controls.take_fault(route)
        if fault.drop:
            return Reply(0, None, drop=True)
        if fault.hang and not req.sleep(fault.hang):
            return Reply(0, None, drop=True)
        handler = handlers.get(req.method)
        trigger_fail = False
        if fault.status is not None:
            # A 502 on a create is Pi's trigger failure: the job row is written, then failed.
            if fault.status == 502 and handler in CREATE_HANDLERS:
                trigger_fail = True
            elif fault.status == 429:
                return error(429, "unkey_rate_limited", headers=self.controls.retry_after_headers())
            else:
                return server_error(fault.status, route)
        if template is None:
            return error(404, "route_not_found")
        if handler is None:
            allow = ", ".join(sorted(handlers))
            return error(405, "method_not_allowed", headers={"Allow": allow})
        org_id, denied = authenticate(req.headers)
        if denied is not None or org_id is None:
            return denied or error(401, "missing_authorization_header")
        limited, limit_headers = self.controls.take_rate_limit()
        if limited:
            return error(429, "unkey_rate_limited", headers=limit_headers)
        req.params = params
        reply = handler(self, req, org_id, **({"trigger_fail": True} if trigger_fail else {}))
        delay = self.controls.config.create_seconds
        # The job is written first, as on Pi: a client that gives up meanwhile leaves it behind.
        # Only this request's thread waits; the server answers others meanwhile.
        if delay > 0 and handler in CREATE_HANDLERS and not req.sleep(delay):
            return Reply(0, None, drop=True)
        # Unkey's ratelimit data rides on every answer while a limit is configured.
        reply.headers = {**limit_headers, **reply.headers}
        return reply
