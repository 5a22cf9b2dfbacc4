"""Pytest plugin: the Pi simulator as a real process, and a helper for its admin API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.support.procs import ServerProcess, free_port, python_argv

# The shared simulator's flags; `pisim` restores them before each test.
DEFAULT_ARGS = ("--long-poll", "wake", "--job-seconds", "1", "--image-seconds", "1")


class Simulator:
    """Drive a running simulator through its /_sim admin API."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = requests.Session()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self._http.request(method, self.base_url + path, json=body, timeout=10)
        if response.status_code >= 400:
            raise AssertionError(
                f"simulator {method} {path}: {response.status_code} {response.text}"
            )
        return response.json()

    def reset(self, *, restore_flags: bool = True, **controls: Any) -> None:
        """Forget jobs, brands, stats and queued faults; restore start-up flags by default."""
        self._call("POST", "/_sim/reset", {"restore_flags": restore_flags, **controls})

    def configure(self, **controls: Any) -> dict[str, Any]:
        """Change settings or queue one-shot faults; return the resulting configuration."""
        return self._call("POST", "/_sim/config", controls)

    def config(self) -> dict[str, Any]:
        """Return the current settings and queued faults."""
        return self._call("GET", "/_sim/config")

    def stats(self) -> dict[str, Any]:
        """Return {"requests": {route template: count}, "jobs_created": n, ...}."""
        return self._call("GET", "/_sim/stats")

    def count(self, route: str) -> int:
        """Return how many requests hit a route template, e.g. "GET /api/v1/jobs/:id"."""
        return int(self.stats()["requests"].get(route, 0))

    def job(self, job_id: str) -> dict[str, Any]:
        """Return a job's internal view (status, phase, ends_at, ...)."""
        return self._call("GET", f"/_sim/jobs/{job_id}")

    def jobs(self) -> list[dict[str, Any]]:
        """Return every job's internal view, newest first."""
        return self._call("GET", "/_sim/jobs")["jobs"]

    def complete(self, job_id: str) -> dict[str, Any]:
        """Make a job complete now, waking its long-polls."""
        return self._call("POST", f"/_sim/jobs/{job_id}/complete")

    def fail(self, job_id: str) -> dict[str, Any]:
        """Make a job fail now, waking its long-polls."""
        return self._call("POST", f"/_sim/jobs/{job_id}/fail")

    def wait_status(self, job_id: str, status: str, timeout: float = 10.0) -> dict[str, Any]:
        """Poll the admin view until the job has a status; return the view."""
        deadline = time.monotonic() + timeout
        while True:
            view = self.job(job_id)
            if view["status"] == status or time.monotonic() > deadline:
                return view
            time.sleep(0.05)

    def close(self) -> None:
        """Release pooled connections."""
        self._http.close()


class SimulatorProcess(ServerProcess):
    """A simulator child process; start() is idempotent so `with start_simulator():` works."""

    def __init__(self, *extra_args: str) -> None:
        port = free_port()
        argv = python_argv(
            "-m", "connector.pisim", "--host", "127.0.0.1", "--port", str(port), *extra_args
        )
        super().__init__(argv, port=port)
        self.base_url = f"http://127.0.0.1:{port}"
        self.simulator = Simulator(self.base_url)

    def start(self) -> SimulatorProcess:
        """Start the process unless it already runs."""
        if self.proc is None:
            super().start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the process and close the admin session."""
        self.simulator.close()
        super().stop(timeout)


def start_simulator(*extra_args: str) -> SimulatorProcess:
    """Start a simulator with its own flags on a free port; stop() it (or use `with`)."""
    return SimulatorProcess(*extra_args).start()


@pytest.fixture(scope="session")
def pisim_server() -> Iterator[SimulatorProcess]:
    """Run one simulator for the session: wake-mode long-polls, 1 s jobs."""
    with start_simulator(*DEFAULT_ARGS) as proc:
        yield proc


@pytest.fixture
def pisim(pisim_server: SimulatorProcess) -> Simulator:
    """Return the shared simulator, reset to its start-up flags with no jobs or stats."""
    sim = pisim_server.simulator
    sim.reset(restore_flags=True)
    return sim
