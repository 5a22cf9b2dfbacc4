"""The lean send path: when it applies, and that it builds what requests would prepare."""

from __future__ import annotations

import math
from unittest import mock

import pytest
import requests
import responses
from requests.adapters import HTTPAdapter

from connector.pi import PiClient, lean_send
from tests.connector.pi.fakes import API_KEY, BASE, JOB_ID, JOB_URL, created

AUTH = f"Bearer {API_KEY}"
SESSION_HEADERS = dict(requests.Session().headers)
OURS = {**SESSION_HEADERS, "User-Agent": "pi-connector/0.1", "Accept": "application/json"}
KEYED = {**OURS, "Idempotency-Key": "key 1"}


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def test_requests_own_adapter_takes_the_lean_path():
    session = _session()
    assert lean_send.stock_adapter(session, JOB_URL) is session.get_adapter(JOB_URL)


def test_a_responses_mock_keeps_its_calls():
    session = _session()
    with responses.RequestsMock():
        assert lean_send.stock_adapter(session, JOB_URL) is None
    assert lean_send.stock_adapter(session, JOB_URL) is not None


def test_calls_under_responses_reach_the_mock_not_the_network(rsps):
    rsps.post(f"{BASE}/api/v1/brands/extract", json=created())
    with (
        PiClient(API_KEY, base_url=BASE) as client,
        mock.patch.object(lean_send, "send", side_effect=AssertionError("lean path")),
    ):
        assert client.extract_brand(url="https://acme.com") == JOB_ID
    assert len(rsps.calls) == 1


def test_a_subclassed_or_patched_adapter_keeps_its_calls():
    class Custom(HTTPAdapter):
        pass

    session = _session()
    session.mount("http://", Custom())
    assert lean_send.stock_adapter(session, JOB_URL) is None
    session = _session()
    adapter = session.get_adapter(JOB_URL)
    adapter.send = mock.Mock()
    assert lean_send.stock_adapter(session, JOB_URL) is None
    with mock.patch.object(HTTPAdapter, "build_response"):
        assert lean_send.stock_adapter(_session(), JOB_URL) is None


def test_a_proxied_url_goes_through_requests():
    session = _session()
    session.proxies = {"http": "http://proxy.internal:3128"}
    assert lean_send.stock_adapter(session, JOB_URL) is None
    session.proxies = {"https": "http://proxy.internal:3128", "no": "localhost"}
    assert lean_send.stock_adapter(session, JOB_URL) is not None


def _prepared(method, url, params, json_body, headers):
    prepared = requests.PreparedRequest()
    prepared.prepare(
        method=method,
        url=url,
        headers=headers,
        params=params,
        json=json_body,
        auth=lambda r: r.headers.__setitem__("Authorization", AUTH) or r,
    )
    return prepared


SAME_AS_PREPARED = [
    ("GET", JOB_URL, None, None, OURS),
    ("GET", JOB_URL, {"wait_for_completion": "true", "timeout_seconds": "20"}, None, OURS),
    ("GET", f"{BASE}/api/v1/brands", {"limit": "5", "query": "Ça & va? 100%+"}, None, OURS),
    ("POST", f"{BASE}/api/v1/brands/extract", None, {"url": "https://a.example/é"}, OURS),
    ("POST", f"{BASE}/api/v1/images/generations", None, {"prompt": "x"}, KEYED),
    ("POST", "https://api.pi.example:8443/pre/api/v1/brands/extract", None, {}, OURS),
    ("POST", f"{BASE}/api/v1/brands/extract", None, None, OURS),
]


@pytest.mark.parametrize(("method", "url", "params", "json_body", "headers"), SAME_AS_PREPARED)
def test_builds_the_request_requests_prepares(method, url, params, json_body, headers):
    lean = lean_send.build_request(
        method, url, params=params, json_body=json_body, headers=headers, authorization=AUTH
    )
    prepared = _prepared(method, url, params, json_body, headers)
    assert lean is not None
    assert (lean.method, lean.url, lean.path_url, lean.body) == (
        prepared.method,
        prepared.url,
        prepared.path_url,
        prepared.body,
    )
    assert list(lean.headers.items()) == list(prepared.headers.items())


LEFT_TO_REQUESTS = [
    ("GET", f"{BASE}/api/v1/jobs/a%20b", None, None, OURS),  # escapes get requoted
    ("GET", f"{BASE}/api/v1/../v1/jobs/x", None, None, OURS),  # dot segments get removed
    ("GET", "http://PI.test/api/v1/jobs/x", None, None, OURS),  # the host gets lowered
    ("GET", "http://[::1]:8080/api/v1/jobs/x", None, None, OURS),
    ("GET", f"{BASE}/api/v1/jobs/x?a=b", None, None, OURS),  # a query to merge with params
    ("GET", "http://pi.test:99999/api/v1/jobs/x", None, None, OURS),
    ("GET", JOB_URL, {"limit": 5}, None, OURS),
    ("GET", JOB_URL, None, None, {**OURS, "accept": "text/plain"}),  # merged by case
    ("POST", JOB_URL, None, {"x": 1}, {**OURS, "content-type": "text/plain"}),
    ("GET", JOB_URL, None, None, {**OURS, "X-Bad": " leading space"}),
    ("POST", JOB_URL, None, {"x": math.nan}, OURS),  # requests raises InvalidJSONError
]


@pytest.mark.parametrize(("method", "url", "params", "json_body", "headers"), LEFT_TO_REQUESTS)
def test_leaves_to_requests_what_it_would_rewrite(method, url, params, json_body, headers):
    assert (
        lean_send.build_request(
            method, url, params=params, json_body=json_body, headers=headers, authorization=AUTH
        )
        is None
    )


def test_a_requests_without_the_methods_it_stands_in_for_sends_everything(monkeypatch):
    monkeypatch.setattr(lean_send, "_USABLE", False)
    assert lean_send.stock_adapter(_session(), JOB_URL) is None
