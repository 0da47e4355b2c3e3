"""HLS timed ID3 (TIT2/TPE1 in MPEG-TS segments): titles at their stream time."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from fractions import Fraction
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from airtrack.metadata.icy import TitleEvent
from airtrack.metadata.id3 import encode_tag
from airtrack.worker.capture import CaptureOptions, StreamFailure, capture

SR = 44100
SEG_S = 4
#: (segment, second in it, artist, title): the tag repeats, as packagers do
TAGS = [(0, 0, "Band", "Song A"), (0, 2, "Band", "Song A"), (1, 0, "Band", "Song B"),
        (2, 0, "Band", "Song B"), (2, 1, "Björk", "Jóga")]  # fmt: skip


def _segment(path: Path, k: int) -> None:
    out = av.open(str(path), "w", format="mpegts")
    audio = out.add_stream("aac", rate=SR, layout="mono")
    data = out.add_data_stream("timed_id3")
    t = np.arange(SEG_S * SR) / SR
    pcm = (0.2 * np.sin(2 * np.pi * (300 + 100 * k) * t)).astype(np.float32)[None, :]
    frame = av.AudioFrame.from_ndarray(pcm, format="flt", layout="mono")
    frame.rate, frame.pts, frame.time_base = SR, k * SEG_S * SR, Fraction(1, SR)
    for seg, second, artist, title in TAGS:
        if seg == k:
            p = av.Packet(encode_tag({"TPE1": artist, "TIT2": title}))
            p.stream = data
            p.time_base = Fraction(1, 90000)
            p.pts = p.dts = (k * SEG_S + second) * 90000
            out.mux(p)
    for p in audio.encode(frame):
        out.mux(p)
    for p in audio.encode(None):
        out.mux(p)
    out.close()


@pytest.fixture(scope="module")
def hls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("hls")
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{SEG_S}"]
    for k in range(3):
        _segment(folder / f"seg{k}.ts", k)
        lines += [f"#EXTINF:{SEG_S}.0,", f"seg{k}.ts"]
    (folder / "index.m3u8").write_text("\n".join([*lines, "#EXT-X-ENDLIST", ""]))

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/index.m3u8"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_hls_id3_titles_are_reported_once_each_at_their_time(hls: str) -> None:
    heard: list[tuple[float, TitleEvent]] = []
    opts = CaptureOptions(sample_rate=8000, read_timeout_s=5.0)
    with pytest.raises(StreamFailure):
        for _ in capture(hls, opts, threading.Event(), on_title=lambda s, e: heard.append((s, e))):
            pass
    got = [(e.title, e.encoding) for _, e in heard]
    assert got == [("Band - Song A", "id3"), ("Band - Song B", "id3"), ("Björk - Jóga", "id3")]
    times = [s for s, _ in heard]
    for t, want in zip(times, (0.0, 4.0, 9.0), strict=True):
        assert t == pytest.approx(want, abs=0.3), times
