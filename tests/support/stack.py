"""Pytest plugin: a live connector (web + worker processes) on a private Redis and the simulator."""

from __future__ import annotations

import time

import pytest
import requests

from tests.support.constants import TEST_SECRET_KEY, WEBHOOK_SECRET
from tests.support.procs import ServerProcess, free_port, python_argv


class LiveStack:
    """A running web process and worker process sharing a Redis and a Pi."""

    def __init__(self, redis_url: str, pi_base_url: str, extra_env: dict[str, str] | None = None):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.redis_url = redis_url
        self.env = {
            "PI_BASE_URL": pi_base_url,
            "REDIS_URL": redis_url,
            "CONNECTOR_SECRET_KEY": TEST_SECRET_KEY,
            "CONNECTOR_PUBLIC_URL": self.base_url,
            "CONNECTOR_ALLOW_PRIVATE_TARGETS": "true",
            "CONNECTOR_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "CONNECTOR_LOG_LEVEL": "INFO",
            "WEB_CONCURRENCY": "2",
            **(extra_env or {}),
        }
        self.web = ServerProcess(
            python_argv("-m", "connector.cli", "serve", "--port", str(self.port)),
            port=self.port,
            env=self.env,
        )
        self.workers: list[ServerProcess] = []

    def start(self) -> LiveStack:
        self.web.start()
        self.start_worker()
        return self

    def start_worker(self) -> ServerProcess:
        """Start one more worker process and wait until it registered with RQ."""
        worker = ServerProcess(python_argv("-m", "connector.cli", "worker"), env=self.env).start()
        self.workers.append(worker)
        self._wait_registered(worker)
        return worker

    def _wait_registered(self, worker: ServerProcess, timeout: float = 20) -> None:
        from rq import Worker

        conn = self.redis_client()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(w.pid == worker.pid for w in Worker.all(connection=conn)):
                return
            if worker.proc.poll() is not None:
                raise RuntimeError("worker exited:\n" + worker.output())
            time.sleep(0.05)
        raise RuntimeError("worker did not register:\n" + worker.output())

    def redis_client(self):
        """Return a client built the way the stack's processes build theirs (Sentinel, TLS)."""
        from connector.config import Settings
        from connector.runtime.redis_connect import RedisConnector, RedisTarget

        target = RedisTarget.from_settings(Settings.load(environ=self.env))
        return RedisConnector(target).client(socket_timeout=5, max_connections=10)

    def kill_worker(self, worker: ServerProcess | None = None) -> None:
        """SIGKILL a worker and every process below it (the work-horse has its own group)."""
        from tests.support.faults import kill_tree

        worker = worker or self.workers[-1]
        kill_tree(worker)
        self.workers.remove(worker)

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.base_url + path, timeout=kwargs.pop("timeout", 40), **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return requests.post(self.base_url + path, timeout=kwargs.pop("timeout", 40), **kwargs)

    def stop(self) -> None:
        for worker in list(self.workers):
            worker.stop()
        self.workers.clear()
        self.web.stop()

    def logs(self) -> str:
        """Return what the web and worker processes printed."""
        parts = [self.web.output()] + [w.output() for w in self.workers]
        return "\n".join(parts)


@pytest.fixture
def live_stack(redis_url: str, pisim):
    """Run web + worker processes against the private Redis and the simulator."""
    stack = LiveStack(redis_url, pisim.base_url).start()
    yield stack
    stack.stop()


@pytest.fixture
def live_stack_factory(redis_url: str, pisim):
    """Return a function starting a live stack with extra environment settings."""
    stacks: list[LiveStack] = []

    def make(**extra_env: str) -> LiveStack:
        stack = LiveStack(redis_url, pisim.base_url, extra_env).start()
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.stop()
