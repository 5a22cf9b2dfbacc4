"""A Redis primary, one replica and three Sentinels on loopback ports, for failover tests.

Short `down-after-milliseconds` and `failover-timeout` make a failover take seconds. Every
process is started from a config file in its own temp directory (Sentinel rewrites its own,
and sends CONFIG REWRITE to the nodes it reconfigures) and is stopped by its pid.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest
import redis

from tests.support.procs import ServerProcess, free_port

MASTER_NAME = "pic"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 6000


def _redis_server() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            "redis-server is not on PATH; .ci/run installs it (apt-get install redis-server)"
        )
    return binary


class RedisNode:
    """A redis-server with a config file of its own (no persistence: a replica's copy counts)."""

    def __init__(self, root: Path, name: str, *, replica_of: int | None = None) -> None:
        self.port = free_port()
        self.dir = root / name
        self.dir.mkdir()
        self.conf = self.dir / "redis.conf"
        lines = [
            f"port {self.port}",
            "bind 127.0.0.1",
            f"dir {self.dir}",
            'save ""',
            "appendonly no",
            "repl-diskless-sync yes",
            "repl-diskless-sync-delay 0",
        ]
        if replica_of is not None:
            lines.append(f"replicaof 127.0.0.1 {replica_of}")
        self.conf.write_text("\n".join(lines) + "\n")
        self.process: ServerProcess | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisNode:
        self.process = ServerProcess([_redis_server(), str(self.conf)], port=self.port).start()
        return self

    def restart(self, *, replica_of: int | None = None) -> RedisNode:
        """Start the server again, as a replica of `replica_of` when given.

        A supervisor that asks the Sentinels for the primary before starting a node (as
        Sentinel-aware charts do) brings it back as a replica at once; otherwise it waits for
        the Sentinels' next look at it (up to 10 s) to be turned into one.
        """
        if self.process is not None:
            self.process.stop()
        argv = [_redis_server(), str(self.conf)]
        if replica_of is not None:
            argv += ["--replicaof", "127.0.0.1", str(replica_of)]
        self.process = ServerProcess(argv, port=self.port).start()
        return self

    def kill(self) -> None:
        """SIGKILL the server: no shutdown, no last words to replicas or Sentinels."""
        assert self.process is not None and self.process.proc is not None
        self.process.proc.kill()
        self.process.proc.wait(10)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2)


def wait_replicated(primary: RedisNode, timeout: float = 30.0) -> None:
    """Block until the primary reports a replica whose link is up and caught up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = primary.client().info("replication")
        replica = info.get("slave0")
        if isinstance(replica, dict) and replica.get("state") == "online":
            return
        time.sleep(0.05)
    raise TimeoutError(f"no replica caught up with port {primary.port}")


class SentinelNode:
    """A Sentinel watching the primary under MASTER_NAME with a quorum of 2."""

    def __init__(self, root: Path, name: str, primary_port: int) -> None:
        self.port = free_port()
        self.dir = root / name
        self.dir.mkdir()
        self.conf = self.dir / "sentinel.conf"
        self.conf.write_text(
            "\n".join(
                [
                    f"port {self.port}",
                    "bind 127.0.0.1",
                    f"dir {self.dir}",
                    f"sentinel monitor {MASTER_NAME} 127.0.0.1 {primary_port} 2",
                    f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}",
                    f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}",
                    f"sentinel parallel-syncs {MASTER_NAME} 1",
                ]
            )
            + "\n"
        )
        self.process: ServerProcess | None = None

    def start(self) -> SentinelNode:
        argv = [_redis_server(), str(self.conf), "--sentinel"]
        self.process = ServerProcess(argv, port=self.port).start()
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=1, decode_responses=True)


class SentinelSet:
    """A primary, a replica and three Sentinels; the connector finds the primary through them."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="pic-sentinel-"))
        self.primary = RedisNode(self.root, "primary")
        self.replica = RedisNode(self.root, "replica", replica_of=self.primary.port)
        self.sentinels = [SentinelNode(self.root, f"s{n}", self.primary.port) for n in range(3)]

    @property
    def setting(self) -> str:
        """Return REDIS_SENTINELS for these Sentinels."""
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)

    def env(self) -> dict[str, str]:
        """Return the connector's settings for this deployment (instead of REDIS_URL)."""
        return {
            "REDIS_URL": "",
            "REDIS_SENTINELS": self.setting,
            "REDIS_SENTINEL_MASTER": MASTER_NAME,
        }

    def start(self, timeout: float = 30.0) -> SentinelSet:
        self.primary.start()
        self.replica.start()
        self.wait_replicated(self.primary, timeout)
        for sentinel in self.sentinels:
            sentinel.start()
        deadline = time.monotonic() + timeout
        while not all(self._sees_everyone(s) for s in self.sentinels):
            if time.monotonic() > deadline:
                raise TimeoutError("the Sentinels did not find each other and the replica")
            time.sleep(0.1)
        return self

    def _sees_everyone(self, sentinel: SentinelNode) -> bool:
        state = sentinel.client().sentinel_master(MASTER_NAME)
        return int(state["num-slaves"]) >= 1 and int(state["num-other-sentinels"]) >= 2

    def wait_replicated(self, primary: RedisNode, timeout: float = 30.0) -> None:
        """Block until the primary reports a replica whose link is up and caught up."""
        wait_replicated(primary, timeout)

    def primary_port(self) -> int | None:
        """Return the port the Sentinels agree is the primary's (None while they disagree)."""
        ports = set()
        for sentinel in self.sentinels:
            try:
                _, port = sentinel.client().sentinel_get_master_addr_by_name(MASTER_NAME)
            except redis.RedisError:
                return None
            ports.add(int(port))
        return ports.pop() if len(ports) == 1 else None

    def wait_promoted(self, old_port: int, timeout: float = 60.0) -> RedisNode:
        """Block until every Sentinel names a new primary; return that node."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            port = self.primary_port()
            if port is not None and port != old_port:
                node = self.replica if port == self.replica.port else self.primary
                if node.client().info("replication")["role"] == "master":
                    return node
            time.sleep(0.05)
        raise TimeoutError("the Sentinels did not promote the replica")

    def stop(self) -> None:
        for process in (*self.sentinels, self.replica, self.primary):
            process.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def logs(self) -> str:
        """Return the Sentinels' and nodes' output (for a failing test's message)."""
        parts = []
        for node in (self.primary, self.replica, *self.sentinels):
            if node.process is not None:
                parts.append(f"--- {node.dir.name}\n{node.process.output()[-3000:]}")
        return "\n".join(parts)


@pytest.fixture
def sentinel_set():
    """Start a primary, a replica and three Sentinels; stop them all afterwards."""
    deployment = SentinelSet().start()
    yield deployment
    deployment.stop()
