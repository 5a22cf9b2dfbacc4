"""Lua scripts sent together with other commands in one round trip.

redis-py sends a `Script` run inside a pipeline with a SCRIPT EXISTS round trip of its own,
every time. `queue_script` queues the script by its SHA instead, and `execute_scripts` loads
and runs again (on its own) only a script the server did not know: a restarted or new server.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from redis.commands.core import Script
from redis.exceptions import NoScriptError


class ScriptCall(NamedTuple):
    """One run of a registered script: what `Script.__call__` would be given."""

    script: Script
    keys: list[str]
    args: list[Any]

    def run(self) -> Any:
        """Run the script on its own (it loads itself when the server lacks it)."""
        return self.script(keys=self.keys, args=self.args)


def queue_script(pipe, call: ScriptCall) -> int:
    """Queue the script on the pipeline by its SHA; return its index in the pipeline."""
    pipe.evalsha(call.script.sha, len(call.keys), *call.keys, *call.args)
    return len(pipe.command_stack) - 1


def execute_scripts(pipe, calls: dict[int, ScriptCall]) -> list[Any]:
    """Execute the pipeline; run again any script the server did not know; raise an error.

    `calls` maps a pipeline index (from `queue_script`) to its script. A script the server
    did not know was not run, so running it after the rest of the pipeline is safe.
    """
    results = pipe.execute(raise_on_error=False)
    for index, call in calls.items():
        if isinstance(results[index], NoScriptError):
            results[index] = call.run()
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results
