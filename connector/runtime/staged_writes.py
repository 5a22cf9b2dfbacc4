"""Writes staged on a pipeline and applied by one guarded Lua call.

Some writes must happen only if a guard holds (a record not yet terminal, an intent still
pending). A WATCH transaction costs three round trips; instead the commands are staged on a
pipeline that is never executed and shipped to a Lua script as one JSON argument (one, not a
hundred: redis-py packs a long argument list in quadratic time). The script checks the guard
and runs them with `APPLY_STAGED_LUA`.
"""

from __future__ import annotations

import json

# Lua: run every command of the JSON array in ARGV[n] (paste into a guarded script).
APPLY_STAGED_LUA = """
local function apply_staged(encoded)
  for _, command in ipairs(cjson.decode(encoded)) do redis.call(unpack(command)) end
end
"""


def staged_json(pipe) -> str | None:
    """Return the pipeline's staged commands as one JSON argument, or None if one cannot be."""
    try:
        commands = [[_as_text(arg) for arg in command] for command, _ in pipe.command_stack]
    except (TypeError, UnicodeDecodeError):
        return None  # not expressible as JSON text: the caller sends the commands as they are
    return json.dumps(commands, ensure_ascii=False, separators=(",", ":"))


def _as_text(arg) -> str:
    """Return a command argument as the text redis-py would send for it."""
    if isinstance(arg, str):
        return arg
    if isinstance(arg, bytes):
        return arg.decode()
    if isinstance(arg, int | float) and not isinstance(arg, bool):
        return repr(arg)
    raise TypeError(f"unexpected argument type {type(arg).__name__}")
