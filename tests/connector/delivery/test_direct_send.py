"""Deliveries sent straight on the pinned pool: the bytes, answers and errors of requests' path."""

from __future__ import annotations

import socket

import pytest
import requests
import responses
from flask import Flask

from connector.delivery import direct_send, outbound
from connector.delivery.outbound import OutboundError, PinnedPools, post_json
from tests.support.tls import server_context_trusted_by_requests
from tests.support.wire import WireServer

PATHS = ("direct", "requests")


@pytest.fixture
def wire():
    server = WireServer()
    yield server
    server.close()


def _app() -> Flask:
    app = Flask(__name__)
    PinnedPools().init_app(app)
    return app


@pytest.fixture(params=PATHS)
def path(request, monkeypatch):
    """Send through one path: direct (requests' machinery must not run) or requests (forced)."""
    if request.param == "direct":

        def unused(*args, **kwargs):
            raise AssertionError("the direct path must not go through requests")

        # Not HTTPAdapter.send: patching it is what sends a call through requests.
        monkeypatch.setattr(requests.Request, "prepare", unused)
    else:
        monkeypatch.setattr(direct_send, "stock", lambda adapter: False)
    return request.param


def _outcome(app: Flask, url: str, body=None, **kwargs):
    """Return what a delivery came to: the answer's parts, or the error's type and message."""
    kwargs.setdefault("allow_private", True)
    with app.app_context():
        try:
            answer = post_json(url, {"job": "j-1", "é": 1} if body is None else body, **kwargs)
        except OutboundError as exc:
            return type(exc).__name__, str(exc), exc.retryable
    return answer.status, answer.headers, answer.text


def _both(monkeypatch, send):
    """Run `send(app)` on the direct path, then on the requests path; return both results."""
    results = []
    for name in PATHS:
        with monkeypatch.context() as patch:
            if name == "requests":
                patch.setattr(direct_send, "stock", lambda adapter: False)
            else:
                patch.setattr(requests.Request, "prepare", _refuse)
            results.append(send(_app()))
    return results


def _refuse(*args, **kwargs):
    raise AssertionError("the direct path must not go through requests")


CASES = [
    ("/ok", None, {}),
    ("/ok?token=a%2Fb&x=1:2@3", b'{"raw":true}', {"Content-Type": "application/cloudevents+json"}),
    ("/latin", None, {"Authorization": "Bearer t0ken", "webhook-id": "msg_1"}),
    ("/missing", None, {"Host": "evil.example", "X-Pi-Connector-Event": "job.completed"}),
    ("/busy", b"", {}),
    ("/moved", None, {}),
    ("/big", None, {"User-Agent": "custom/1"}),
    ("", None, {}),
]


@pytest.mark.parametrize(
    ("where", "body", "headers"), CASES, ids=[c[0] or "no-path" for c in CASES]
)
def test_both_paths_put_the_same_bytes_on_the_wire_and_read_the_same_answer(
    wire, monkeypatch, where, body, headers
):
    def send(app):
        return _outcome(app, wire.url + where, body, headers=headers)

    direct, via_requests = _both(monkeypatch, send)
    assert direct == via_requests
    first, second = wire.requests
    assert first == second
    assert b"Host: 127.0.0.1:%d\r\n" % wire.port in first  # the checked host, never the caller's
    if where == "/big":
        assert len(direct[2]) == outbound.MAX_BODY
    if where == "/latin":
        assert direct[2] == "café"


def test_both_paths_fail_the_same_way_on_a_slow_answer_a_closed_port_and_a_connect_timeout(
    wire, monkeypatch
):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    results = _both(monkeypatch, lambda app: _outcome(app, wire.url + "/slow", timeout=0.3))
    assert (
        results[0]
        == results[1]
        == ("DeliveryTimeout", f"read timeout talking to 127.0.0.1:{wire.port}", True)
    )
    results = _both(monkeypatch, lambda app: _outcome(app, f"http://127.0.0.1:{closed}/cb"))
    assert results[0] == results[1]
    assert results[0][0] == "DeliveryConnectionError" and "/cb" not in results[0][1]

    def no_answer(address, *args, **kwargs):
        raise TimeoutError("timed out (simulated)")

    monkeypatch.setattr(outbound, "create_connection", no_answer)
    results = _both(monkeypatch, lambda app: _outcome(app, wire.url + "/ok?secret=s3cr3t"))
    assert results[0] == results[1]
    assert results[0] == (
        "DeliveryTimeout",
        f"connect timeout talking to 127.0.0.1:{wire.port}",
        True,
    )


def test_each_path_keeps_connections_alive_with_quick_acks(wire, monkeypatch, path):
    acked = []
    monkeypatch.setattr(outbound, "ack_at_once", lambda sock: acked.append(sock.fileno()))
    app = _app()
    assert [_outcome(app, wire.url + "/ok")[0] for _ in range(3)] == [200] * 3
    assert wire.connections == 1
    assert len(acked) == 3 and len(set(acked)) == 1
    _outcome(app, wire.url + "/big")  # a body cut short: that connection is not reused
    _outcome(app, wire.url + "/ok")
    assert wire.connections == 2


