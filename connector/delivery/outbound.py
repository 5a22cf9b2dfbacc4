"""Send outbound HTTP for deliveries through an SSRF guard that pins the checked address."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import idna
import requests
from flask import current_app, has_app_context
from requests.adapters import HTTPAdapter
from requests.utils import get_encoding_from_headers
from urllib3 import BaseHTTPResponse
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util.connection import create_connection

from connector.delivery import direct_send

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

USER_AGENT = "pi-connector/0.1"
MAX_BODY = 64 * 1024
_SCHEMES = {"http": 80, "https": 443}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
POOLS_KEPT = 256  # targets (host, port, addresses) whose idle connections a process keeps
CONNECTIONS_PER_TARGET = 32


class OutboundError(Exception):
    """Root of every outbound failure."""

    retryable = False

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retryable is not None:
            self.retryable = retryable


class TargetRefused(OutboundError):
    """The URL is not an allowed target: bad scheme, no host, credentials, non-public address."""


class DeliveryTimeout(OutboundError):
    """The target did not connect or answer in time."""

    retryable = True


class DeliveryConnectionError(OutboundError):
    """The target could not be resolved or reached, or dropped the connection."""

    retryable = True


@dataclass(frozen=True)
class OutboundResponse:
    """What a target answered (body cut to 64 KiB)."""

    status: int
    headers: dict[str, str]
    text: str
    elapsed_ms: float


@dataclass(frozen=True)
class _Target:
    host: str
    port: int
    addresses: list[IPAddress]


def _lookup(host: str, port: int, *, numeric_only: bool = False) -> list[str]:
    """Return the addresses of a host as the OS reads them; numeric_only never asks DNS."""
    flags = socket.AI_NUMERICHOST if numeric_only else 0
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=flags)
    return [str(info[4][0]) for info in infos]


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """Return the IPv4 addresses an IPv6 address stands for (mapped, 6to4, Teredo, NAT64)."""
    found = [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
    found.extend(address.teredo or ())
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Return why an address may not be contacted, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        # A translated address reaches its IPv4 twin, so the twin is what must be public.
        if inner:
            reasons = (_refusal(a, allow_private=allow_private) for a in inner)
            return next((r for r in reasons if r), None)
    if address.is_unspecified or (address.version == 4 and address in _THIS_NETWORK):
        return "unspecified"
    if address.is_link_local:
        return "link-local"  # cloud metadata lives here: refused even for local dev
    if address.is_multicast:
        return "multicast"
    if address.is_loopback:
        return None if allow_private else "loopback"
    if address.is_reserved:
        return "reserved"
    if address.is_global:
        return None
    if address.is_private:
        return None if allow_private else "private"
    return "non-public"


def _checked_target(url: str, *, allow_private: bool, resolver: Resolver | None) -> _Target:
    """Validate a URL and every address its host stands for."""
    if not isinstance(url, str) or any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url):
        raise TargetRefused("URL is not a string or contains whitespace or control characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise TargetRefused(f"scheme {scheme or '(none)'!r} is not allowed: use http or https")
    if "@" in parts.netloc:
        raise TargetRefused("credentials in URL are not allowed")
    if not parts.hostname:
        raise TargetRefused("URL has no host")
    try:
        port = parts.port or _SCHEMES[scheme]
    except ValueError:
        raise TargetRefused("URL has an invalid port") from None
    host = parts.hostname.lower()
    try:
        # Encode the way requests will, so the checked name is the one put on the wire.
        host = host if host.isascii() else idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise TargetRefused(f"invalid host name: {exc}") from None
    if not allow_private and (host.rstrip(".") == "localhost" or host.endswith(".localhost")):
        raise TargetRefused(f"{host} is a loopback name")
    try:
        # AI_NUMERICHOST reads 2130706433, 0x7f000001, 0177.0.0.1 as the OS does, without DNS.
        raw = _lookup(host, port, numeric_only=True)
    except (socket.gaierror, UnicodeError):
        try:
            raw = list((resolver or _lookup)(host, port))
        except (OSError, UnicodeError) as exc:
            raise DeliveryConnectionError(f"could not resolve {host}: {exc}") from None
    if not raw:
        raise DeliveryConnectionError(f"could not resolve {host}: no address")
    addresses: list[IPAddress] = []
    for item in raw:
        try:
            address = ipaddress.ip_address(item)
        except ValueError:
            raise TargetRefused(f"{host} resolved to something that is not an IP address") from None
        reason = _refusal(address, allow_private=allow_private)
        if reason:
            raise TargetRefused(f"{host} resolves to {address}, a {reason} address")
        if address not in addresses:
            addresses.append(address)
    return _Target(host, port, addresses)


def check_target_url(
    url: str, *, allow_private: bool, resolver: Resolver | None = None
) -> list[IPAddress]:
    """Refuse a URL that is not a public http(s) target; return the addresses checked."""
    return _checked_target(url, allow_private=allow_private, resolver=resolver).addresses


def screen_target_url(url: str, *, allow_private: bool, resolver: Resolver | None = None) -> None:
    """Refuse a target that is unsafe now; leave names that do not resolve yet to delivery."""
    try:
        check_target_url(url, allow_private=allow_private, resolver=resolver)
    except DeliveryConnectionError:
        # DNS can be down at registration time; each delivery checks (and pins) the host again.
        return


class _PinnedConnectionMixin:
    """Connect to the checked addresses, in order, instead of resolving the host again."""

    def __init__(self, *args: Any, pinned: tuple[str, ...] = (), **kwargs: Any) -> None:
        self._pinned = pinned
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        error: Exception = NewConnectionError(self, f"no checked address for {self.host}")
        for ip in self._pinned:
            try:
                # An IP literal: create_connection's own getaddrinfo cannot reach DNS.
                return create_connection(
                    (ip, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                error = ConnectTimeoutError(self, f"connect to {self.host} timed out ({exc})")
            except OSError as exc:
                error = NewConnectionError(self, f"could not connect to {self.host}: {exc}")
        raise error

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        """Read the answer with quick ACKs on (see `ack_at_once`)."""
        if self.sock is not None:
            ack_at_once(self.sock)
        return super().getresponse(*args, **kwargs)


def ack_at_once(sock: socket.socket) -> None:
    """Have the kernel ACK what arrives on `sock` at once rather than after up to 40 ms.

    A kept-alive connection is past TCP's quick-ACK start. A target whose server writes its
    answer in two pieces without TCP_NODELAY (Python's http.server does) holds the second
    until our delayed ACK: 40 ms a delivery. Linux only; elsewhere nothing changes.
    """
    option = getattr(socket, "TCP_QUICKACK", None)
    if option is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, option, 1)


_PINNED_CONNECTIONS = {
    "http": type("_PinnedHTTPConnection", (_PinnedConnectionMixin, HTTPConnection), {}),
    "https": type("_PinnedHTTPSConnection", (_PinnedConnectionMixin, HTTPSConnection), {}),
}


class _PinnedAdapter(HTTPAdapter):
    """Send to the checked addresses only; Host, SNI and certificate checks keep the name."""

    def __init__(self, target: _Target) -> None:
        # Kept connections per target: a worker's first-attempt threads and its RQ delivery
        # threads may all deliver to one host at once (urllib3 warns past the pool's size).
        super().__init__(max_retries=0, pool_maxsize=CONNECTIONS_PER_TARGET)
        self._target = target

    def get_connection_with_tls_context(
        self, request: requests.PreparedRequest, verify: Any, proxies: Any = None, cert: Any = None
    ) -> HTTPConnectionPool:
        """Return a fresh pool whose connections are pinned to the checked addresses."""
        # proxies=None: a proxy would resolve the name itself and defeat the check.
        pool = super().get_connection_with_tls_context(request, verify, None, cert)
        if (pool.host.lower(), pool.port) != (self._target.host, self._target.port):
            # The URL parser of requests disagrees with the one that did the check.
            raise TargetRefused("the host to contact differs from the host that was checked")
        pool.ConnectionCls = _PINNED_CONNECTIONS[pool.scheme]
        pool.conn_kw["pinned"] = tuple(str(a) for a in self._target.addresses)
        return pool


class PinnedPools:
    """Keep-alive connections to checked targets: one pool per host, port and checked addresses.

    Every delivery still checks its target (DNS may have changed); it then reuses a connection
    made to exactly those addresses instead of opening one of its own (a connect and a close
    per delivery were ~8 % of the worker's CPU samples; a TLS handshake costs more).
    """

    def __init__(self, size: int = POOLS_KEPT) -> None:
        self._size = size
        self._adapters: OrderedDict[tuple, _PinnedAdapter] = OrderedDict()
        self._lock = threading.Lock()

    def adapter(self, scheme: str, target: _Target) -> _PinnedAdapter:
        """Return the adapter whose connections go to this target's checked addresses."""
        key = (scheme, target.host, target.port, tuple(target.addresses))
        with self._lock:
            adapter = self._adapters.get(key)
            if adapter is not None:
                self._adapters.move_to_end(key)
                return adapter
            adapter = self._adapters[key] = _PinnedAdapter(target)
            if len(self._adapters) > self._size:
                _, oldest = self._adapters.popitem(last=False)
                oldest.close()  # its idle connections; one in use closes when it is returned
        return adapter

    def close(self) -> None:
        """Close every kept connection."""
        with self._lock:
            adapters, self._adapters = list(self._adapters.values()), OrderedDict()
        for adapter in adapters:
            adapter.close()

    def init_app(self, app) -> None:
        """Register the pools on the app: deliveries made inside its context share them."""
        app.extensions["outbound_pools"] = self


def _app_pools() -> PinnedPools | None:
    """Return the current app's pools; outside an app every request has a connection of its own."""
    return current_app.extensions.get("outbound_pools") if has_app_context() else None


def _read_capped(raw: BaseHTTPResponse) -> str:
    """Read at most MAX_BODY bytes of the body and decode them leniently."""
    # urllib3 2 returns `amt` bytes unless the body ends first, so one read is enough.
    data = raw.read(MAX_BODY, decode_content=True) or b""
    encoding = get_encoding_from_headers(raw.headers) or "utf-8"
    try:
        return data[:MAX_BODY].decode(encoding, errors="replace")
    except LookupError:
        return data[:MAX_BODY].decode("utf-8", errors="replace")


def _send(
    method: str,
    url: str,
    body: bytes | dict | list | None,
    headers: dict[str, str] | None,
    timeout: float | tuple[float, float],
    allow_private: bool,
    resolver: Resolver | None,
    session: requests.Session | None,
) -> OutboundResponse:
    """Send one request to a checked target, never following redirects."""
    target = _checked_target(url, allow_private=allow_private, resolver=resolver)
    merged = {"User-Agent": USER_AGENT}
    if isinstance(body, dict | list):
        body = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        merged["Content-Type"] = "application/json"
    elif body is not None and not isinstance(body, bytes):
        raise TypeError("body must be bytes, a dict or a list")
    # The Host header must name the checked host; a caller may not point it elsewhere.
    merged.update({k: v for k, v in (headers or {}).items() if k.lower() != "host"})
    timeouts = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    pools = _app_pools()
    scheme = urlsplit(url).scheme.lower()
    adapter = pools.adapter(scheme, target) if pools is not None else _PinnedAdapter(target)
    # Straight to the pinned pool when requests' own code would send it (not under
    # `responses`, no session's defaults to merge): the same bytes, a fraction of the CPU.
    direct = None
    if pools is not None and session is None and direct_send.stock(adapter):
        direct = direct_send.plain_request(method, url, merged, body)
    if direct is None:
        unprepared = requests.Request(method, url, data=body, headers=merged)
        # A session only lends defaults: its adapters and proxies would bypass the pinning.
        prepared = session.prepare_request(unprepared) if session else unprepared.prepare()
    where = f"{target.host}:{target.port}"
    started = time.monotonic()
    try:
        if direct is not None:
            raw = direct_send.urlopen(adapter, direct, timeouts)
        else:
            # adapter.send never follows redirects (only Session does), ignores env proxies.
            raw = adapter.send(prepared, stream=True, timeout=timeouts, verify=True, proxies={}).raw
        try:
            text = _read_capped(raw)
        finally:
            # As Response.close: a body read to its end has already given its connection
            # back; one cut short is closed rather than kept with unread bytes.
            raw.close()
            raw.release_conn()
    except (requests.Timeout, ReadTimeoutError) as exc:
        kind = "connect" if isinstance(exc, requests.ConnectTimeout) else "read"
        raise DeliveryTimeout(f"{kind} timeout talking to {where}") from None
    except (requests.ConnectionError, Urllib3Error, OSError) as exc:
        # Messages of requests carry the URL path, which may hold a secret: name the host only.
        raise DeliveryConnectionError(f"{where} unreachable ({type(exc).__name__})") from None
    except requests.RequestException as exc:
        raise OutboundError(f"request to {where} failed ({type(exc).__name__})") from None
    finally:
        if pools is None:
            adapter.close()
    elapsed_ms = (time.monotonic() - started) * 1000
    log.debug("%s %s -> %s", method, where, raw.status)
    return OutboundResponse(raw.status, dict(raw.headers), text, elapsed_ms)


def post_json(
    url: str,
    body: bytes | dict | list,
    *,
    headers: dict[str, str] | None = None,
    timeout: float | tuple[float, float] = 10.0,
    allow_private: bool = False,
    resolver: Resolver | None = None,
    session: requests.Session | None = None,
) -> OutboundResponse:
    """POST a JSON body (or ready bytes) to a checked target."""
    return _send("POST", url, body, headers, timeout, allow_private, resolver, session)
