"""Real HTTP stream servers and audio for the worker tests (no tests of its own).

``StationServer`` is a threaded HTTP server on 127.0.0.1 that streams MP3 in
real time, Icecast-style, plus the broken stations a worker meets in the wild.
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import av
import numpy as np

RATE = 44100


def tone(seconds: float, freq: float = 440.0, rate: int = RATE, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    # A warble, not a pure tone, so the encoder has something to chew on.
    return (amp * np.sin(2 * np.pi * freq * t * (1 + 0.01 * np.sin(2 * np.pi * 0.5 * t)))).astype(
        np.float32
    )


def encode(
    samples: np.ndarray, fmt: str = "mp3", rate: int = RATE, bitrate: int = 128_000
) -> bytes:
    codec = {"mp3": "libmp3lame", "adts": "aac", "ogg": "libopus"}[fmt]
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        st = out.add_stream(codec, rate=rate if fmt != "ogg" else 48000, layout="mono")
        st.bit_rate = bitrate
        frame = av.AudioFrame.from_ndarray(
            samples[None, :].astype(np.float32), format="flt", layout="mono"
        )
        frame.rate = rate
        for p in st.encode(frame):
            out.mux(p)
        for p in st.encode(None):
            out.mux(p)
    return buf.getvalue()


class StationServer:
    """Icecast-like stations on 127.0.0.1:<ephemeral port>.

    Paths: ``/live.mp3`` (real-time, looping), ``/silence.mp3`` (real-time silence),
    ``/redirect`` (302 → /live.mp3), ``/404``, ``/html``, ``/garbage``,
    ``/truncated.mp3`` (a few seconds, then cut mid-frame), ``/stall.mp3`` (a few
    seconds, then the socket goes quiet but stays open), ``/slow-headers`` (never answers),
    ``/hls/index.m3u8`` (VOD playlist of MP3 segments).
    """

    def __init__(self, live: bytes, *, bitrate: int = 128_000, burst_s: float = 2.0) -> None:
        self.live = live
        self.silence = encode(np.zeros(RATE * 5, dtype=np.float32), bitrate=bitrate)
        self.bps = bitrate // 8
        self.burst_s = burst_s
        self.hits: dict[str, int] = {}
        self._stop = threading.Event()
        self.segments = [live[i : i + self.bps * 4] for i in range(0, len(live), self.bps * 4)]
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner.hits[self.path] = owner.hits.get(self.path, 0) + 1
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    owner._route(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> StationServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- routes -------------------------------------------------------------

    def _route(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?")[0]
        routes: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {
            "/live.mp3": lambda h: self._stream(h, self.live),
            "/silence.mp3": lambda h: self._stream(h, self.silence),
            "/truncated.mp3": lambda h: self._stream(h, self.live, limit=self.bps * 3 + 77),
            "/stall.mp3": lambda h: self._stream(h, self.live, limit=self.bps * 3, stall=True),
            "/slow-headers": lambda h: self._stop.wait(60),
            "/html": self._html,
            "/garbage": self._garbage,
            "/redirect": self._redirect,
            "/hls/index.m3u8": self._playlist,
        }
        if path in routes:
            routes[path](h)
        elif path.startswith("/hls/seg") and path.endswith(".mp3"):
            i = int(path[len("/hls/seg") : -len(".mp3")])
            self._send(h, 200, "audio/mpeg", self.segments[i])
        else:
            self._send(h, 404, "text/plain", b"not found")

    def _send(self, h: BaseHTTPRequestHandler, code: int, ctype: str, body: bytes) -> None:
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _html(self, h: BaseHTTPRequestHandler) -> None:
        self._send(
            h,
            200,
            "text/html; charset=utf-8",
            b"<!DOCTYPE html><html><body>Listen live!</body></html>",
        )

    def _garbage(self, h: BaseHTTPRequestHandler) -> None:
        rng = np.random.default_rng(1)
        self._send(h, 200, "application/octet-stream", rng.bytes(200_000))

    def _redirect(self, h: BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Location", "/live.mp3")
        h.send_header("Content-Length", "0")
        h.end_headers()

    def _playlist(self, h: BaseHTTPRequestHandler) -> None:
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            "#EXT-X-TARGETDURATION:4",
            "#EXT-X-MEDIA-SEQUENCE:0",
        ]
        for i in range(len(self.segments)):
            lines += ["#EXTINF:4.0,", f"seg{i}.mp3"]
        lines.append("#EXT-X-ENDLIST")
        self._send(h, 200, "application/vnd.apple.mpegurl", ("\n".join(lines) + "\n").encode())

    def _stream(
        self,
        h: BaseHTTPRequestHandler,
        data: bytes,
        *,
        limit: int | None = None,
        stall: bool = False,
    ) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "audio/mpeg")
        h.send_header("icy-name", "Test FM")
        h.send_header("icy-br", str(self.bps * 8 // 1000))
        h.send_header("Cache-Control", "no-cache")
        h.end_headers()
        sent = 0
        pos = 0
        start = time.monotonic()
        burst = int(self.bps * self.burst_s)
        step = self.bps // 10
        while not self._stop.is_set():
            if limit is not None and sent >= limit:
                break
            n = step if limit is None else min(step, limit - sent)
            chunk = data[pos : pos + n]
            if len(chunk) < n:  # loop
                chunk += data[: n - len(chunk)]
            pos = (pos + n) % len(data)
            h.wfile.write(chunk)
            h.wfile.flush()
            sent += n
            due = start + max(0, sent - burst) / self.bps
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        if stall:
            self._stop.wait(120)
