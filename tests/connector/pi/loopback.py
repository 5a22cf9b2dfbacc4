"""A scripted HTTP/1.1 server on 127.0.0.1 that records each request as it arrived."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Answer:
    """One scripted answer: status, headers, body; a delay, or a body cut short."""

    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True})
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    truncate: bool = False  # announce the whole body, send a tenth, close


@dataclass(frozen=True)
class Seen:
    """One request as the server read it, and the client port it came from."""

    request_line: str
    headers: list[tuple[str, str]]
    body: bytes
    client_port: int


class LoopbackServer:
    """Answer each request with the next scripted Answer (200 {"ok": true} once they run out)."""

    def __init__(self) -> None:
        self.answers: deque[Answer] = deque()
        self.seen: list[Seen] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                outer.seen.append(
                    Seen(
                        self.requestline,
                        list(self.headers.items()),
                        self.rfile.read(length),
                        self.client_address[1],
                    )
                )
                answer = outer.answers.popleft() if outer.answers else Answer()
                time.sleep(answer.delay)
                payload = json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload[: len(payload) // 10] if answer.truncate else payload)
                    self.wfile.flush()
                except OSError:
                    pass  # the client gave up first (a read timeout test)
                if answer.truncate or answer.delay:
                    self.close_connection = True

            do_GET = do_POST = _answer  # noqa: N815 -- http.server dispatches on these names

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> LoopbackServer:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self._server.shutdown()
        self._server.server_close()
