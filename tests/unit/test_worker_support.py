"""Real HTTP stream servers and audio for the worker tests (no tests of its own).

``StationServer`` is a threaded HTTP server on 127.0.0.1 that streams MP3 in
real time, Icecast-style, plus the broken stations a worker meets in the wild.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import av
import numpy as np

from airtrack.protocol import SNAPSHOT_SHA256_HEADER

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

    Paths: ``/live.mp3`` (real-time × ``speed``, looping), ``/once.mp3`` (the same, once),
    ``/silence.mp3`` (real-time silence),
    ``/redirect`` (302 → /live.mp3), ``/404``, ``/html``, ``/garbage``,
    ``/truncated.mp3`` (a few seconds, then cut mid-frame), ``/stall.mp3`` (a few
    seconds, then the socket goes quiet but stays open), ``/slow-headers`` (never answers),
    ``/hls/index.m3u8`` (VOD playlist of MP3 segments); hostile ones: ``/trickle.mp3``
    (real MP3, five bytes a second), ``/text.mp3`` (endless text lines as ``audio/mpeg``),
    ``/redirect-loop`` (302 to itself).
    """

    def __init__(
        self, live: bytes, *, bitrate: int = 128_000, burst_s: float = 2.0, speed: float = 1.0
    ) -> None:
        self.live = live
        self.speed = speed
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
            "/once.mp3": lambda h: self._stream(h, self.live, limit=len(self.live)),
            "/truncated.mp3": lambda h: self._stream(h, self.live, limit=self.bps * 3 + 77),
            "/stall.mp3": lambda h: self._stream(h, self.live, limit=self.bps * 3, stall=True),
            "/slow-headers": lambda h: self._stop.wait(60),
            "/html": self._html,
            "/garbage": self._garbage,
            "/redirect": self._redirect,
            "/redirect-loop": self._redirect,
            "/trickle.mp3": self._trickle,
            "/text.mp3": self._text,
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
        h.send_header("Location", h.path if h.path == "/redirect-loop" else "/live.mp3")
        h.send_header("Content-Length", "0")
        h.end_headers()

    def _audio_head(self, h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "audio/mpeg")
        h.send_header("icy-name", "Test FM")
        h.end_headers()

    def _trickle(self, h: BaseHTTPRequestHandler) -> None:
        self._audio_head(h)
        for i in range(len(self.live)):
            # 5 bytes/s: under the tests' 1-s read timeout, so only the audio bound sees it
            if self._stop.wait(0.2 / self.speed if i else 0):
                return
            h.wfile.write(self.live[i : i + 1])
            h.wfile.flush()

    def _text(self, h: BaseHTTPRequestHandler) -> None:
        self._audio_head(h)
        while not self._stop.wait(0.05):
            h.wfile.write(b"Now playing: nothing. Listen live at our website!\n")
            h.wfile.flush()

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
            due = start + max(0, sent - burst) / (self.bps * self.speed)
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        if stall:
            self._stop.wait(120)


