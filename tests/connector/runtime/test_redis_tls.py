"""The connector end to end over rediss:// with client certificates (real TLS redis-server)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import redis

from connector.runtime.redis_connect import RedisTarget
from connector.runtime.redis_store import RedisStore
from tests.support.procs import ServerProcess, free_port
from tests.support.receiver import Receiver
from tests.support.stack import LiveStack
from tests.support.tls import TlsFiles, make_tls_files

AUTH = {"Authorization": "Bearer pi_test_tls_account_key"}


@pytest.fixture
def tls_redis():
    """Start a redis-server that speaks only TLS and requires a client certificate."""
    directory = Path(tempfile.mkdtemp(prefix="pic-tls-"))
    files = make_tls_files(directory)
    port = free_port()
    argv = [
        shutil.which("redis-server") or "redis-server",
        "--port", "0",
        "--tls-port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--dir", str(directory),
        "--tls-cert-file", str(files.server_cert),
        "--tls-key-file", str(files.server_key),
        "--tls-ca-cert-file", str(files.ca_cert),
        "--tls-auth-clients", "yes",
    ]  # fmt: skip
    server = ServerProcess(argv, port=port).start()
    yield f"rediss://127.0.0.1:{port}/0", files
    server.stop()
    shutil.rmtree(directory, ignore_errors=True)


def _target(url: str, files: TlsFiles, *, client_cert: bool = True) -> RedisTarget:
    return RedisTarget(
        url=url,
        ca_cert=str(files.ca_cert),
        client_cert=str(files.client_cert) if client_cert else None,
        client_key=str(files.client_key) if client_cert else None,
    )


def test_a_store_talks_tls_with_a_client_certificate(tls_redis):
    url, files = tls_redis
    store = RedisStore(_target(url, files), "t:")
    assert store.ping()
    store.redis.set("t:k", "v")
    assert store.blocking_client(1).blpop(["t:none"], timeout=1) is None  # blocking reads too


def test_without_the_client_certificate_the_server_refuses(tls_redis):
    url, files = tls_redis
    store = RedisStore(_target(url, files, client_cert=False), "t:")
    with pytest.raises(redis.ConnectionError):
        store.ping()


def test_a_server_certificate_from_another_ca_is_refused(tls_redis, tmp_path):
    url, files = tls_redis
    other = make_tls_files(tmp_path)
    target = RedisTarget(
        url=url,
        ca_cert=str(other.ca_cert),
        client_cert=str(files.client_cert),
        client_key=str(files.client_key),
    )
    with pytest.raises(redis.ConnectionError):
        RedisStore(target, "t:").ping()


def test_the_connector_works_end_to_end_over_tls(tls_redis, pisim):
    url, files = tls_redis
    env = {
        "REDIS_CA_CERT": str(files.ca_cert),
        "REDIS_CLIENT_CERT": str(files.client_cert),
        "REDIS_CLIENT_KEY": str(files.client_key),
    }
    stack = LiveStack(url, pisim.base_url, env).start()
    try:
        assert stack.get("/readyz").status_code == 200
        with Receiver() as receiver:
            answer = stack.post(
                "/v1/jobs",
                json={
                    "kind": "brand_extraction",
                    "input": {"url": "https://tls-end-to-end.example"},
                    "callback_url": receiver.url + "/tls",
                },
                headers=AUTH,
            )
            assert answer.status_code == 202, answer.text
            [callback] = receiver.wait_for(1, timeout=40)
        assert callback.json()["data"]["job_id"] == answer.json()["job_id"]
        assert callback.json()["data"]["status"] == "completed"
        assert "redis_unavailable" not in stack.logs()
    finally:
        stack.stop()
