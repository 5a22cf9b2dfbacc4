"""Start real server processes for integration tests and stop them by pid."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stable_port() -> int:
    """Return a free port below the kernel's ephemeral range, for a server that restarts.

    `free_port()` hands out ephemeral ports; a server down for a second (a crash test)
    could find its port taken by another test's server started from free_port() meanwhile.
    Ports below the range are never handed out that way.
    """
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(200):
        port = random.randrange(20_000, min(low, 32_768))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def wait_for_port(
    port: int, *, timeout: float = 15.0, proc: subprocess.Popen | None = None
) -> None:
    """Block until something accepts TCP connections on the port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on port {port} within {timeout} s")


class ServerProcess:
    """A child process whose output goes to a temp file and which is stopped by its pid."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
        start_timeout: float = 20.0,
        cwd: Path | None = None,
    ) -> None:
        self.argv = list(argv)
        self.port = port
        self.env = {**os.environ, **(env or {})}
        self.start_timeout = start_timeout
        self.cwd = cwd or REPO_ROOT
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None

    def start(self) -> ServerProcess:
        """Start the process (in its own process group) and wait until its port listens."""
        fd, name = tempfile.mkstemp(prefix="pic-proc-", suffix=".log")
        self.log_path = Path(name)
        with os.fdopen(fd, "wb") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        if self.port is not None:
            try:
                wait_for_port(self.port, timeout=self.start_timeout, proc=self.proc)
            except Exception:
                self.stop()
                raise RuntimeError(f"{self.argv[:3]} failed to start:\n{self.output()}") from None
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def output(self) -> str:
        """Return what the process printed so far."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send a signal to the whole process group (parent and children)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the process group, escalating to SIGKILL, and reap it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.kill(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill(signal.SIGKILL)
                self.proc.wait(timeout=timeout)
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def python_argv(*args: str) -> list[str]:
    """Return argv running this interpreter with the given arguments."""
    return [sys.executable, *args]
