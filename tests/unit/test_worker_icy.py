"""Capture asks for ICY titles, strips them before the decoder, and times them in the stream."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from airtrack.metadata.icy import TitleEvent, encode_block
from airtrack.worker.capture import CaptureOptions, StreamFailure, capture
from tests.unit.test_worker_support import encode, tone

METAINT = 8000
BPS = 16_000  # 128 kbit/s CBR
MP3 = encode(tone(12.0))
#: metadata interval index → the block the server sends after it
BLOCKS = {
    1: encode_block({"StreamTitle": "Daft Punk - Get Lucky", "StreamUrl": "http://x/"}),
    5: encode_block({"StreamTitle": "Björk - Jóga"}, "cp1252"),
    9: encode_block({"StreamTitle": ""}),
}


def _icy_body() -> bytes:
    out = bytearray()
    for k, start in enumerate(range(0, len(MP3), METAINT)):
        piece = MP3[start : start + METAINT]
        out += piece
        if len(piece) == METAINT:
            out += BLOCKS.get(k, b"\x00")
    return bytes(out)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    body = _icy_body()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            icy = self.headers.get("Icy-MetaData", "0") == "1"
            self.send_response(200)
            self.send_header("Content-Type", "audio/mpeg")
            if icy:
                self.send_header("icy-metaint", str(METAINT))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                # small writes: metadata blocks straddle the reads
                data = body if icy else MP3
                for i in range(0, len(data), 1500):
                    self.wfile.write(data[i : i + 1500])

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/live.mp3"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _run(url: str, icy: bool) -> tuple[int, list[tuple[float, TitleEvent]]]:
    opts = CaptureOptions(sample_rate=8000, read_timeout_s=2.0, icy_metadata=icy)
    titles: list[tuple[float, TitleEvent]] = []
    samples = 0
    with pytest.raises(StreamFailure) as exc:
        for block in capture(
            url, opts, threading.Event(), on_title=lambda s, e: titles.append((s, e))
        ):
            samples += block.size
    assert exc.value.kind == "ended"
    return samples, titles


def test_titles_are_stripped_and_timed_where_they_sat(server: str) -> None:
    plain, none = _run(server, icy=False)
    samples, titles = _run(server, icy=True)
    assert none == []
    # every metadata byte left the audio: the decoder saw exactly the MP3
    assert samples == plain
    got = [(e.title, e.url, e.encoding) for _, e in titles]
    assert got == [
        ("Daft Punk - Get Lucky", "http://x/", "utf-8"),
        ("Björk - Jóga", None, "cp1252"),
        ("", None, "utf-8"),
    ]
    for (stream_s, _), k in zip(titles, sorted(BLOCKS), strict=True):
        assert stream_s == pytest.approx((k + 1) * METAINT / BPS, abs=0.15)
