"""A loopback HTTP/1.1 server that keeps the exact bytes of every request it reads."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time

# path -> (status line, extra header lines, body, seconds to wait before answering)
ANSWERS: dict[str, tuple[str, list[str], bytes, float]] = {
    "/ok": ("200 OK", ["Content-Type: application/json; charset=utf-8"], b'{"ok":true}', 0),
    "/latin": (
        "200 OK",
        ["Content-Type: text/plain; charset=latin-1"],
        "café".encode("latin-1"),
        0,
    ),
    "/missing": ("404 Not Found", ["Content-Type: text/plain"], b"no such hook", 0),
    "/busy": ("503 Service Unavailable", ["Retry-After: 7", "X-Twice: a", "X-Twice: b"], b"", 0),
    "/moved": ("302 Found", ["Location: http://127.0.0.1:1/elsewhere"], b"", 0),
    "/big": ("200 OK", ["Content-Type: text/plain"], b"x" * 100_000, 0),
    "/slow": ("200 OK", [], b"late", 1.5),
}


class WireServer:
    """Answer each request by its path (see ANSWERS), keeping connections alive."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[bytes] = []
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        if tls is not None:
            self._sock = tls.wrap_socket(self._sock, server_side=True)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                conn, _ = self._sock.accept()
            except OSError:  # closed, or a TLS handshake the client gave up
                continue
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, rest = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + rest[:length])
                buffer = rest[length:]
                path = head.split(b" ")[1].decode().split("?")[0]
                status, headers, body, wait = ANSWERS.get(path, ANSWERS["/ok"])
                time.sleep(wait)
                lines = [f"HTTP/1.1 {status}", *headers, f"Content-Length: {len(body)}"]
                conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def close(self) -> None:
        self._stopped = True
        self._sock.close()