def test_each_path_goes_to_the_checked_address_and_ignores_env_proxies(wire, monkeypatch, path):
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # the discard port: a proxy would fail
    looked_up = []

    def resolver(host, port):
        looked_up.append(host)
        return ["127.0.0.1"]

    url = f"http://hooks.example.test:{wire.port}/ok"
    assert _outcome(_app(), url, resolver=resolver)[0] == 200
    assert looked_up == ["hooks.example.test"]
    assert f"Host: hooks.example.test:{wire.port}\r\n".encode() in wire.requests[0]


def test_a_target_refused_by_the_check_is_never_contacted_on_either_path(wire, path):
    result = _outcome(_app(), wire.url + "/ok", allow_private=False)
    assert result[0] == "TargetRefused" and wire.connections == 0


@pytest.fixture
def tls_wire(tmp_path, monkeypatch):
    context = server_context_trusted_by_requests(tmp_path, monkeypatch, "hooks.example.test")
    server = WireServer(tls=context)
    yield server
    server.close()


def test_tls_is_verified_for_the_checked_name_on_both_paths(tls_wire, monkeypatch):
    pinned = {"resolver": lambda host, port: ["127.0.0.1"]}
    good = f"https://hooks.example.test:{tls_wire.port}/ok"
    bad = f"https://other.example.test:{tls_wire.port}/ok"
    assert _both(monkeypatch, lambda app: _outcome(app, good, **pinned)[0]) == [200, 200]
    direct, via_requests = _both(monkeypatch, lambda app: _outcome(app, bad, **pinned))
    assert direct == via_requests
    assert direct[0] == "DeliveryConnectionError"


def test_a_delivery_faked_with_responses_goes_through_the_patched_adapter():
    with _app().app_context(), responses.RequestsMock() as faked:
        faked.add(responses.POST, "https://hooks.example.test/cb", status=202, body="queued")
        answer = post_json(
            "https://hooks.example.test/cb", {"a": 1}, resolver=lambda h, p: ["93.184.216.34"]
        )
        assert (answer.status, answer.text) == (202, "queued")
        assert faked.calls[0].request.body == b'{"a":1}'


# --- building the request: what requests would prepare, or leave it to requests ----------------

SAME = [
    ("https://hooks.example.test/cb", b'{"a":1}', {"User-Agent": "pi-connector/0.1"}),
    ("https://hooks.example.test", b"{}", {}),
    ("http://127.0.0.1:8080/a/b.c/~d-e_f?x=1&y=a%2Fb&z=:@/?", b"x", {"X": "1"}),
    ("https://h.example.test/.well-known/hook;v=1", None, {"Content-Type": "text/plain"}),
    ("https://h.example.test/cb?", b"", {"Authorization": "Bearer abc", "Cookie": "c=1"}),
    ("https://h.example.test/p%C3%A9?q=%E2%82%AC", b"1", {"webhook-id": "msg_1"}),
]


@pytest.mark.parametrize(("url", "body", "headers"), SAME)
def test_a_plain_request_is_built_as_requests_prepares_it(url, body, headers):
    built = direct_send.plain_request("POST", url, headers, body)
    prepared = requests.Request("POST", url, data=body, headers=headers).prepare()
    assert built is not None
    assert built.path_url == prepared.path_url
    assert list(built.headers.items()) == list(prepared.headers.items())
    assert built.body == prepared.body


LEFT_TO_REQUESTS = [
    ("post", "https://h.example.test/cb", {}),
    ("POST", "https://H.example.test/cb", {}),
    ("POST", "https://[2001:db8::1]/cb", {}),
    ("POST", "https://h.example.test/a/../cb", {}),
    ("POST", "https://h.example.test/a/./cb", {}),
    ("POST", "https://h.example.test//cb", {}),
    ("POST", "https://h.example.test/%7Ecb", {}),
    ("POST", "https://h.example.test/%2fcb", {}),
    ("POST", "https://h.example.test/caf\u00e9", {}),
    ("POST", "https://h.example.test/cb#part", {}),
    ("POST", "https://h.example.test/[cb]", {}),
    ("POST", "https://xn--caf-dma.example.test:0443/cb", {}),
    ("POST", "https://h.example.test/cb", {"Content-Length": "3"}),
    ("POST", "https://h.example.test/cb", {"X-A": "1", "x-a": "2"}),
    ("POST", "https://h.example.test/cb", {"X-A": "1\r\nX-B: 2"}),
    ("POST", "https://h.example.test/cb", {"X-A": 1}),
]


@pytest.mark.parametrize(("method", "url", "headers"), LEFT_TO_REQUESTS)
def test_a_request_requests_might_build_differently_is_left_to_requests(method, url, headers):
    assert direct_send.plain_request(method, url, headers, b"{}") is None


def test_a_patched_or_overridden_adapter_send_is_not_stock(monkeypatch):
    adapter = outbound._PinnedAdapter(outbound._Target("h.example.test", 443, []))
    assert direct_send.stock(adapter)
    with responses.RequestsMock():
        assert not direct_send.stock(adapter)
    assert direct_send.stock(adapter)
    monkeypatch.setattr(adapter, "build_response", lambda *a: None)
    assert not direct_send.stock(adapter)

    class Custom(outbound._PinnedAdapter):
        def add_headers(self, request, **kwargs):
            request.headers["X-Extra"] = "1"

    assert not direct_send.stock(Custom(outbound._Target("h.example.test", 443, [])))
