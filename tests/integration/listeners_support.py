"""A local Icecast-style statistics server (127.0.0.1, port 0) with misbehaving pages."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StatsServer:
    """``/status-json.xsl``: Icecast with two mounts, ``/live`` at :attr:`count` listeners;
    ``/slow`` answers after :attr:`release` (or 30 s); ``/huge`` sends megabytes;
    ``/huge-declared`` declares them; ``/malformed`` is a web page, not statistics."""

    def __init__(self) -> None:
        self.count = 0
        self.release = threading.Event()
        self.hits: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                path = self.path.split("?")[0]
                server.hits[path] = server.hits.get(path, 0) + 1
                # the poller may give up reading: what it is meant to do
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._answer(path)

            def _answer(self, path: str) -> None:
                if path == "/status-json.xsl":
                    doc = {
                        "icestats": {
                            "source": [
                                {"listenurl": "http://ice.example:8000/other", "listeners": 99},
                                {"listenurl": "http://ice.example:8000/live",
                                 "listeners": server.count},
                            ]
                        }
                    }  # fmt: skip
                    self._send(json.dumps(doc).encode(), "application/json")
                elif path == "/slow":
                    server.release.wait(30)
                    self._send(b'{"currentlisteners": 1}', "application/json")
                elif path == "/huge":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    chunk = b" " * 65536
                    for _ in range(128):  # 8 MB, unless the reader stops first
                        self.wfile.write(chunk)
                elif path == "/huge-declared":
                    self.send_response(200)
                    self.send_header("Content-Length", str(1 << 30))
                    self.end_headers()
                elif path == "/malformed":
                    self._send(b"<html><body>It works!</body></html>", "text/html")
                else:
                    self._send(b"not found", "text/plain", 404)

            def _send(self, body: bytes, kind: str, status: int = 200) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def stats_server() -> Iterator[StatsServer]:
    server = StatsServer()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join(10)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, read back, closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
