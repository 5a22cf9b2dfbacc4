"""The lean send path against real servers on loopback: same answers and errors as requests."""

from __future__ import annotations

import time
from unittest import mock

import pytest
import requests
from requests.adapters import HTTPAdapter

from connector.pi import (
    PiClient,
    PiConnectionError,
    PiNotFound,
    PiRateLimited,
    PiServerError,
    PiTimeout,
    lean_send,
)
from connector.pi.retry import not_sent
from tests.connector.pi.fakes import JOB_ID, created, job_body
from tests.connector.pi.loopback import Answer, LoopbackServer
from tests.support.procs import free_port

API_KEY = "pi_test_lean_send"
POOL_SIZE = 7


class _RequestsAdapter(HTTPAdapter):
    """requests' adapter under another type: the lean path steps aside for it."""


@pytest.fixture
def server():
    server = LoopbackServer().start()
    yield server
    server.stop()


@pytest.fixture
def spies():
    """Count calls to the lean send and to requests' request preparation."""
    with (
        mock.patch.object(lean_send, "send", wraps=lean_send.send) as lean,
        mock.patch.object(
            requests.PreparedRequest, "prepare", autospec=True, side_effect=_prepare
        ) as prepare,
    ):
        yield lean, prepare


_prepare = requests.PreparedRequest.prepare


def _client(base_url: str, path: str, **options) -> PiClient:
    """Return a client on a pooled session as PiClients builds it, sent by `path`."""
    session = requests.Session()
    session.trust_env = False
    adapter_type = HTTPAdapter if path == "lean" else _RequestsAdapter
    adapter = adapter_type(pool_connections=4, pool_maxsize=POOL_SIZE)
    session.mount("http://", adapter)
    options = {"timeout": 2.0, "backoff_base": 0.01, **options}
    return PiClient(API_KEY, base_url=base_url, session=session, **options)


def _outcome(server: LoopbackServer, path: str, call, *answers: Answer, **options):
    """Run one call by `path` with scripted answers; return what it gave and what Pi saw."""
    server.answers.clear()  # what an earlier run left unread
    server.answers.extend(answers)
    server.seen.clear()
    client = _client(server.base_url, path, **options)
    try:
        result = call(client)
    except Exception as exc:  # noqa: BLE001 -- the error is the outcome compared
        result = (type(exc), str(exc), getattr(exc, "retry_after", None))
    seen = [(s.request_line, s.headers, s.body) for s in server.seen]
    return result, seen


def _both(server, call, *answers, **options):
    """Return the outcome by the lean path, asserting requests' path gives the same."""
    lean = _outcome(server, "lean", call, *answers, **options)
    assert _outcome(server, "requests", call, *answers, **options) == lean
    return lean


def test_a_success_is_read_the_same_and_sent_byte_for_byte_the_same(server, spies):
    def call(client):
        job = client.get_job(JOB_ID, wait=True, timeout_seconds=1)
        return job.status, job.request_id, client.extract_brand(url="https://a.example")

    answer = Answer(body=job_body(), headers={"X-Request-Id": "req_pi_1"})
    result, seen = _both(server, call, answer, Answer(status=202, body=created()))
    assert result == ("processing", "req_pi_1", JOB_ID)
    assert (
        seen[0][0]
        == f"GET /api/v1/jobs/{JOB_ID}?wait_for_completion=true&timeout_seconds=1 HTTP/1.1"
    )  # noqa: E501
    assert ("Authorization", f"Bearer {API_KEY}") in seen[0][1]
    assert seen[1][2] == b'{"url": "https://a.example"}'
    lean, prepare = spies
    assert lean.call_count == 2  # the lean path's two calls; requests' path prepared its own
    assert prepare.call_count == 2


def test_an_error_envelope_maps_to_the_same_error(server):
    envelope = {"error": {"code": "job_not_found", "message": "No such job", "type": "x"}}
    result, _ = _both(
        server,
        lambda client: client.get_job(JOB_ID),
        Answer(status=404, body=envelope, headers={"X-Request-Id": "req_pi_404"}),
    )
    assert result[0] is PiNotFound
    assert "req_pi_404" in result[1] and "No such job" in result[1]


def test_a_server_error_is_retried_the_same(server):
    result, seen = _both(
        server,
        lambda client: client.get_job(JOB_ID).status,
        Answer(status=503, body={"error": {"message": "busy"}}),
        Answer(body=job_body()),
        max_retries=1,
    )
    assert result == "processing" and len(seen) == 2
    result, _ = _both(
        server, lambda client: client.get_job(JOB_ID), Answer(status=500, body=[]), max_retries=0
    )
    assert result[0] is PiServerError


def test_a_rate_limit_carries_retry_after(server):
    result, seen = _both(
        server,
        lambda client: client.get_job(JOB_ID),
        Answer(status=429, body={"error": {"code": "rate_limited"}}, headers={"Retry-After": "7"}),
        max_retries=0,
    )
    assert result[0] is PiRateLimited and result[2] == 7 and len(seen) == 1


def test_a_read_timeout_is_a_pi_timeout(server):
    result, _ = _both(
        server,
        lambda client: client.get_job(JOB_ID),
        Answer(delay=1.0),
        timeout=0.2,
        max_retries=0,
    )
    assert result[0] is PiTimeout and "ReadTimeout" in result[1]


def test_a_body_cut_short_fails_as_requests_fails_it(server):
    result, _ = _both(
        server, lambda client: client.get_job(JOB_ID), Answer(body=job_body(), truncate=True)
    )
    assert result[0] is PiConnectionError and "ChunkedEncodingError" in result[1]


@pytest.mark.parametrize("path", ["lean", "requests"])
def test_a_refused_connection_is_a_connection_error_sent_nowhere(path):
    client = _client(f"http://127.0.0.1:{free_port()}", path, max_retries=0)
    with pytest.raises(PiConnectionError) as caught:
        client.extract_brand(url="https://a.example")
    assert type(caught.value) is PiConnectionError
    assert "ConnectionError" in str(caught.value)
    assert not_sent(caught.value)  # so a create is retried: it cannot have reached Pi


def test_calls_reuse_one_kept_alive_connection_from_the_sessions_pool(server, spies):
    client = _client(server.base_url, "lean")
    server.answers.extend([Answer(body=job_body())] * 3)
    for _ in range(3):
        client.get_job(JOB_ID)
    assert len({seen.client_port for seen in server.seen}) == 1
    lean, prepare = spies
    assert lean.call_count == 3 and prepare.call_count == 0
    adapter = client._session.get_adapter(server.base_url)
    probe = requests.Request("GET", server.base_url).prepare()
    pool = adapter.get_connection_with_tls_context(probe, verify=True)  # the one requests picks
    assert len(adapter.poolmanager.pools) == 1
    assert pool.pool.maxsize == POOL_SIZE and pool.num_connections == 1


def test_a_whole_job_against_the_simulator_takes_the_lean_path(pisim, spies):
    client = _client(pisim.base_url, "lean", timeout=5.0)
    job_id = client.extract_brand(url="https://www.acme.com/")
    job = client.wait_for_job(job_id, deadline=time.monotonic() + 15, poll_timeout=10)
    assert job.succeeded and job.brand_id
    lean, prepare = spies
    assert lean.call_count >= 2 and prepare.call_count == 0
