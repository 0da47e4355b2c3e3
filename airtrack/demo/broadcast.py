"""One live station: a programme paced in real time, encoded once, fanned out to listeners.

Every listener hears the same broadcast (joining "now", after a short burst of the recent
past, as Icecast does). The station also writes a live HLS window (MPEG-TS/AAC segments)
into a folder and keeps the wall-clock ground truth of what aired.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import structlog

from airtrack.demo.catalog import SongSpec
from airtrack.demo.playout import Airing, Programme, ProgrammeConfig
from airtrack.demo.synth import Audio

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class StationConfig:
    """A demo station: ``mount`` is its URL path; audio comes from ``seed``."""

    mount: str
    name: str
    genre: str
    seed: int
    programme: ProgrammeConfig = field(default_factory=ProgrammeConfig)
    bitrate: int = 128_000
    hls_segment_s: float = 3.0
    hls_list_size: int = 6
    #: how ICY titles are encoded on the wire (a Windows playout sends cp1252)
    icy_encoding: str = "utf-8"
    #: out of ten songs, how many the titles get wrong (another song) and leave out
    icy_wrong_in_10: int = 1
    icy_absent_in_10: int = 1


class Mp3Encoder:
    """Streaming MP3 (libmp3lame) encoder: float PCM in, (pts, frame bytes) out."""

    def __init__(self, sr: int, bitrate: int) -> None:
        self._ctx: Any = av.CodecContext.create("libmp3lame", "w")
        self._ctx.sample_rate = sr
        self._ctx.layout = "mono"
        self._ctx.format = "fltp"
        self._ctx.bit_rate = bitrate
        self._pts = 0
        self.sr = sr

    def encode(self, pcm: Audio) -> list[tuple[int, bytes]]:
        frame = av.AudioFrame.from_ndarray(pcm[None, :], format="fltp", layout="mono")
        frame.sample_rate = self.sr
        frame.pts = self._pts
        self._pts += len(pcm)
        return [(int(p.pts), bytes(p)) for p in self._ctx.encode(frame)]


def encode_mp3(pcm: Audio, sr: int, bitrate: int = 128_000) -> bytes:
    """A whole clip as raw MP3 frames (no tags), flushed."""
    enc = Mp3Encoder(sr, bitrate)
    data = b"".join(b for _, b in enc.encode(pcm))
    return data + b"".join(bytes(p) for p in enc._ctx.encode(None))


class HlsWriter:
    """A live HLS window written by FFmpeg's hls muxer (AAC in MPEG-TS segments)."""

    def __init__(self, folder: Path, sr: int, segment_s: float, list_size: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._out: Any = av.open(
            str(folder / "index.m3u8"),
            "w",
            format="hls",
            options={
                "hls_time": f"{segment_s:g}",
                "hls_list_size": str(list_size),
                "hls_flags": "delete_segments+temp_file",
                "hls_segment_filename": str(folder / "seg%06d.ts"),
            },
        )
        self._stream: Any = self._out.add_stream("aac", rate=sr, layout="mono")
        self._stream.bit_rate = 64_000
        self._pts = 0
        self.sr = sr
        self._lock = threading.Lock()
        self._closed = False

    def write(self, pcm: Audio) -> None:
        frame = av.AudioFrame.from_ndarray(pcm[None, :], format="fltp", layout="mono")
        frame.sample_rate = self.sr
        frame.pts = self._pts
        frame.time_base = Fraction(1, self.sr)
        self._pts += len(pcm)
        # the station's pacing thread writes while a shutdown may close: FFmpeg's encoder
        # and muxer are not thread-safe (used at once they abort the process)
        with self._lock:
            if self._closed:
                return
            self._out.mux(self._stream.encode(frame))

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with contextlib.suppress(Exception):
                self._out.mux(self._stream.encode(None))
            with contextlib.suppress(Exception):
                self._out.close()


@dataclass(eq=False)
class Listener:
    queue: asyncio.Queue[bytes | None]
    dropped: bool = False


class Station:
    """A live station; :meth:`run` paces it until cancelled."""

    def __init__(
        self,
        config: StationConfig,
        catalog: list[SongSpec],
        *,
        speed: float = 1.0,
        hls_dir: Path | None = None,
        chunk_s: float = 0.25,
        burst_s: float = 3.0,
        max_lag_s: float = 1.0,
    ) -> None:
        self.max_lag_s = max_lag_s
        self.config = config
        self.programme = Programme(config.seed, catalog, config.programme)
        self.sr = config.programme.sr
        self.speed = speed
        self.chunk = int(chunk_s * self.sr)
        self.burst_s = burst_s
        self.encoder = Mp3Encoder(self.sr, config.bitrate)
        self.hls = (
            HlsWriter(hls_dir, self.sr, config.hls_segment_s, config.hls_list_size)
            if hls_dir is not None
            else None
        )
        self.listeners: set[Listener] = set()
        self._burst: deque[tuple[int, bytes]] = deque()
        self.started_at: datetime | None = None
        # (programme sample, wall time) pairs: where the live clock was (re)anchored.
        self._anchors: list[tuple[int, datetime]] = []
        self.produced = 0  # programme samples aired so far
        self.ready = asyncio.Event()

    @property
    def now_s(self) -> float:
        return self.produced / self.sr

    def title(self) -> str:
        """ICY StreamTitle for what is on air now."""
        return self.icy_title(self.programme.now_playing(max(0.0, self.now_s - 0.01)))

    def icy_title(self, a: Airing | None) -> str:
        """What the station's metadata says during ``a``: like real playout systems, right
        for most songs, another song for some (a late schedule), nothing for some."""
        cfg = self.config
        if a is None or a.kind in ("talk", "jingle"):
            # no "Artist - Title" shape: the cross-check must not take it for a song
            return f"{cfg.name}" + (": talk" if a is not None and a.kind == "talk" else "")
        # per airing and reproducible: the ground truth can say what was sent
        roll = zlib.crc32(f"{cfg.seed}|{a.start_s:.3f}".encode()) % 10
        # cp1252 stations write an en dash, which is not UTF-8 on the wire
        sep = " \u2013 " if cfg.icy_encoding == "cp1252" else " - "
        if roll < cfg.icy_absent_in_10:
            return ""
        others = [s for s in self.programme.catalog if s.title != a.title]
        if roll < cfg.icy_absent_in_10 + cfg.icy_wrong_in_10 and others:
            other = others[roll * 7919 % len(others)]
            return f"{other.artist}{sep}{other.title}"
        return f"{a.artist}{sep}{a.title}"

    def wall_of(self, programme_s: float) -> datetime:
        """UTC wall-clock time at which programme second ``programme_s`` went on air."""
        sample = programme_s * self.sr
        anchor_sample, anchor_wall = self._anchors[0]
        for a_s, a_w in self._anchors:
            if a_s <= sample:
                anchor_sample, anchor_wall = a_s, a_w
        return anchor_wall + timedelta(seconds=(sample - anchor_sample) / self.sr / self.speed)

    def airings(self) -> list[Airing]:
        return self.programme.airings(until_s=self.now_s)

    def truth(self) -> dict[str, Any]:
        """Ground truth JSON: what aired, programme seconds and wall-clock (UTC) times."""
        start = self.started_at
        wall_of = self.wall_of if self._anchors else None
        return {
            "mount": self.config.mount,
            "name": self.config.name,
            "started_at": start.isoformat() if start else None,
            "speed": self.speed,
            "now_s": round(self.now_s, 3),
            "now_at": wall_of(self.now_s).isoformat() if wall_of else None,
            "icy_encoding": self.config.icy_encoding,
            "airings": [
                {**a.to_json(wall_of), "icy_title": self.icy_title(a)} for a in self.airings()
            ],
        }

    def join(self) -> tuple[Listener, list[tuple[int, bytes]]]:
        """A new listener and the burst it gets first (pts in programme samples)."""
        listener = Listener(asyncio.Queue(maxsize=400))
        self.listeners.add(listener)
        return listener, list(self._burst)

    def leave(self, listener: Listener) -> None:
        self.listeners.discard(listener)

    def _produce(self) -> list[tuple[int, bytes]]:
        pcm = self.programme.read(self.chunk)
        if self.hls is not None:
            self.hls.write(pcm)
        return self.encoder.encode(pcm)

    async def run(self) -> None:
        """Produce, encode and fan out chunks in (scaled) real time until cancelled."""
        packets = await asyncio.to_thread(self._produce)  # warm up before the clock starts
        t0 = time.monotonic()
        self.started_at = datetime.now(UTC)
        self._anchors.append((0, self.started_at))
        log.info("station_on_air", mount=self.config.mount, speed=self.speed)
        try:
            while True:
                self.produced += self.chunk
                self._fan_out(packets)
                self.ready.set()
                due = t0 + self.produced / self.sr / self.speed
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -self.max_lag_s:
                    # The machine stalled: do not burst to catch up; re-anchor the clock.
                    t0 = time.monotonic() - self.produced / self.sr / self.speed
                    self._anchors.append((self.produced, datetime.now(UTC)))
                    log.warning("station_late", mount=self.config.mount, lag_s=round(-delay, 2))
                packets = await asyncio.to_thread(self._produce)
        finally:
            for listener in list(self.listeners):
                with contextlib.suppress(asyncio.QueueFull):
                    listener.queue.put_nowait(None)
            if self.hls is not None:
                await asyncio.to_thread(self.hls.close)

    def _fan_out(self, packets: list[tuple[int, bytes]]) -> None:
        for pts, data in packets:
            self._burst.append((pts, data))
        horizon = self.produced - int(self.burst_s * self.sr)
        while self._burst and self._burst[0][0] < horizon:
            self._burst.popleft()
        payload = b"".join(d for _, d in packets)
        if not payload:
            return
        for listener in list(self.listeners):
            try:
                listener.queue.put_nowait(payload)
            except asyncio.QueueFull:  # a client that cannot keep up is dropped, as Icecast does
                listener.dropped = True
                self.listeners.discard(listener)
                log.warning("listener_dropped", mount=self.config.mount, reason="too slow")


def silence_mp3(sr: int, seconds: float, bitrate: int = 128_000) -> bytes:
    """Steady-state MP3 frames of digital silence that can be looped end to end."""
    enc = Mp3Encoder(sr, bitrate)
    frames = [b for _, b in enc.encode(np.zeros(int((seconds + 1.0) * sr), dtype=np.float32))]
    per_s = sr / 576
    return b"".join(frames[-int(seconds * per_s) :])
