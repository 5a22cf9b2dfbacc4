"""Send a Pi call straight through the adapter's urllib3 pool, as requests would send it.

`HTTPAdapter.send` and `PreparedRequest.prepare` cost more CPU than the HTTP exchange itself.
For the requests Pi calls make (a plain URL, str params and headers, a JSON body) this module
builds the same bytes and sends them on the same pool; it raises requests' exception types, so
retry decisions and error mapping see what they saw before. Anything else returns None and goes
through requests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter
from requests.utils import check_header_validity
from urllib3 import BaseHTTPResponse
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    DecodeError,
    InvalidHeader,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    ResponseError,
    SSLError,
)
from urllib3.util import Timeout

# The adapter methods this path stands in for, as requests ships them. A patched one (the
# `responses` library patches `send`) means someone else answers: that call goes through it.
_STOCK_METHODS = {
    name: vars(HTTPAdapter).get(name)
    for name in (
        "send",
        "get_connection_with_tls_context",
        "build_connection_pool_key_attributes",
        "cert_verify",
        "request_url",
        "add_headers",
        "build_response",
    )
}
# A requests without one of them (older than 2.32.2) sends every call itself.
_USABLE = all(_STOCK_METHODS.values())
# Only unreserved characters (and, in the query, urlencode's own %XX, + and the separators):
# requests' URL preparation would leave such a URL unchanged.
_PLAIN_URL = re.compile(
    r"https?://[a-z0-9][a-z0-9.-]*(?::(?P<port>[1-9][0-9]{0,4}))?"
    r"(?P<path>/[A-Za-z0-9._~/-]*)"
)
_PLAIN_QUERY = re.compile(r"(?:[A-Za-z0-9._~+=&-]|%[0-9A-F]{2})*")
# Headers prepare() sets itself: a caller's own would be replaced in place, so leave it to it.
_PREPARED_HEADERS = frozenset({"content-length", "content-type", "authorization", "cookie"})
_MAX_PORT = 65535


@dataclass(frozen=True, slots=True)
class LeanRequest:
    """A request as `PreparedRequest.prepare` would build it (what map_error logs reads too)."""

    method: str
    url: str
    path_url: str
    headers: dict[str, str]
    body: bytes | None


@dataclass(frozen=True, slots=True)
class LeanResponse:
    """The parts of an answer the Pi client reads, as `requests.Response` names them."""

    status_code: int
    headers: Mapping[str, str]
    reason: str | None
    content: bytes
    request: LeanRequest


def stock_adapter(session: requests.Session, url: str) -> HTTPAdapter | None:
    """Return the session's adapter for url if requests' own code would send it, unproxied."""
    adapter = session.get_adapter(url)
    if (
        not _USABLE
        or type(adapter) is not HTTPAdapter
        or vars(adapter).keys() & _STOCK_METHODS.keys()
    ):
        return None
    if any(vars(HTTPAdapter).get(name) is not fn for name, fn in _STOCK_METHODS.items()):
        return None
    if session.proxies and requests.utils.select_proxy(url, session.proxies):
        return None
    return adapter


def build_request(
    method: str,
    url: str,
    *,
    params: Mapping[str, str] | None,
    json_body: Any,
    headers: Mapping[str, str],
    authorization: str,
) -> LeanRequest | None:
    """Build the request requests would prepare, or return None where it might differ."""
    query = ""
    if params:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in params.items()):
            return None
        query = urlencode(params)
        if not _PLAIN_QUERY.fullmatch(query):
            return None
    match = _PLAIN_URL.fullmatch(url)
    if match is None or "/." in match["path"]:
        return None  # dot segments, escapes, unusual hosts: requests normalises those
    if match["port"] and int(match["port"]) > _MAX_PORT:
        return None
    if len({name.lower() for name in headers}) != len(headers):
        return None  # names differing in case: requests would merge them
    if _PREPARED_HEADERS.intersection(name.lower() for name in headers):
        return None
    final = dict(headers)
    body = None
    if json_body is not None:
        try:
            body = json.dumps(json_body, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError):
            return None  # requests raises its own error for it
        final["Content-Length"] = str(len(body))
        final["Content-Type"] = "application/json"
    elif method not in ("GET", "HEAD"):
        final["Content-Length"] = "0"
    final["Authorization"] = authorization
    for header in final.items():
        try:
            check_header_validity(header)
        except requests.exceptions.InvalidHeader:
            return None  # requests raises it, with its own message
    path_url = match["path"] + "?" + query if query else match["path"]
    full_url = url + "?" + query if query else url
    return LeanRequest(method, full_url, path_url, final, body)


def send(
    adapter: HTTPAdapter,
    request: LeanRequest,
    *,
    timeout: tuple[float, float],
    verify: bool | str,
    cert: str | tuple[str, str] | None,
) -> LeanResponse:
    """Send on the adapter's pool and read the whole answer, raising what requests would."""
    # The same pool (and so the same kept-alive connections and TLS settings) requests picks.
    host_params, pool_kwargs = adapter.build_connection_pool_key_attributes(request, verify, cert)
    pool = adapter.poolmanager.connection_from_host(**host_params, pool_kwargs=pool_kwargs)
    adapter.cert_verify(pool, request.url, verify, cert)
    raw = open_on_pool(pool, adapter, request, timeout)
    return LeanResponse(raw.status, raw.headers, raw.reason, _read_all(raw), request)


