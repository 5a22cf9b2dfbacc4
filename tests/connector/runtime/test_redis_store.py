"""Writes that acknowledge work wait for replicas: WAIT on a real primary and replica."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from connector.runtime.redis_connect import RedisTarget
from connector.runtime.redis_store import RedisStore, ReplicasBehind
from tests.support.sentinel import RedisNode, wait_replicated


@pytest.fixture
def primary_and_replica():
    root = Path(tempfile.mkdtemp(prefix="pic-repl-"))
    primary = RedisNode(root, "primary").start()
    replica = RedisNode(root, "replica", replica_of=primary.port).start()
    wait_replicated(primary)
    yield primary, replica
    replica.stop()
    primary.stop()
    shutil.rmtree(root, ignore_errors=True)


def test_without_a_replica_demand_nothing_waits(redis_url):
    store = RedisStore(redis_url, "t:")
    assert store.min_replicas == 0
    store.confirm_replicated("t:absent")  # no WAIT, no witness check


def test_a_write_on_a_replica_is_confirmed(primary_and_replica):
    primary, _ = primary_and_replica
    # The longest wait the settings allow: a loaded CI machine can be slow to acknowledge.
    store = RedisStore(primary.url, "t:", min_replicas=1, replica_timeout_ms=4000)
    store.redis.set("t:job", "1")
    store.confirm_replicated("t:job")


def test_too_few_replicas_is_a_connection_error_the_api_answers_503(redis_url):
    store = RedisStore(redis_url, "t:", min_replicas=1, replica_timeout_ms=50)
    store.redis.set("t:job", "1")
    with pytest.raises(ReplicasBehind, match="0 of 1"):
        store.confirm_replicated("t:job")


def test_a_write_missing_on_the_primary_is_never_confirmed(primary_and_replica):
    primary, _ = primary_and_replica
    store = RedisStore(primary.url, "t:", min_replicas=1)
    with pytest.raises(ReplicasBehind, match="lost"):
        store.confirm_replicated("t:never-written")


def test_sentinel_mode_demands_one_replica_by_default():
    target = RedisTarget(sentinels=(("127.0.0.1", 1),), sentinel_master="pic")
    assert RedisStore(target, "t:").min_replicas == 1
    assert RedisStore(target, "t:", min_replicas=0).min_replicas == 0
