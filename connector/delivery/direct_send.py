"""Send a delivery straight on its pinned urllib3 pool: requests' bytes and errors, less CPU.

`Request.prepare` and `HTTPAdapter.send` cost a delivery more CPU than the HTTP exchange
itself. For the requests deliveries make (a plain URL, str headers, a bytes body) this builds
what `prepare` would and opens it on the pool the pinned adapter hands out, as
`HTTPAdapter.send` would, raising the exceptions it raises. Anything else, and an adapter
whose sending code is patched (the `responses` library patches `send`), goes through requests.
The Pi client's lean path (`connector.pi.lean_send`) picks its pool itself, which would skip
the pinning, and reads whole bodies: its `send` cannot serve here, its parts do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import requests
from requests.adapters import HTTPAdapter
from requests.utils import check_header_validity, requote_uri
from urllib3 import BaseHTTPResponse

# Shared with the Pi client's lean path: the request's shape and the reading of MaxRetryError.
from connector.pi.lean_send import LeanRequest, open_on_pool

# The adapter methods HTTPAdapter.send calls that this path leaves out, as requests ships
# them; the pool and the TLS settings still come from the adapter's own methods.
_SKIPPED = ("send", "request_url", "add_headers", "build_response")
_STOCK = {name: vars(HTTPAdapter).get(name) for name in _SKIPPED}
# Patched before we looked (or an older requests without one of them): always use requests.
_USABLE = all(
    getattr(fn, "__module__", None) == "requests.adapters"
    and getattr(fn, "__qualname__", None) == f"HTTPAdapter.{name}"
    for name, fn in _STOCK.items()
)
# What `prepare` leaves as it is: a lowercase name or IPv4 host, an optional port, and a path
# and query of characters neither urllib3's parser nor requote_uri rewrites. Dot segments
# (which urllib3 removes) and "//" paths are left to requests.
_PLAIN_URL = re.compile(
    r"https?://[a-z0-9][a-z0-9.-]*(?::[1-9][0-9]{0,4})?"
    r"(?P<path>/(?:[A-Za-z0-9._~!$&'()*+,;=:@/-]|%[0-9A-F]{2})*)?"
    r"(?:\?(?P<query>(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-F]{2})*))?"
)
_DOT_SEGMENT = re.compile(r"(?:^|/)\.\.?(?:/|$)")
_BODILESS = ("GET", "HEAD")


def stock(adapter: HTTPAdapter) -> bool:
    """Return True when requests would send on this adapter with its own, unpatched code."""
    if not _USABLE or vars(adapter).keys() & _STOCK.keys():
        return False
    kind = type(adapter)
    return all(getattr(kind, name, None) is fn for name, fn in _STOCK.items())


def plain_request(
    method: str, url: str, headers: Mapping[str, str], body: bytes | None
) -> LeanRequest | None:
    """Return the request `Request(...).prepare()` would build, or None where it might differ."""
    match = _PLAIN_URL.fullmatch(url)
    if match is None or not method.isupper():
        return None
    path = match["path"] or "/"
    if path.startswith("//") or _DOT_SEGMENT.search(path):
        return None
    if "%" in url and requote_uri(url) != url:
        return None  # an escaped unreserved character: requests would unescape it
    names = {name.lower() for name in headers if isinstance(name, str)}
    if len(names) != len(headers) or "content-length" in names:
        return None  # names differing only in case are merged; a Content-Length is replaced
    final = dict(headers)
    for header in final.items():
        try:
            check_header_validity(header)
        except requests.exceptions.InvalidHeader:
            return None  # requests raises it, with its own message
    if not body:
        body = None  # requests sends an empty body as none at all
    if body is not None:
        final["Content-Length"] = str(len(body))
    elif method not in _BODILESS:
        final["Content-Length"] = "0"
    query = match["query"]
    path_url = f"{path}?{query}" if query else path
    return LeanRequest(method, url, path_url, final, body)


def urlopen(
    adapter: HTTPAdapter, request: LeanRequest, timeout: tuple[float, float]
) -> BaseHTTPResponse:
    """Open the request on the adapter's pool, unread; raise what `HTTPAdapter.send` raises."""
    # The adapter's own pool: a _PinnedAdapter checks the host and pins it to the addresses.
    pool = adapter.get_connection_with_tls_context(request, True, None, None)  # type: ignore[arg-type]
    adapter.cert_verify(pool, request.url, True, None)
    return open_on_pool(pool, adapter, request, timeout)
