"""The SSRF guard at the endpoints: every unsafe target refused when registered and when delivered.

The dev allowance (CONNECTOR_ALLOW_PRIVATE_TARGETS) is off throughout. Name resolution is
faked by patching `socket.getaddrinfo` with a table (numeric hosts still parse for real), so no
test reaches a DNS server; connections only ever go to 127.0.0.1.

Registration matrix: 16 targets x 5 endpoints = 80 refusals, each a 400 JSON naming the field.
Delivery: a stored target that later resolves to a private address is refused by each of the
four delivery kinds; a redirect to a private address is never followed; the connection goes to
the address that was checked.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connector import create_app
from connector.auth import account_id_for
from connector.delivery import outbound
from connector.delivery.dispatch import deliver, delivery_state
from connector.delivery.outcomes import FAILED
from connector.delivery.subscriptions import Subscriber
from connector.ledger import get_ledger
from manychat_app.deliveries import push_subscriber
from tests.support.receiver import Receiver
from tests.zapier_app.helpers import KEY_A, add_job, auth

PUBLIC_IP = "93.184.216.34"  # never contacted for real: connections to it are sent to 127.0.0.1
PRIVATE_NAME = "intranet.example.test"
PUBLIC_NAME = "hooks.example.test"

# (case id, URL template with {scheme}): every target the issue lists, without the dev allowance.
HOST_CASES = [
    ("loopback-v4", "127.0.0.1"),
    ("localhost", "localhost"),
    ("loopback-v6", "[::1]"),
    ("v4-mapped-loopback", "[::ffff:127.0.0.1]"),
    ("metadata", "169.254.169.254"),
    ("rfc1918-10", "10.0.0.1"),
    ("rfc1918-172", "172.16.0.1"),
    ("rfc1918-192", "192.168.1.1"),
    ("unspecified", "0.0.0.0"),
    ("decimal-loopback", "2130706433"),
    ("hex-loopback", "0x7f000001"),
    ("octal-loopback", "0177.0.0.1"),
    ("name-resolving-private", PRIVATE_NAME),
]
SCHEME_CASES = [
    ("ftp", f"ftp://{PUBLIC_IP}/cb"),
    ("file", "file:///etc/passwd"),
    ("gopher", f"gopher://{PUBLIC_IP}:70/_cb"),
]
CASES = [(name, f"https://{host}/cb") for name, host in HOST_CASES] + SCHEME_CASES

# (endpoint id, path, the JSON body for a target URL, the field that names it)
ENDPOINTS = [
    (
        "v1-jobs",
        "/v1/jobs",
        lambda url: {
            "kind": "brand_extraction",
            "input": {"url": "https://acme.example"},
            "callback_url": url,
        },
        "callback_url",
    ),
    (
        "zapier-hooks",
        "/zapier/v1/hooks",
        lambda url: {"target_url": url, "event": "job.completed"},
        "target_url",
    ),
    (
        "zapier-extract-brand",
        "/zapier/v1/actions/extract_brand",
        lambda url: {"url": "https://acme.example", "callback_url": url},
        "callback_url",
    ),
    (
        "zapier-generate-image",
        "/zapier/v1/actions/generate_image",
        lambda url: {"prompt": "a red bicycle", "callback_url": url},
        "callback_url",
    ),
    (
        "zapier-render-campaign",
        "/zapier/v1/actions/render_campaign",
        lambda url: {"prompt": "a spring sale", "callback_url": url},
        "callback_url",
    ),
]

ISSUE_TARGETS = {
    "127.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]", "169.254.169.254", "10.0.0.1",
    "172.16.0.1", "192.168.1.1", "0.0.0.0", "2130706433", "0x7f000001", "0177.0.0.1",
}  # fmt: skip


class FakeDns:
    """A name table standing in for DNS; records every lookup that is not a numeric parse."""

    def __init__(self) -> None:
        self.table = {PRIVATE_NAME: ["10.20.30.40"], PUBLIC_NAME: [PUBLIC_IP]}
        self.lookups: list[str] = []


@pytest.fixture
def dns(monkeypatch) -> FakeDns:
    """Answer name lookups from a table; unknown names fail as they would without DNS."""
    fake = FakeDns()
    real = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        name = host.decode() if isinstance(host, bytes) else host
        if not name or name == "localhost" or _numeric(name) or flags & socket.AI_NUMERICHOST:
            return real(host, port, family, type, proto, flags)  # parsing only, no DNS
        fake.lookups.append(name)
        if name not in fake.table:
            raise socket.gaierror(socket.EAI_NONAME, f"test DNS knows no {name}")
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port or 0)) for ip in fake.table[name]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return fake


def _numeric(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True


@pytest.fixture
def guarded_app(app_config, pisim, dns):
    """Return an app on the simulator with the dev allowance off."""
    return create_app(
        {**app_config, "PI_BASE_URL": pisim.base_url, "CONNECTOR_ALLOW_PRIVATE_TARGETS": False}
    )


def test_the_matrix_holds_every_target_the_issue_lists():
    hosts = {host for _, host in HOST_CASES}
    assert hosts >= ISSUE_TARGETS
    assert PRIVATE_NAME in hosts
    assert {name for name, _ in SCHEME_CASES} >= {"ftp", "file"}
    assert len(CASES) * len(ENDPOINTS) == 80


@pytest.mark.parametrize(
    ("endpoint", "path", "body", "field"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS]
)
@pytest.mark.parametrize("url", [url for _, url in CASES], ids=[name for name, _ in CASES])
def test_unsafe_target_is_refused_at_registration_with_a_400_naming_the_field(
    guarded_app, pisim, endpoint, path, body, field, url
):
    response = guarded_app.test_client().post(path, json=body(url), headers=auth())
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert field in error["message"] or field in (error.get("details") or {})
    assert error["code"]
    # Nothing was created: no Pi job, no hook.
    assert pisim.stats()["jobs_created"] == 0
    hooks = guarded_app.extensions["subscriptions"].list_hooks(account_id_for(KEY_A))
    assert hooks == []


@pytest.mark.parametrize(
    ("endpoint", "path", "body", "field"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS]
)
def test_public_target_is_accepted_at_registration(guarded_app, endpoint, path, body, field):
    """The control: the same endpoints accept a name that resolves to a public address."""
    response = guarded_app.test_client().post(
        path, json=body(f"https://{PUBLIC_NAME}/cb"), headers=auth()
    )
    assert response.status_code in (200, 201, 202), response.get_data(as_text=True)


# --- delivery time: the stored target is checked again, and pinned ---------------------------


def _store_subscriber(app, subscriber: Subscriber):
    """Write a finished job with one subscriber, as submission and tracking do; return its ref."""
    with app.app_context():
        ledger = get_ledger()
        record = add_job(ledger, domain="acme.example")
        pipe = ledger.redis.pipeline()
        app.extensions["subscriptions"].add(pipe, record.account_id, record.job_id, subscriber)
        pipe.execute()
        return record, f"sub:{subscriber.id}"


def _delivery_targets(app, receiver_port: int):
    """Yield (kind, record, ref) for a target of each delivery kind, all at PUBLIC_NAME."""
    url = f"https://{PUBLIC_NAME}:{receiver_port}/cb"
    client = app.test_client()
    hook = client.post(
        "/zapier/v1/hooks", json={"target_url": url, "event": "job.completed"}, headers=auth()
    )
    assert hook.status_code == 201, hook.get_data(as_text=True)
    with app.app_context():
        record = add_job(get_ledger(), domain="acme.example")
    yield "zapier_hook", record, f"hook:{hook.get_json()['id']}:job.completed"
    yield ("webhook", *_store_subscriber(app, Subscriber("webhook", url)))
    yield ("zapier_callback", *_store_subscriber(app, Subscriber("zapier_callback", url)))
    yield (
        "manychat_push",
        *_store_subscriber(app, push_subscriber("501", "1234567:mc_key_ssrf_test", None)),
    )


def test_stored_target_now_resolving_to_a_private_address_is_refused_at_delivery(
    app_config, pisim, dns
):
    with Receiver() as receiver:
        app = create_app(
            {
                **app_config,
                "PI_BASE_URL": pisim.base_url,
                "CONNECTOR_ALLOW_PRIVATE_TARGETS": False,
                "MANYCHAT_API_URL": f"https://{PUBLIC_NAME}:{receiver.port}",
            }
        )
        targets = list(_delivery_targets(app, receiver.port))
        assert {kind for kind, _, _ in targets} == {
            "zapier_hook", "webhook", "zapier_callback", "manychat_push"
        }  # fmt: skip
        # Later the name points at this machine, where something listens.
        dns.table[PUBLIC_NAME] = ["127.0.0.1"]
        with app.app_context():
            for kind, record, ref in targets:
                assert deliver(record.account_id, record.job_id, ref) == FAILED, kind
                state = delivery_state(record.account_id, record.job_id, ref)
                assert "refused" in state["detail"] and "loopback" in state["detail"], kind
        assert receiver.requests == []


class _Redirecting(BaseHTTPRequestHandler):
    """Answer every POST with a 302 to the private address the server was given."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.hits.append(self.headers.get("Host"))
        self.send_response(302)
        self.send_header("Location", self.server.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:  # keep test output quiet
        pass


@pytest.fixture
def public_web(monkeypatch):
    """Stand a local server in for PUBLIC_IP:80: connections to it reach 127.0.0.1 instead."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirecting)
    server.daemon_threads = True
    server.hits = []
    server.connected = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    real = outbound.create_connection

    def create_connection(address, *args, **kwargs):
        server.connected.append(address)
        if address == (PUBLIC_IP, 80):
            address = ("127.0.0.1", server.server_address[1])  # a NAT in front of the "internet"
        return real(address, *args, **kwargs)

    monkeypatch.setattr(outbound, "create_connection", create_connection)
    yield server
    server.shutdown()
    server.server_close()


def test_public_target_redirecting_to_a_private_address_is_not_followed(
    app_config, pisim, dns, public_web
):
    app = create_app(
        {**app_config, "PI_BASE_URL": pisim.base_url, "CONNECTOR_ALLOW_PRIVATE_TARGETS": False}
    )
    with Receiver() as private:
        public_web.location = private.url + "/internal"
        record, ref = _store_subscriber(app, Subscriber("webhook", f"http://{PUBLIC_NAME}/cb"))
        with app.app_context():
            assert deliver(record.account_id, record.job_id, ref) == FAILED
            state = delivery_state(record.account_id, record.job_id, ref)
        assert "302" in state["detail"] and "redirects are not followed" in state["detail"]
        assert public_web.hits == [PUBLIC_NAME]  # the public target was reached once
        assert private.requests == []  # and its Location never was
    assert public_web.connected == [(PUBLIC_IP, 80)]


def test_delivery_connects_to_the_checked_address_without_a_second_lookup(
    app_config, pisim, dns, public_web
):
    app = create_app(
        {**app_config, "PI_BASE_URL": pisim.base_url, "CONNECTOR_ALLOW_PRIVATE_TARGETS": False}
    )
    public_web.location = "/elsewhere"
    record, ref = _store_subscriber(app, Subscriber("webhook", f"http://{PUBLIC_NAME}/cb"))
    real_lookup = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):
        # DNS rebinding: after the first answer the name points at loopback.
        answer = real_lookup(host, *args, **kwargs)
        if host == PUBLIC_NAME:
            dns.table[PUBLIC_NAME] = ["127.0.0.1"]
        return answer

    with contextlib.ExitStack() as stack:
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        patch.setattr(socket, "getaddrinfo", rebinding)
        with app.app_context():
            deliver(record.account_id, record.job_id, ref)
    assert dns.lookups.count(PUBLIC_NAME) == 1
    assert public_web.connected == [(PUBLIC_IP, 80)]  # the checked address, not the rebound one
    assert public_web.hits == [PUBLIC_NAME]


def test_refusals_are_reported_without_echoing_secrets(guarded_app):
    """A refused URL's userinfo (a password) never comes back in the error."""
    response = guarded_app.test_client().post(
        "/zapier/v1/hooks",
        json={"target_url": "https://user:s3cret-pass@10.0.0.1/cb", "event": "job.completed"},
        headers=auth(),
    )
    assert response.status_code == 400
    assert "s3cret-pass" not in json.dumps(response.get_json())
