"""What RQ workers running on threads need around RQ itself: enough connections, stranded tasks
found sooner, idle heartbeats spaced out, idle reads woken at a stop, and a stopped worker's
command channel closed."""

from __future__ import annotations

import contextlib
from datetime import datetime

import redis
from rq import Worker
from rq.intermediate_queue import IntermediateQueue
from rq.utils import now

# A task popped into RQ's intermediate list that has not started after this long was popped
# by a worker that died, or by a read whose reply a Redis crash swallowed: run it again. RQ
# waits a minute; a popped task starts within milliseconds, so 15 s is a wide margin.
STRANDED_SECONDS = 15
RQ_CONNECTIONS_PER_THREAD = 3  # see rq_pool_size
RQ_SPARE_CONNECTIONS = 10  # registry cleaning, a connection being replaced
# RQ renews an idle worker's key before every queue read: each second, two round trips on
# each of 16 threads, a third of an idle worker's CPU. The key lives for the worker TTL + 60 s,
# so renewing it this often is plenty.
IDLE_HEARTBEAT_SECONDS = 10.0
QUEUE_READS = frozenset({"blmove", "blpop", "brpoplpush"})  # how RQ waits on its queues


def local_addresses(client) -> set[str]:
    """Return `host:port` of the client's connections in use now (as Redis's CLIENT LIST says)."""
    pool = client.connection_pool
    found = set()
    for connection in list(getattr(pool, "_in_use_connections", ())):
        sock = getattr(connection, "_sock", None)
        with contextlib.suppress(OSError, AttributeError):
            host, port = sock.getsockname()[:2]
            found.add(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    return found


def blocked_reads(client_list: list[dict], addresses: set[str]) -> list[str]:
    """Return the ids of the listed clients from `addresses` that are blocked on a queue read."""
    return [
        str(entry["id"])
        for entry in client_list
        if entry.get("addr") in addresses and entry.get("cmd") in QUEUE_READS
    ]


def wake_idle_reads(client) -> int:
    """End the queue reads this process's idle RQ threads are blocked in; return how many.

    The read answers as if it timed out, so a thread that was asked to stop leaves at once
    instead of at the end of its read. Where Redis sees other addresses (a proxy, NAT) nothing
    matches and the threads leave when their reads end.
    """
    addresses = local_addresses(client)
    if not addresses:
        return 0
    ids = blocked_reads(client.client_list(_type="normal"), addresses)
    for client_id in ids:
        client.client_unblock(client_id)
    return len(ids)


def wake_workers_reads(workers: list[Worker]) -> None:
    """End the queue reads of these RQ workers, once per Redis client they share."""
    clients = {id(worker.connection): worker.connection for worker in workers}
    for client in clients.values():
        with contextlib.suppress(redis.RedisError):  # Redis away: the reads end anyway
            wake_idle_reads(client)


class StrandedTasks(IntermediateQueue):
    """RQ's intermediate list of a queue, with a popped task called stranded sooner."""

    def should_be_cleaned_up(self, job_id: str) -> bool:  # noqa: D401 - RQ's hook
        first_seen = self.get_first_seen(job_id)
        return first_seen is not None and (now() - first_seen).total_seconds() > STRANDED_SECONDS


def rq_pool_size(rq_threads: int) -> int:
    """Return how many Redis connections RQ workers on `rq_threads` threads hold at most."""
    # Each holds its command channel (a pubsub connection, for its whole life), its queue read
    # and, while a task runs, its heartbeat thread's: at 100 for all, 50 Shopify threads ran
    # out, and RQ threads restarted every 2 s (a finished install was even marked failed).
    return RQ_CONNECTIONS_PER_THREAD * max(1, rq_threads) + RQ_SPARE_CONNECTIONS


def idle_heartbeat_due(last: datetime | None, at: datetime) -> bool:
    """Return True when an idle RQ thread should renew its worker key again."""
    return last is None or (at - last).total_seconds() >= IDLE_HEARTBEAT_SECONDS


def close_channel(worker: Worker) -> None:
    """Close a stopped RQ worker's command channel: RQ leaves it open when its loop dies."""
    thread = getattr(worker, "pubsub_thread", None)
    if thread is not None:
        thread.stop()
    pubsub = getattr(worker, "pubsub", None)
    if pubsub is not None:
        with contextlib.suppress(Exception):  # Redis may be away: the socket is dropped anyway
            pubsub.close()
