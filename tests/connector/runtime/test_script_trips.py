"""Scripts queued by their SHA travel with other commands in one round trip."""

from __future__ import annotations

import pytest
import redis

from connector.runtime.script_trips import ScriptCall, execute_scripts, queue_script
from tests.support.round_trips import RoundTrips

_SET_AND_ECHO = "redis.call('SET', KEYS[1], ARGV[1]) return ARGV[1]"


def test_a_script_and_a_command_cost_one_round_trip(redis_client, monkeypatch):
    call = ScriptCall(redis_client.register_script(_SET_AND_ECHO), ["st:a"], ["one"])
    call.run()  # the server knows it from now on
    pipe = redis_client.pipeline(transaction=False)
    index = queue_script(pipe, call)
    pipe.incr("st:counter")
    trips = RoundTrips(monkeypatch)

    results = execute_scripts(pipe, {index: call})

    assert trips.count == 1  # no SCRIPT EXISTS before it, as a Script in a pipeline sends
    assert results == [b"one", 1]
    assert redis_client.get("st:a") == b"one"


def test_a_script_the_server_forgot_is_loaded_and_run_once(redis_client):
    call = ScriptCall(redis_client.register_script(_SET_AND_ECHO), ["st:b"], ["two"])
    redis_client.script_flush()  # a restarted server knows no script
    pipe = redis_client.pipeline(transaction=False)
    pipe.incr("st:runs")
    index = queue_script(pipe, call)

    assert execute_scripts(pipe, {index: call}) == [1, b"two"]
    assert redis_client.get("st:b") == b"two" and redis_client.get("st:runs") == b"1"
    assert redis_client.script_exists(call.script.sha) == [True]


def test_an_error_reply_in_the_trip_is_raised(redis_client):
    redis_client.set("st:text", "not a number")
    call = ScriptCall(redis_client.register_script(_SET_AND_ECHO), ["st:c"], ["three"])
    pipe = redis_client.pipeline(transaction=False)
    index = queue_script(pipe, call)
    pipe.incr("st:text")

    with pytest.raises(redis.ResponseError):
        execute_scripts(pipe, {index: call})
    assert redis_client.get("st:c") == b"three"  # what ran before the error stays written
