"""Outbound keep-alive: deliveries reuse connections to the very addresses their check pinned."""

from __future__ import annotations

import http.server
import ipaddress
import threading
import time

import pytest
from flask import Flask

from connector.delivery.outbound import PinnedPools, _Target, post_json


class _Hook(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real targets do

    def setup(self) -> None:
        self.server.connections += 1
        super().setup()

    def do_POST(self) -> None:  # noqa: N802 - http.server's hook
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(self.server.delay)
        self.server.hosts.append(self.headers["Host"])
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class _HookServer(http.server.ThreadingHTTPServer):
    # socketserver's backlog of 5 overflows when 24 deliveries connect at once: the kernel
    # then drops or resets connections, which a real target's backlog would have taken.
    request_queue_size = 64


@pytest.fixture
def hook():
    server = _HookServer(("127.0.0.1", 0), _Hook)
    server.connections, server.hosts, server.delay = 0, [], 0.0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _app() -> Flask:
    app = Flask(__name__)
    PinnedPools().init_app(app)
    return app


def test_deliveries_made_in_the_app_reuse_one_connection(hook):
    url = f"http://127.0.0.1:{hook.server_address[1]}/hook"
    with _app().app_context():
        answers = [post_json(url, {"n": n}, allow_private=True) for n in range(5)]
    assert [a.status for a in answers] == [200] * 5 and answers[-1].text == '{"ok":true}'
    assert hook.connections == 1


def test_outside_an_app_each_delivery_has_a_connection_of_its_own(hook):
    url = f"http://127.0.0.1:{hook.server_address[1]}/hook"
    for n in range(3):
        post_json(url, {"n": n}, allow_private=True)
    assert hook.connections == 3


def test_two_hosts_on_one_address_never_share_a_connection(hook):
    port = hook.server_address[1]
    resolver = lambda host, port: ["127.0.0.1"]  # noqa: E731
    with _app().app_context():
        for name in ("a.example.test", "b.example.test", "a.example.test"):
            post_json(f"http://{name}:{port}/hook", {}, allow_private=True, resolver=resolver)
    assert hook.hosts == [
        f"{name}:{port}" for name in ("a.example.test", "b.example.test", "a.example.test")
    ]
    assert hook.connections == 2


def test_a_host_whose_addresses_changed_gets_a_pool_of_its_own_and_old_ones_are_closed():
    pools = PinnedPools(size=2)
    first = _Target("a.example.test", 443, [ipaddress.ip_address("203.0.113.1")])
    moved = _Target("a.example.test", 443, [ipaddress.ip_address("203.0.113.2")])
    adapter = pools.adapter("https", first)
    assert pools.adapter("https", first) is adapter
    assert pools.adapter("https", moved) is not adapter  # DNS moved: never the old address
    closed = []
    adapter.close = lambda: closed.append(True)
    pools.adapter("https", _Target("c.example.test", 443, first.addresses))
    assert closed == [True]  # the least recently used pool went
    assert pools.adapter("http", first) is not adapter  # nor is a scheme shared


def test_a_kept_alive_connection_reads_each_answer_with_quick_acks(hook, monkeypatch):
    # Python's http.server writes headers and body apart without TCP_NODELAY: on a reused
    # connection the body waited for our delayed ACK (40 ms a delivery) until quick ACKs.
    from connector.delivery import outbound

    acked = []
    monkeypatch.setattr(outbound, "ack_at_once", lambda sock: acked.append(sock.fileno()))
    url = f"http://127.0.0.1:{hook.server_address[1]}/hook"
    with _app().app_context():
        for n in range(3):
            post_json(url, {"n": n}, allow_private=True)
    assert len(acked) == 3 and len(set(acked)) == 1  # every answer, on the one connection


def test_a_target_keeps_as_many_connections_as_a_worker_delivers_to_it_at_once(hook, caplog):
    # 16 first-attempt threads and 8 RQ delivery threads may post to one host together:
    # a pool of urllib3's default 10 discarded connections, with a warning each time.
    from concurrent.futures import ThreadPoolExecutor

    url = f"http://127.0.0.1:{hook.server_address[1]}/hook"
    hook.delay = 0.05  # the 24 deliveries overlap
    app = _app()

    def deliver(n: int) -> int:
        with app.app_context():
            return post_json(url, {"n": n}, allow_private=True).status

    with caplog.at_level("WARNING", logger="urllib3"), ThreadPoolExecutor(24) as pool:
        assert list(pool.map(deliver, range(96))) == [200] * 96
    assert "pool is full" not in caplog.text
    assert hook.connections <= 24  # every connection was kept and reused