class FakeOrchestrator:
    """A scriptable stand-in for the orchestrator's worker API, over real HTTP on 127.0.0.1.

    Used until the real orchestrator exists, and for faults it cannot be made to
    show on demand (503 bursts, endless epoch bumps, forgetting a worker).
    """

    def __init__(self, port: int = 0) -> None:
        self.assignments: dict[str, list[dict[str, Any]]] = {}
        self.plays: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.registers: list[str] = []
        self.heartbeats: list[dict[str, Any]] = []
        self.deregistered: list[str] = []
        self.fail_next = 0  # next N requests answer 503
        self.delay_s = 0.0
        self.interval_s = 0.2
        self.forget: set[str] = set()  # next heartbeat of these workers → 404
        self.bump_epochs = False  # reply with every reported epoch + 1 (never agrees)
        self.stale_streams: set[int] = set()
        self.titles: list[dict[str, Any]] = []
        self.archive: list[dict[str, Any]] = []
        self.archive_down = False  # the archive store cannot take segments: "unarchived"
        self.plays_delay_s = 0.0  # each batch of plays is answered this late
        self.snapshot: tuple[str, bytes] | None = None
        # the next N snapshot bodies are damaged on the way (one byte flipped, or cut short
        # with a matching Content-Length), after the checksum header was computed
        self.corrupt_snapshots = 0
        self.snapshot_downloads = 0
        self.catalog_version: str | None = None
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            # one request per connection, so stop() really makes the orchestrator unreachable
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner._handle(self, "GET")

            def do_POST(self) -> None:
                owner._handle(self, "POST")

        self._handler = Handler
        self._port = port
        self.httpd: ThreadingHTTPServer | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self._port), self._handler)
        self.httpd.daemon_threads = True
        self._port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def __enter__(self) -> FakeOrchestrator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        import json

        n = int(h.headers.get("Content-Length") or 0)
        body = json.loads(h.rfile.read(n)) if n else None
        path = h.path
        with self._lock:
            self.calls.append(f"{method} {path}")
            fail = self.fail_next > 0
            if fail:
                self.fail_next -= 1
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.plays_delay_s and path.split("?")[0].endswith("/plays"):
            time.sleep(self.plays_delay_s)
        if fail:
            return self._json(h, 503, {"detail": "unavailable"})
        if h.headers.get("Authorization") != "Bearer tok":
            return self._json(h, 401, {"detail": "bad token"})
        parts = path.split("?")[0].strip("/").split("/")
        with self._lock:
            if parts[-1] == "register":
                wid = body["worker_id"]
                self.registers.append(wid)
                self.forget.discard(wid)
                return self._json(
                    h,
                    200,
                    {
                        "worker_id": wid,
                        "heartbeat_interval_s": self.interval_s,
                        "lease_ttl_s": 30,
                        "assignments": self.assignments.get(wid, []),
                    },
                )
            if parts[-1] == "heartbeat":
                wid = parts[-2]
                if wid in self.forget:
                    return self._json(h, 404, {"detail": "unknown worker"})
                self.heartbeats.append(body)
                out = self.assignments.get(wid, [])
                if self.bump_epochs:
                    rep = {s["stream_id"]: s["epoch"] for s in body["streams"]}
                    out = [{**a, "epoch": rep.get(a["stream_id"], a["epoch"]) + 1} for a in out]
                return self._json(
                    h,
                    200,
                    {
                        "assignments": out,
                        "recovery_mode": False,
                        "catalog_version": self.catalog_version,
                    },
                )
            if parts[-1] == "deregister":
                self.deregistered.append(parts[-2])
                return self._json(h, 200, {})
            if parts[-1] == "plays":
                if not body.get("worker_id"):  # the real orchestrator binds plays to it
                    return self._json(h, 422, {"detail": "worker_id missing"})
                results = []
                for p in body["plays"]:
                    if p["stream_id"] in self.stale_streams:
                        results.append({"key": p["key"], "status": "stale"})
                    elif p["key"] in self.plays:
                        self.plays[p["key"]].update({k: v for k, v in p.items() if v is not None})
                        results.append({"key": p["key"], "status": "duplicate"})
                    else:
                        self.plays[p["key"]] = dict(p)
                        results.append({"key": p["key"], "status": "stored"})
                code = 409 if all(r["status"] == "stale" for r in results) else 200
                return self._json(h, code, {"results": results})
            if parts[-1] == "metadata":  # stream titles: fenced like plays
                results = [
                    {"key": t["key"], "status": "stale"}
                    if t["stream_id"] in self.stale_streams
                    else {"key": t["key"], "status": "stored"}
                    for t in body["titles"]
                ]
                self.titles.extend(
                    t for t in body["titles"] if t["stream_id"] not in self.stale_streams
                )
                code = 409 if all(r["status"] == "stale" for r in results) else 200
                return self._json(h, code, {"results": results})
            if parts[-1] == "archive":  # fingerprint-archive segments: fenced like plays
                status = "unarchived" if self.archive_down else "stored"
                if not self.archive_down:
                    self.archive.extend(body["segments"])
                results = [{"key": a["key"], "status": status} for a in body["segments"]]
                return self._json(h, 200, {"results": results})
            if parts[-1] == "snapshot":
                if self.snapshot is None:
                    return self._json(h, 404, {"detail": "no catalog"})
                version, data = self.snapshot
                etag = f'"{version}"'
                if h.headers.get("If-None-Match") == etag:
                    h.send_response(304)
                    h.send_header("ETag", etag)
                    h.send_header("Content-Length", "0")
                    h.end_headers()
                    return None
                digest = hashlib.sha256(data).hexdigest()
                self.snapshot_downloads += 1
                if self.corrupt_snapshots > 0:
                    self.corrupt_snapshots -= 1
                    if self.corrupt_snapshots % 2:
                        data = data[: len(data) // 2]
                    else:
                        data = bytes([data[0] ^ 0xFF]) + data[1:]
                h.send_response(200)
                h.send_header("ETag", etag)
                h.send_header(SNAPSHOT_SHA256_HEADER, digest)
                h.send_header("Content-Type", "application/octet-stream")
                h.send_header("Content-Length", str(len(data)))
                h.end_headers()
                h.wfile.write(data)
                return None
        return self._json(h, 404, {"detail": "no route"})

    def _json(self, h: BaseHTTPRequestHandler, code: int, obj: Any) -> None:
        import json

        data = json.dumps(obj).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
