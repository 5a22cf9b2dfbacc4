"""Outbound HTTP: the SSRF matrix, pinning to the checked address, redirects, timeouts, TLS."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import re
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import responses

from connector.delivery import outbound
from connector.delivery.outbound import (
    DeliveryConnectionError,
    DeliveryTimeout,
    OutboundError,
    TargetRefused,
    check_target_url,
    post_json,
    screen_target_url,
)
from tests.support.tls import server_context_trusted_by_requests

PUBLIC_IP = "93.184.216.34"  # never contacted: only ever handed to the checker or to `responses`

NAMES = {
    "internal.example.test": ["10.1.2.3"],
    "mixed.example.test": [PUBLIC_IP, "10.0.0.7"],
    "mapped.example.test": ["::ffff:10.0.0.1"],
    "public.example.test": [PUBLIC_IP],
}


def fake_resolver(host: str, port: int) -> list[str]:
    """Resolve from the table above without DNS."""
    if host not in NAMES:
        raise socket.gaierror(socket.EAI_NONAME, f"unknown test name {host}")
    return NAMES[host]


@pytest.fixture(autouse=True)
def dns_lookups(monkeypatch):
    """Record name lookups and answer none of them, so no test can reach a DNS server."""
    names: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if not flags & socket.AI_NUMERICHOST:  # numeric-only parsing never asks DNS
                names.append(host)
                raise socket.gaierror(socket.EAI_NONAME, f"test blocked DNS for {host}") from None
        return real_getaddrinfo(host, port, family, type, proto, flags)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


@pytest.fixture
def no_network(monkeypatch, dns_lookups):
    """Fail on any DNS lookup (numeric parsing is fine) and any socket connect; record tries."""
    attempts: list[object] = []
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if not flags & socket.AI_NUMERICHOST:
            attempts.append(("dns", host))
            raise AssertionError(f"DNS lookup of {host!r} attempted")
        return real_getaddrinfo(host, port, family, type, proto, flags)

    def connect(self, address):
        attempts.append(("connect", address))
        raise AssertionError(f"connection to {address!r} attempted")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect)
    return attempts


REFUSED = [
    ("http://127.0.0.1/", "loopback"),
    ("http://localhost/", "loopback"),
    ("http://localhost./", "loopback"),
    ("http://api.localhost/", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://169.254.169.254/latest/meta-data", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://10.0.0.1/", "private"),
    ("http://172.16.0.1/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://[fc00::1]/", "private"),
    ("http://100.64.0.1/", "non-public"),
    ("http://224.0.0.1/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://0.1.2.3/", "unspecified"),
    ("http://2130706433/", "resolves to 127.0.0.1, a loopback"),
    ("http://0x7f000001/", "resolves to 127.0.0.1, a loopback"),
    ("http://0177.0.0.1/", "resolves to 127.0.0.1, a loopback"),
    ("http://127.1/", "resolves to 127.0.0.1, a loopback"),
    ("http://[2002:7f00:1::]/", "loopback"),  # 6to4 around 127.0.0.1
    ("http://[64:ff9b::a9fe:a9fe]/", "link-local"),  # NAT64 around 169.254.169.254
    ("http://internal.example.test/", "resolves to 10.1.2.3, a private"),
    ("http://mixed.example.test/", "resolves to 10.0.0.7, a private"),
    ("https://mapped.example.test/", "private"),
    ("ftp://example.com/", "scheme 'ftp'"),
    ("file:///etc/passwd", "scheme 'file'"),
    ("gopher://x", "scheme 'gopher'"),
    ("javascript:alert(1)", "scheme 'javascript'"),
    ("//example.com/", "scheme '(none)'"),
    ("http://user:pass@example.com/", "credentials"),
    ("http://@example.com/", "credentials"),
    ("http:///nohost", "no host"),
    ("http://example.com:99999/", "invalid port"),
    ("http://example.com/\nHost: evil", "control characters"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED, ids=[u for u, _ in REFUSED])
def test_check_refuses_non_public_targets_without_connecting(no_network, url, reason):
    with pytest.raises(TargetRefused, match=re.escape(reason)) as e:
        check_target_url(url, allow_private=False, resolver=fake_resolver)
    assert e.value.retryable is False
    assert no_network == []


@pytest.mark.parametrize(("url", "reason"), REFUSED, ids=[u for u, _ in REFUSED])
def test_post_json_refuses_the_same_targets_without_connecting(no_network, url, reason):
    with pytest.raises(TargetRefused):
        post_json(url, {"x": 1}, allow_private=False, resolver=fake_resolver)
    assert no_network == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("ftp://127.0.0.1/", "scheme"),
        ("http://user:pass@127.0.0.1/", "credentials"),
    ],
)
def test_allow_private_still_refuses_metadata_odd_addresses_and_schemes(no_network, url, reason):
    with pytest.raises(TargetRefused, match=reason):
        check_target_url(url, allow_private=True, resolver=fake_resolver)
    assert no_network == []


def test_allow_private_accepts_loopback_and_private_ranges(no_network):
    assert check_target_url("http://127.0.0.1:8080/", allow_private=True) == [
        ipaddress.ip_address("127.0.0.1")
    ]
    assert check_target_url(
        "http://internal.example.test/", allow_private=True, resolver=fake_resolver
    )


def test_public_name_is_accepted_and_its_addresses_returned(no_network):
    addresses = check_target_url(
        "https://public.example.test/hook", allow_private=False, resolver=fake_resolver
    )
    assert addresses == [ipaddress.ip_address(PUBLIC_IP)]


def test_unresolvable_name_is_a_retryable_connection_error(no_network):
    with pytest.raises(DeliveryConnectionError, match="could not resolve") as e:
        check_target_url(
            "https://nowhere.example.test/", allow_private=False, resolver=fake_resolver
        )
    assert e.value.retryable is True
    with pytest.raises(DeliveryConnectionError, match="no address"):
        check_target_url("https://x.example.test/", allow_private=False, resolver=lambda h, p: [])


def test_screening_refuses_unsafe_targets_but_lets_an_unresolved_name_wait_for_delivery(
    no_network,
):
    with pytest.raises(TargetRefused, match="private"):
        screen_target_url(
            "http://internal.example.test/", allow_private=False, resolver=fake_resolver
        )
    screen_target_url("https://nowhere.example.test/", allow_private=False, resolver=fake_resolver)
    assert no_network == []


# --- a real local server on 127.0.0.1 ---------------------------------------------------------


class Recorder(BaseHTTPRequestHandler):
    """Record every request; a few paths misbehave on purpose."""

    received: list[dict]

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.received.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        )
        # The client may give up first, as the timeout tests want.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._route()

    def _route(self) -> None:
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/target")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/slow":
            time.sleep(1.5)
            self._send(200, b"late")
        elif self.path == "/slow-body":
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.flush()
            time.sleep(1.5)
            self.wfile.write(b"0123456789")
        elif self.path == "/big":
            self._send(200, b"x" * 100_000)
        else:
            self._send(200, json.dumps({"ok": True}).encode(), "application/json")

    def _send(self, status: int, body: bytes, kind: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer


def _serve(tls: ssl.SSLContext | None = None):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.daemon_threads = True
    server.block_on_close = False
    server.received = []
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    return server


@pytest.fixture
def server():
    srv = _serve()
    yield srv
    srv.shutdown()
    srv.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_posts_compact_json_with_our_headers(server):
    url = f"http://127.0.0.1:{server.server_port}/hook"
    response = post_json(url, {"a": 1, "b": "é"}, headers={"X-Test": "yes"}, allow_private=True)
    assert response.status == 200
    assert json.loads(response.text) == {"ok": True}
    assert response.headers["Content-Type"] == "application/json"
    assert response.elapsed_ms > 0
    (seen,) = server.received
    assert seen["method"] == "POST" and seen["path"] == "/hook"
    assert seen["body"] == '{"a":1,"b":"é"}'.encode()
    assert seen["headers"]["Content-Type"] == "application/json"
    assert seen["headers"]["User-Agent"] == "pi-connector/0.1"
    assert seen["headers"]["X-Test"] == "yes"


def test_bytes_body_is_sent_as_is_and_caller_content_type_wins(server):
    url = f"http://127.0.0.1:{server.server_port}/hook"
    post_json(
        url,
        b'{"raw": 1}',
        headers={"Content-Type": "application/cloudevents+json"},
        allow_private=True,
    )
    (seen,) = server.received
    assert seen["body"] == b'{"raw": 1}'
    assert seen["headers"]["Content-Type"] == "application/cloudevents+json"


def test_redirect_is_not_followed_and_comes_back_as_the_3xx(server):
    url = f"http://127.0.0.1:{server.server_port}/redirect"
    response = post_json(url, {"a": 1}, allow_private=True)
    assert response.status == 302
    assert response.headers["Location"] == "/target"
    assert [r["path"] for r in server.received] == ["/redirect"]


@responses.activate
def test_public_target_redirecting_to_a_private_address_is_not_followed(server):
    private = f"http://127.0.0.1:{server.server_port}/target"
    responses.add(
        responses.POST,
        "https://public.example.test/hook",
        status=302,
        headers={"Location": private},
    )
    response = post_json(
        "https://public.example.test/hook", {"a": 1}, allow_private=False, resolver=fake_resolver
    )
    assert response.status == 302
    assert len(responses.calls) == 1
    assert server.received == []


def test_slow_answer_past_the_read_timeout_is_a_retryable_timeout(server):
    url = f"http://127.0.0.1:{server.server_port}/slow"
    with pytest.raises(DeliveryTimeout, match="read timeout") as e:
        post_json(url, {"a": 1}, timeout=0.3, allow_private=True)
    assert e.value.retryable is True


def test_body_stalling_past_the_read_timeout_is_a_timeout(server):
    url = f"http://127.0.0.1:{server.server_port}/slow-body"
    with pytest.raises(DeliveryTimeout):
        post_json(url, {"a": 1}, timeout=(2.0, 0.3), allow_private=True)


def test_closed_port_is_a_retryable_connection_error():
    with pytest.raises(DeliveryConnectionError) as e:
        post_json(f"http://127.0.0.1:{_closed_port()}/hook", {"a": 1}, allow_private=True)
    assert e.value.retryable is True
    assert isinstance(e.value, OutboundError)


def test_body_is_cut_to_64_kib(server):
    response = post_json(f"http://127.0.0.1:{server.server_port}/big", {}, allow_private=True)
    assert len(response.text) == 64 * 1024


def test_environment_proxies_are_ignored(server, monkeypatch):
    # A proxy would resolve the name itself; this one is a dead local port, so using it would fail.
    proxy = f"http://127.0.0.1:{_closed_port()}"
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    response = post_json(f"http://127.0.0.1:{server.server_port}/hook", {}, allow_private=True)
    assert response.status == 200


def test_session_lends_headers_but_never_its_adapters(server):
    class Exploding(requests.adapters.HTTPAdapter):
        def send(self, *args, **kwargs):
            raise AssertionError("the session's adapter must not be used")

    session = requests.Session()
    session.headers["X-From-Session"] = "1"
    session.mount("http://", Exploding())
    post_json(
        f"http://127.0.0.1:{server.server_port}/hook", {}, allow_private=True, session=session
    )
    assert server.received[0]["headers"]["X-From-Session"] == "1"


def test_logs_host_and_status_but_no_header_values_or_body(server, caplog):
    caplog.set_level(logging.DEBUG, logger="connector.delivery.outbound")
    post_json(
        f"http://127.0.0.1:{server.server_port}/hook?token=path-secret",
        {"k": "body-secret"},
        headers={"Authorization": "Bearer header-secret"},
        allow_private=True,
    )
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert f"127.0.0.1:{server.server_port}" in text and "200" in text
    for secret in ("body-secret", "header-secret", "path-secret"):
        assert secret not in text


# --- pinning: connect to the checked address, never look the name up again --------------------


def test_request_goes_to_the_checked_address_with_the_original_host_header(server, dns_lookups):
    calls: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append((host, port))
        return ["127.0.0.1"]

    port = server.server_port
    for _ in range(2):
        post_json(
            f"http://hooks.example.test:{port}/hook",
            {"a": 1},
            allow_private=True,
            resolver=resolver,
        )
    assert calls == [("hooks.example.test", port)] * 2  # exactly one lookup per request
    assert dns_lookups == []  # and no second one behind our back
    assert [r["headers"]["Host"] for r in server.received] == [f"hooks.example.test:{port}"] * 2


def test_checked_addresses_are_tried_in_order(server, monkeypatch):
    attempts: list[str] = []
    real = outbound.create_connection

    def create_connection(address, *args, **kwargs):
        attempts.append(address[0])
        if address[0] != "127.0.0.1":
            raise ConnectionRefusedError("refused (simulated, nothing sent)")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(outbound, "create_connection", create_connection)
    url = f"http://hooks.example.test:{server.server_port}/hook"
    response = post_json(
        url, {}, allow_private=True, resolver=lambda h, p: ["10.9.9.9", "127.0.0.1"]
    )
    assert response.status == 200
    assert attempts == ["10.9.9.9", "127.0.0.1"]
    with pytest.raises(DeliveryConnectionError):
        post_json(url, {}, allow_private=True, resolver=lambda h, p: ["10.9.9.8", "10.9.9.9"])


# --- TLS: SNI and certificate checks stay on the name while the socket goes to the IP ----------


@pytest.fixture
def tls_server(tmp_path, monkeypatch):
    # Trust only our throwaway CA for these tests.
    context = server_context_trusted_by_requests(tmp_path, monkeypatch, "hooks.example.test")
    srv = _serve(context)
    yield srv
    srv.shutdown()
    srv.server_close()


def test_https_to_a_pinned_address_verifies_the_certificate_for_the_name(tls_server):
    port = tls_server.server_port
    response = post_json(
        f"https://hooks.example.test:{port}/hook",
        {"a": 1},
        allow_private=True,
        resolver=lambda h, p: ["127.0.0.1"],
    )
    assert response.status == 200
    assert tls_server.received[0]["headers"]["Host"] == f"hooks.example.test:{port}"


def test_https_certificate_for_another_name_is_rejected(tls_server):
    url = f"https://other.example.test:{tls_server.server_port}/hook"
    with pytest.raises(DeliveryConnectionError):
        post_json(url, {"a": 1}, allow_private=True, resolver=lambda h, p: ["127.0.0.1"])
    assert tls_server.received == []
