"""Capture asks for ICY titles, strips them before the decoder, and times them in the stream."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prometheus_client import REGISTRY

from airtrack.metadata.icy import TitleEvent, encode_block
from airtrack.protocol import TitleIn
from airtrack.worker.capture import CaptureOptions, StreamFailure, capture
from airtrack.worker.titles import TitleChanges, TitleReporter
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


class _Sink:
    def __init__(self) -> None:
        self.titles: list[TitleIn] = []

    def put_title(self, title: TitleIn) -> None:
        self.titles.append(title)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _reporter(changes: TitleChanges, sink: _Sink) -> TitleReporter:
    return TitleReporter(7, 1, sink, changes)


def test_a_title_repeated_in_every_block_is_reported_once() -> None:
    """SHOUTcast v1 repeats StreamTitle in each metadata block (about once a second)."""
    sink, changes = _Sink(), TitleChanges(6, clock=_Clock())
    rep = _reporter(changes, sink)
    for s in range(49):
        rep.heard(float(s), TitleEvent(s * 16_000, "Artist - Song", None, "utf-8"))
    rep.heard(49.0, TitleEvent(49 * 16_000, "Next - One", None, "utf-8"))
    rep.heard(50.0, TitleEvent(50 * 16_000, "Next - One", None, "utf-8"))
    rep.flush(1_700_000_000.0)
    assert [(t.title, t.at.timestamp()) for t in sink.titles] == [
        ("Artist - Song", 1_700_000_000.0),
        ("Next - One", 1_700_000_049.0),
    ]
    # a reconnect: a new connection's reporter, the same stream's changes
    again = _reporter(changes, sink)
    again.heard(0.0, TitleEvent(16_000, "Next - One", None, "utf-8"))
    again.flush(1_700_000_100.0)
    assert len(sink.titles) == 2, "the title repeated after a reconnect is not a change"
    again.heard(1.0, TitleEvent(32_000, "", None, "utf-8"))  # the station clears its title
    again.flush(1_700_000_100.0)
    assert [t.title for t in sink.titles][-1] == ""


def test_a_hostile_station_is_held_to_a_few_changes_a_minute() -> None:
    clock = _Clock()
    changes = TitleChanges(3, clock=clock)
    before = REGISTRY.get_sample_value("airtrack_titles_limited_total") or 0.0
    reported_before = TitleChanges.dropped_total  # what heartbeats carry (titles_limited)
    kept = []
    for i in range(100):  # a new title every 100 ms for 10 s, each repeated once
        clock.now += 0.1
        kept += [f"t{i}"] if changes.admit(f"t{i}") else []
        assert not changes.admit(f"t{i}")
    assert kept == ["t0", "t1", "t2"]
    assert changes.dropped == 97  # each change counted once, not each repeat
    after = REGISTRY.get_sample_value("airtrack_titles_limited_total") or 0.0
    assert after - before == 97
    assert TitleChanges.dropped_total - reported_before == 97
    # a minute after the first kept change, the station's current title gets through
    clock.now += 60.0
    assert changes.admit("t99") and not changes.admit("t99")