def open_on_pool(
    pool, adapter: HTTPAdapter, request: LeanRequest, timeout: tuple[float, float]
) -> BaseHTTPResponse:
    """Open the request on the pool as `HTTPAdapter.send` would, unread; raise what it raises."""
    try:
        return pool.urlopen(
            method=request.method,
            url=request.path_url,
            body=request.body,
            headers=request.headers,
            redirect=False,
            assert_same_host=False,
            preload_content=False,
            decode_content=False,
            retries=adapter.max_retries,
            timeout=Timeout(connect=timeout[0], read=timeout[1]),
            chunked=False,
        )
    except (ProtocolError, OSError) as err:
        raise requests.ConnectionError(err, request=request) from err
    except MaxRetryError as err:
        raise requests_error_for(err, request) from err
    except ClosedPoolError as err:
        raise requests.ConnectionError(err, request=request) from err
    except ProxyError as err:
        raise requests.exceptions.ProxyError(err) from err
    except SSLError as err:
        raise requests.exceptions.SSLError(err, request=request) from err
    except ReadTimeoutError as err:
        raise requests.ReadTimeout(err, request=request) from err
    except InvalidHeader as err:
        raise requests.exceptions.InvalidHeader(err, request=request) from err


def requests_error_for(err: MaxRetryError, request: LeanRequest) -> requests.RequestException:
    """Return the requests exception HTTPAdapter.send raises for urllib3's MaxRetryError."""
    reason = err.reason
    if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
        return requests.ConnectTimeout(err, request=request)
    if isinstance(reason, ResponseError):
        return requests.exceptions.RetryError(err, request=request)
    if isinstance(reason, ProxyError):
        return requests.exceptions.ProxyError(err, request=request)
    if isinstance(reason, SSLError):
        return requests.exceptions.SSLError(err, request=request)
    return requests.ConnectionError(err, request=request)


def _read_all(raw: Any) -> bytes:
    """Read and decode the whole body, failing as `Response.content` does."""
    try:
        return raw.read(decode_content=True) or b""
    except ProtocolError as err:
        raise requests.exceptions.ChunkedEncodingError(err) from err
    except DecodeError as err:
        raise requests.exceptions.ContentDecodingError(err) from err
    except ReadTimeoutError as err:
        raise requests.ConnectionError(err) from err
    except SSLError as err:
        raise requests.exceptions.SSLError(err) from err
