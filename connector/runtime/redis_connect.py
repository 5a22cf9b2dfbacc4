"""Where Redis is and how to reach it: one factory builds every Redis client of a process.

A deployment names its Redis either by URL (`redis://`, or `rediss://` for TLS with a CA and
optionally a client certificate) or by a Sentinel set and the name of the primary it watches.
Clients built from a Sentinel set ask the Sentinels for the primary on every new connection,
so after a failover every user — the web, the tracker, RQ's blocking reads, the scheduler,
pub/sub listeners, the gauges — reconnects to the promoted replica without a restart.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

try:
    from redis.driver_info import DriverInfo
except ImportError:  # redis-py before 7: lib_version is a plain connection option
    DriverInfo = None  # type: ignore[assignment, misc]

CONNECT_TIMEOUT = 2.0
SENTINEL_TIMEOUT = 0.5  # a Sentinel that takes longer is skipped for the next one
HEALTH_CHECK_SECONDS = 30


class RedisTargetError(ValueError):
    """The Redis settings do not describe a reachable deployment."""


@dataclass(frozen=True)
class RedisTarget:
    """One Redis deployment: a URL, or Sentinels and the primary's name; TLS files optional."""

    url: str | None = None
    sentinels: tuple[tuple[str, int], ...] = ()
    sentinel_master: str | None = None
    sentinel_password: str | None = None
    password: str | None = None  # the data nodes' password in Sentinel mode
    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    sentinel_tls: bool = False

    @classmethod
    def from_url(cls, url: str) -> RedisTarget:
        """Return a target for a plain `redis://` or `rediss://` URL."""
        return cls(url=url)

    @classmethod
    def from_settings(cls, settings: Any) -> RedisTarget:
        """Return the target the settings describe (Sentinels win over a URL)."""
        sentinels = parse_sentinels(settings.redis_sentinels or "")
        if sentinels and not settings.redis_sentinel_master:
            raise RedisTargetError("REDIS_SENTINELS needs REDIS_SENTINEL_MASTER")
        if not sentinels and not settings.redis_url:
            raise RedisTargetError("set REDIS_URL, or REDIS_SENTINELS and REDIS_SENTINEL_MASTER")
        return cls(
            url=None if sentinels else settings.redis_url,
            sentinels=sentinels,
            sentinel_master=settings.redis_sentinel_master if sentinels else None,
            sentinel_password=settings.redis_sentinel_password,
            password=settings.redis_password,
            ca_cert=settings.redis_ca_cert,
            client_cert=settings.redis_client_cert,
            client_key=settings.redis_client_key,
            sentinel_tls=settings.redis_sentinel_tls,
        )

    @property
    def uses_sentinel(self) -> bool:
        """Return True when the primary is found through Sentinels."""
        return bool(self.sentinels)

    @property
    def tls(self) -> bool:
        """Return True when connections to the data nodes use TLS."""
        if self.uses_sentinel:
            return self.sentinel_tls
        return bool(self.url and self.url.startswith("rediss://"))

    def describe(self) -> str:
        """Return where Redis is, fit for a log line: never a password."""
        if self.uses_sentinel:
            hosts = ",".join(f"{host}:{port}" for host, port in self.sentinels)
            return f"sentinel://{hosts}/{self.sentinel_master}" + (" (tls)" if self.tls else "")
        return redact_url(self.url or "")


def parse_sentinels(text: str) -> tuple[tuple[str, int], ...]:
    """Parse `host:port,host:port` (IPv6 as `[::1]:26379`) into address pairs."""
    found = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise RedisTargetError(f"REDIS_SENTINELS: {item!r} is not host:port")
        found.append((host.strip("[]"), int(port)))
    return tuple(found)


