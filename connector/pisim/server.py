"""The simulator's HTTP server (standard library only) and its command line."""

from __future__ import annotations

import argparse
import json
import select
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from connector.pisim import sim_admin
from connector.pisim.api import Request
from connector.pisim.controls import IMAGE_BASE_URL, LONG_POLL_MODES, Config
from connector.pisim.envelopes import Reply, error, new_request_id
from connector.pisim.router import PiSim

DEFAULT_PORT = 8321


class SimHandler(BaseHTTPRequestHandler):
    """One connection: keep-alive HTTP/1.1 with Content-Length bodies."""

    protocol_version = "HTTP/1.1"
    server_version = "pisim/1.0"
    # Idle keep-alive connections are closed after this long without a request.
    timeout = 120
    # Headers and body leave in one write anyway; no Nagle delay on small answers.
    disable_nagle_algorithm = True
    server: SimServer

    def do_GET(self) -> None:
        """Answer any method: routing decides what is allowed."""
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def version_string(self) -> str:
        """Return the Server header (without the Python version)."""
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _read_body(self) -> bytes | None:
        """Return the request body, or None when its framing is broken."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline(1024)
                try:
                    size = int(size_line.split(b";")[0].strip() or b"x", 16)
                except ValueError:
                    return None
                if size == 0:
                    while self.rfile.readline(1024).strip():  # trailers
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
        except ValueError:
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        body = self._read_body()
        if body is None:
            self.close_connection = True
            self._send(error(400, "invalid_request_body", "Malformed request framing."))
            return
        sim = self.server.sim
        if parts.path == sim_admin.PREFIX or parts.path.startswith(sim_admin.PREFIX + "/"):
            reply = sim_admin.handle(sim, self.command, parts.path, body)
        else:
            request = Request(
                method=self.command,
                path=parts.path,
                headers=self.headers,
                body=body,
                query=parse_qs(parts.query, keep_blank_values=True),
                sleep=self._sleep,
            )
            reply = sim.handle_api(request)
        self._send(reply)

    def _sleep(self, seconds: float) -> bool:
        """Sleep, but stop early (returning False) when the client closes the connection."""
        end = time.monotonic() + seconds
        # poll() rather than select(): fds above 1024 are normal with hundreds of connections.
        poller = select.poll()
        poller.register(self.connection, select.POLLIN | select.POLLHUP | select.POLLERR)
        while (left := end - time.monotonic()) > 0:
            events = poller.poll(min(left, 1.0) * 1000)
            if not events:
                continue
            try:
                peeked = self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except OSError:
                return False
            if not peeked:
                return False
            # The client sent more bytes (pipelining): it is alive; sleep out the rest.
            time.sleep(max(0.0, end - time.monotonic()))
            return True
        return True

    def _send(self, reply: Reply) -> None:
        if reply.drop:
            self._reset()
            return
        payload = json.dumps(reply.body, separators=(",", ":")).encode() if reply.body else b""
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            if reply.request_id != "":
                self.send_header("X-Request-Id", reply.request_id or new_request_id())
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            # One write for headers and body: two small segments would meet delayed ACKs.
            self._headers_buffer.append(b"\r\n")
            if self.command != "HEAD":
                self._headers_buffer.append(payload)
            self.flush_headers()
        except OSError:
            self.close_connection = True

    def _reset(self) -> None:
        """Close the connection with a TCP reset and no response at all."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


class SimServer(ThreadingHTTPServer):
    """A threaded HTTP server holding one simulated Pi."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # Hundreds of clients may connect at once to long-poll; don't let the backlog refuse them.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], sim: PiSim, *, verbose: bool = False) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.sim = sim
        self.verbose = verbose
        super().__init__(address, SimHandler)

    @property
    def url(self) -> str:
        """Return the base URL clients use."""
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}"


def build_server(
    host: str = "127.0.0.1", port: int = DEFAULT_PORT, *, verbose: bool = False, **controls: Any
) -> SimServer:
    """Return a bound (not yet serving) simulator; controls are Config fields."""
    config = Config().updated(controls)
    return SimServer((host, port), PiSim(config), verbose=verbose)


def serve(
    host: str = "127.0.0.1", port: int = DEFAULT_PORT, *, verbose: bool = False, **controls: Any
) -> int:
    """Run a simulator until SIGTERM or Ctrl-C."""
    server = build_server(host, port, verbose=verbose, **controls)

    def _stop(*_args: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
    print(f"pisim listening on {server.url}", flush=True)
    try:
        server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _non_negative(kind: type) -> Any:
    def parse(text: str) -> Any:
        value = kind(text)
        if value < 0:
            raise argparse.ArgumentTypeError("must be zero or more")
        return value

    parse.__name__ = kind.__name__
    return parse


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the simulator's command line."""
    parser = argparse.ArgumentParser(
        prog="pisim",
        description="A local, faithful HTTP simulator of Pi's API (jobs, brands, long-poll), "
        "with fault injection and a test-only admin API under /_sim.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (0 picks a free one)")
    number = _non_negative(float)
    count = _non_negative(int)
    parser.add_argument("--job-seconds", type=number, default=3.0, help="brand job duration")
    parser.add_argument("--image-seconds", type=number, default=2.0, help="image/campaign duration")
    parser.add_argument(
        "--long-poll",
        choices=LONG_POLL_MODES,
        default="poll",
        help="poll: re-read every 1000 ms like Pi (default); wake: answer the moment a job ends",
    )
    parser.add_argument("--rate-limit-every", type=count, default=0, help="429 every Nth request")
    parser.add_argument("--retry-after", type=count, default=1, help="Retry-After seconds on 429")
    parser.add_argument("--error-every", type=count, default=0, help="5xx every Nth request")
    parser.add_argument("--error-status", type=int, default=500, help="status of injected errors")
    parser.add_argument(
        "--hang-seconds", type=number, default=120.0, help="how long 'hang' jobs stall GET /jobs"
    )
    parser.add_argument(
        "--create-seconds", type=number, default=0.0, help="how long each create takes to answer"
    )
    parser.add_argument(
        "--image-base-url",
        default=IMAGE_BASE_URL,
        help="where finished image and campaign jobs say their image is: <url>/<job id>.png",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator from command-line arguments."""
    args = parse_args(argv)
    if not 400 <= args.error_status <= 599:
        print("pisim: --error-status must be 400-599", file=sys.stderr)
        return 2
    return serve(
        args.host,
        args.port,
        verbose=args.verbose,
        job_seconds=args.job_seconds,
        image_seconds=args.image_seconds,
        long_poll=args.long_poll,
        rate_limit_every=args.rate_limit_every,
        retry_after=args.retry_after,
        error_every=args.error_every,
        error_status=args.error_status,
        hang_seconds=args.hang_seconds,
        create_seconds=args.create_seconds,
        image_base_url=args.image_base_url,
    )
