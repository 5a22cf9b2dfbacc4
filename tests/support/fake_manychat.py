"""A local stand-in for ManyChat's API: checks keys and bodies, records calls, answers as told."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SET_FIELDS = "/fb/subscriber/setCustomFields"
SEND_FLOW = "/fb/sending/sendFlow"
SEND_CONTENT = "/fb/sending/sendContent"
PATHS = (SET_FIELDS, SEND_FLOW, SEND_CONTENT)
VALID_KEY = "1234567:mc_test_key_0123456789abcdef"
MAX_FIELDS = 20
# Dynamic Block v2 (what sendContent takes as `data`): caps, channels, message shapes.
MAX_MESSAGES, MAX_ACTIONS, MAX_QUICK_REPLIES = 10, 5, 11
CHANNEL_TYPES = ("instagram", "whatsapp", "telegram")  # Messenger content has no type
NO_QUICK_REPLIES = ("whatsapp", "telegram")


@dataclass
class Call:
    """One request the fake received."""

    path: str
    headers: dict[str, str]
    body: Any
    status: int
    at: float = field(default_factory=time.time)

    @property
    def subscriber_id(self) -> Any:
        return self.body.get("subscriber_id") if isinstance(self.body, dict) else None

    def fields(self) -> dict[str, Any]:
        """Return setCustomFields' fields as {field_name: field_value}."""
        return {f["field_name"]: f["field_value"] for f in self.body.get("fields", [])}

    def messages(self) -> list[dict[str, Any]]:
        """Return the messages a sendContent call carried."""
        return self.body["data"]["content"]["messages"]


@dataclass
class Answer:
    """A scripted answer for the next call to a path."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def _message_problem(message: Any) -> str | None:
    """Return why ManyChat would refuse one Dynamic Block message, or None."""
    if not isinstance(message, dict):
        return "each message must be an object"
    kind = message.get("type")
    if kind == "text":
        return None if isinstance(message.get("text"), str) and message["text"] else "text needed"
    if kind == "image":
        url = message.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            return "an image message needs an http(s) url"
        if not isinstance(message.get("buttons", []), list):
            return "buttons must be a list"
        return None
    return f"unsupported message type {kind!r}"


def _content_problem(data: Any) -> str | None:
    """Return why ManyChat would refuse sendContent's `data` (a Dynamic Block v2), or None."""
    if not isinstance(data, dict) or data.get("version") != "v2":
        return "data must be a Dynamic Block with version v2"
    content = data.get("content")
    if not isinstance(content, dict):
        return "data.content must be an object"
    channel = content.get("type")
    if channel is not None and channel not in CHANNEL_TYPES:
        return f"unknown content type {channel!r}"
    messages = content.get("messages")
    if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
        return f"content.messages must hold 1..{MAX_MESSAGES} messages"
    if len(content.get("actions", [])) > MAX_ACTIONS:
        return f"at most {MAX_ACTIONS} actions"
    quick_replies = content.get("quick_replies", [])
    if len(quick_replies) > MAX_QUICK_REPLIES:
        return f"at most {MAX_QUICK_REPLIES} quick replies"
    if quick_replies and channel in NO_QUICK_REPLIES:
        return f"{channel} has no quick replies"
    return next(filter(None, map(_message_problem, messages)), None)


def _problem(path: str, body: Any) -> str | None:
    """Return why ManyChat would refuse this body, or None."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if not isinstance(body.get("subscriber_id"), int):
        return "subscriber_id must be an integer"
    if path == SET_FIELDS:
        fields = body.get("fields")
        if not isinstance(fields, list) or not 1 <= len(fields) <= MAX_FIELDS:
            return f"fields must be a list of 1..{MAX_FIELDS} items"
        for item in fields:
            if set(item) != {"field_name", "field_value"} or not isinstance(
                item["field_name"], str
            ):
                return "each field needs field_name and field_value"
            if item["field_value"] is None:
                return "field_value must not be null"
    if path == SEND_FLOW and not isinstance(body.get("flow_ns"), str):
        return "flow_ns must be a string"
    if path == SEND_CONTENT:
        return _content_problem(body.get("data"))
    return None


class FakeManyChat:
    """Serve setCustomFields, sendContent and sendFlow on 127.0.0.1 in a thread."""

    def __init__(self, keys: tuple[str, ...] = (VALID_KEY,)) -> None:
        self.keys = set(keys)
        self.calls: list[Call] = []
        self.answers: dict[str, list[Answer]] = {}
        self.delay = 0.0
        self._cond = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if fake.delay:
                    time.sleep(fake.delay)
                status, body, headers = fake._answer(self.path, dict(self.headers.items()), raw)
                payload = json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _answer(self, path: str, headers: dict[str, str], raw: bytes):
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._cond:
            scripted = self.answers.get(path)
            if scripted:
                answer = scripted.pop(0)
                status, reply, extra = answer.status, answer.body, answer.headers
            else:
                status, reply, extra = self._default(path, headers, body)
            if reply is None:
                reply = {"status": "success"} if status < 400 else {"status": "error"}
            self.calls.append(Call(path, headers, body, status))
            self._cond.notify_all()
        return status, reply, extra

    def _default(self, path: str, headers: dict[str, str], body: Any):
        token = headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.keys:
            return 401, {"status": "error", "message": "Wrong format token"}, {}
        if path not in PATHS:
            return 404, {"status": "error", "message": "Not found"}, {}
        problem = _problem(path, body)
        if problem:
            return 400, {"status": "error", "message": "Validation error", "details": problem}, {}
        return 200, {"status": "success"}, {}

    def script(self, path: str, status: int, body: Any = None, headers: dict | None = None) -> None:
        """Answer the next call to path like this (answers are used in order)."""
        with self._cond:
            self.answers.setdefault(path, []).append(Answer(status, body, headers or {}))

    def calls_to(self, path: str, subscriber_id: int | None = None) -> list[Call]:
        """Return the calls to a path, optionally for one contact."""
        with self._cond:
            return [
                c
                for c in self.calls
                if c.path == path and (subscriber_id is None or c.subscriber_id == subscriber_id)
            ]

    def wait_for(self, path: str, count: int = 1, timeout: float = 30.0) -> list[Call]:
        """Block until `count` calls reached a path; return them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(found := [c for c in self.calls if c.path == path]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(found)} of {count} calls to {path} arrived")
                self._cond.wait(left)
            return found

    def start(self) -> FakeManyChat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeManyChat:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
