"""Staged writes: a pipeline's commands as one JSON argument for a guarded Lua call."""

from __future__ import annotations

import json

import redis

from connector.runtime.staged_writes import APPLY_STAGED_LUA, staged_json


def test_staged_commands_are_sent_as_the_text_redis_py_would_send(redis_url):
    client = redis.Redis.from_url(redis_url)
    pipe = client.pipeline(transaction=False)
    pipe.hset("t:staged", mapping={"a": "ä", "b": b"bytes"})
    pipe.zadd("t:staged:z", {"m": 1.5})
    pipe.expire("t:staged", 60)
    commands = json.loads(staged_json(pipe))
    assert commands == [
        ["HSET", "t:staged", "a", "ä", "b", "bytes"],
        ["ZADD", "t:staged:z", "1.5", "m"],
        ["EXPIRE", "t:staged", "60"],
    ]
    apply = client.register_script(APPLY_STAGED_LUA + "apply_staged(ARGV[1]) return 1")
    assert apply(args=[staged_json(pipe)]) == 1
    assert client.hget("t:staged", "a").decode() == "ä"
    assert client.zscore("t:staged:z", "m") == 1.5
    assert 0 < client.ttl("t:staged") <= 60


def test_what_json_text_cannot_carry_is_left_to_the_caller(redis_url):
    client = redis.Redis.from_url(redis_url)
    pipe = client.pipeline(transaction=False)
    pipe.set("t:staged:raw", b"\xff\xfe")  # not UTF-8
    assert staged_json(pipe) is None
