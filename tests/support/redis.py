"""Pytest plugin: a private redis-server for the test session, emptied before each test."""

from __future__ import annotations

import shutil
import signal
import tempfile

import pytest
import redis

from tests.support.procs import ServerProcess, free_port, stable_port


class RedisServer:
    """A redis-server this test session owns (so flushing it harms nobody)."""

    def __init__(
        self, *, appendonly: bool = False, appendfsync: str = "always", restartable: bool = False
    ) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(
                "redis-server is not on PATH; .ci/run installs it (apt-get install redis-server)"
            )
        # A server that is crashed and restarted keeps a port no other test is handed.
        self.port = stable_port() if restartable else free_port()
        self.dir = tempfile.mkdtemp(prefix="pic-redis-")
        argv = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            self.dir,
            "--appendonly",
            "yes" if appendonly else "no",
            "--appendfsync",
            appendfsync,
        ]
        self.process = ServerProcess(argv, port=self.port)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.process.start()
        # Whoever answers on the port must be this process (not another test's server).
        info = self.client().info("server")
        assert info["process_id"] == self.process.pid, f"port {self.port} answered by another"
        return self

    def stop(self) -> None:
        self.process.stop()

    def crash(self) -> None:
        """SIGKILL the server (no shutdown save, no final fsync) and reap it."""
        self.process.kill(signal.SIGKILL)
        assert self.process.proc is not None
        self.process.proc.wait(timeout=10)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


@pytest.fixture(scope="session")
def redis_server():
    """Start a private redis-server for the session."""
    server = RedisServer().start()
    yield server
    server.stop()
    shutil.rmtree(server.dir, ignore_errors=True)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """Return the private server's URL, emptied first (we own it)."""
    redis_server.client().flushall()
    return redis_server.url


@pytest.fixture
def redis_client(redis_url: str) -> redis.Redis:
    """Return a client of the private, empty server."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()