def handshake_options() -> dict[str, Any]:
    """Return the options that make a new connection usable at once: RESP2, no CLIENT SETINFO."""
    # redis-py 8 opens every connection with HELLO 3, CLIENT MAINT_NOTIFICATIONS (refused by
    # a plain Redis) and two CLIENT SETINFO labels: four round trips before the first command,
    # 0.6 ms of client CPU a connection here, paid again for every connection a burst adds to
    # a pool. RESP2 needs none of them and is what redis-py 5-7 speak by default, so every
    # version this project allows answers the same types.
    options: dict[str, Any] = {"protocol": 2, "redis_connect_func": _connected}
    if DriverInfo is not None:
        return {**options, "driver_info": None}
    return {**options, "lib_name": None, "lib_version": None}


def _connected(connection) -> None:
    """Finish a new connection (AUTH, SELECT when configured) and count it as checked."""
    finish = getattr(connection, "on_connect_check_health", None)
    if finish is not None:
        finish(check_health=False)
    else:  # older redis-py
        connection.on_connect()
    if isinstance(getattr(connection, "_sock", None), ssl.SSLSocket):
        # TLS 1.3 servers send session tickets after the handshake; until a read consumes
        # them the socket looks readable, and the pool takes that for a stale reply.
        connection.send_command("PING", check_health=False)
        connection.read_response()
        return
    # Nothing was read on it yet, so redis-py would PING it before its first command: the
    # connect itself just proved it healthy.
    if connection.health_check_interval:
        connection.next_health_check = time.monotonic() + connection.health_check_interval


def redact_url(url: str) -> str:
    """Return the URL with any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class RedisConnector:
    """Build the Redis clients of one process, all aimed at the same (current) primary."""

    def __init__(self, target: RedisTarget) -> None:
        self.target = target
        self._sentinel: Sentinel | None = None
        if target.uses_sentinel:
            sentinel_kwargs: dict[str, Any] = {
                "socket_timeout": SENTINEL_TIMEOUT,
                "socket_connect_timeout": SENTINEL_TIMEOUT,
                # One try per Sentinel: redis-py's default retries would spend seconds on a
                # dead Sentinel before asking the next one.
                "retry": Retry(NoBackoff(), 0),
                "password": target.sentinel_password,
                **handshake_options(),
                **(self._tls_kwargs() if target.sentinel_tls else {}),
            }
            self._sentinel = Sentinel(list(target.sentinels), sentinel_kwargs=sentinel_kwargs)

    def _tls_kwargs(self) -> dict[str, Any]:
        """Return the TLS options for connections (certificates verified against the CA)."""
        options: dict[str, Any] = {"ssl": True, "ssl_cert_reqs": "required"}
        if self.target.ca_cert:
            options["ssl_ca_certs"] = self.target.ca_cert
        if self.target.client_cert:
            options["ssl_certfile"] = self.target.client_cert
        if self.target.client_key:
            options["ssl_keyfile"] = self.target.client_key
        return options

    def client(self, *, socket_timeout: float, max_connections: int) -> redis.Redis:
        """Return a new client with its own pool and the given socket timeout."""
        options: dict[str, Any] = {
            "socket_connect_timeout": CONNECT_TIMEOUT,
            "socket_timeout": socket_timeout,
            "health_check_interval": HEALTH_CHECK_SECONDS,
            "retry_on_timeout": False,
            "max_connections": max_connections,
            **handshake_options(),
        }
        if self._sentinel is not None:
            master = self.target.sentinel_master
            tls = self._tls_kwargs() if self.target.tls else {}
            # The pool asks the Sentinels for the primary on every new connection and drops
            # idle connections to a demoted one; a demoted primary's READONLY answer is a
            # ConnectionError, so the next attempt reconnects to the promoted replica.
            return self._sentinel.master_for(
                master, password=self.target.password, **options, **tls
            )
        assert self.target.url is not None
        if self.target.tls:
            tls = self._tls_kwargs()
            tls.pop("ssl")  # rediss:// already selects the TLS connection class
            options.update(tls)
        return redis.Redis.from_url(self.target.url, **options)

    def primary_address(self) -> tuple[str, int] | None:
        """Return the primary's address as the Sentinels see it now (None without Sentinels)."""
        if self._sentinel is None:
            return None
        host, port = self._sentinel.discover_master(self.target.sentinel_master)
        return str(host), int(port)
