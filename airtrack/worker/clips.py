"""Proof clips, the stream's side: a rolling audio buffer and the clips cut from it.

Each pipeline keeps the last ``clip_buffer_s`` of decoded audio of its connection in a
ring (:class:`AudioRing`: 8 kHz mono, 16-bit, so 16 kB per second, 2.9 MB for the
default 180 s). A play is detected seconds after it starts; the buffer still holds its
start then. :class:`ClipCutter` notes what is wanted (a play's first ``clip_s``, or a
requested stretch) in stream samples and, once the audio is in the ring, copies it out
and hands it to the worker's encoder (:mod:`airtrack.worker.clip_upload`) without ever
waiting: a full encoder queue drops the clip (counted). Everything here runs in the
stream's own thread, beside the matcher; a copy of at most a minute of audio is all the
matching path pays.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import numpy as np

from airtrack.logging import get_logger
from airtrack.protocol import ClipWanted

log = get_logger(__name__)

#: A want whose audio is cut short by the end of its connection is still sent when at
#: least this long (seconds); shorter ones are missed.
MIN_CLIP_S = 3.0


class AudioRing:
    """The last ``capacity`` samples of a connection, as int16, addressed by the sample's
    position since the connection's first sample."""

    def __init__(self, seconds: float, rate: int) -> None:
        self.rate = rate
        self.capacity = max(1, int(seconds * rate))
        self._buf = np.zeros(self.capacity, np.int16)
        self.total = 0  # samples written since reset

    def reset(self) -> None:
        self.total = 0

    @property
    def oldest(self) -> int:
        return max(0, self.total - self.capacity)

    def write(self, block: np.ndarray) -> None:
        data = np.rint(np.clip(block, -1.0, 1.0) * 32767.0).astype(np.int16)
        if data.size >= self.capacity:
            data = data[-self.capacity :]
            self.total += block.size - data.size
        pos = self.total % self.capacity
        first = min(data.size, self.capacity - pos)
        self._buf[pos : pos + first] = data[:first]
        self._buf[: data.size - first] = data[first:]
        self.total += data.size

    def read(self, start: int, end: int) -> np.ndarray | None:
        """Samples ``start``..``end`` (a copy), or None when the ring no longer (or not yet)
        holds all of them."""
        if start < self.oldest or end > self.total or end <= start:
            return None
        idx = np.arange(start, end) % self.capacity
        return self._buf[idx].copy()


@dataclass(frozen=True)
class ClipJob:
    """Audio cut for one clip, waiting to be encoded."""

    key: str
    stream_id: int
    epoch: int
    started_at: datetime
    pcm: np.ndarray  # int16 mono at ``rate``
    rate: int
    play_key: str | None = None
    request_id: int | None = None


class ClipEncoderQueue(Protocol):
    """Where cut clips go (the worker's encoder): ``offer`` never waits; False = dropped."""

    def offer(self, job: ClipJob) -> bool: ...


class ClipStats:
    """A worker's clip counters (thread-safe), reported in heartbeats."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.cut = 0
        self.missed = 0  # the buffer no longer held the audio
        self.dropped = 0  # the encoder was behind, or the spool full
        self.encoded = 0
        self.uploaded = 0

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)


def clip_key(what: str) -> str:
    """A clip's idempotency key: one clip per play key or per request."""
    return hashlib.sha256(f"clip|{what}".encode()).hexdigest()[:32]


@dataclass
class _Want:
    key: str
    start: int
    end: int
    started_at: datetime
    play_key: str | None = None
    request_id: int | None = None


class ClipCutter:
    """One pipeline's wants and its ring (see the module docstring); the pipeline thread
    calls everything but :meth:`request`, which the supervisor calls from its loop."""

    def __init__(
        self,
        stream_id: int,
        epoch: int,
        encoder: ClipEncoderQueue,
        *,
        rate: int,
        clip_s: float,
        buffer_s: float,
        request_max_s: float,
        stats: ClipStats,
    ) -> None:
        self.stream_id, self.epoch = stream_id, epoch
        self.ring = AudioRing(buffer_s, rate)
        self.rate = rate
        self.clip_s = clip_s
        self.request_max_s = request_max_s
        self.stats = stats
        self._encoder = encoder
        self._wants: list[_Want] = []
        self._requests: deque[ClipWanted] = deque(maxlen=1000)
        self._requests_seen: set[int] = set()
        self._lock = threading.Lock()

    # --- any thread -------------------------------------------------------------

    def request(self, wanted: ClipWanted) -> None:
        """A clip request of this stream (heartbeat replies repeat it: taken once)."""
        with self._lock:
            if wanted.id in self._requests_seen:
                return
            self._requests_seen.add(wanted.id)
            if len(self._requests_seen) > 10_000:
                self._requests_seen = {wanted.id}
            self._requests.append(wanted)

    # --- the pipeline thread --------------------------------------------------------

    def reset(self) -> None:
        """A new connection: its audio starts a new ring; cut what the last one left."""
        self._flush_partial()
        self.ring.reset()

    def heard(self, block: np.ndarray) -> None:
        self.ring.write(block)

    def play_started(self, play_key: str, started_at: datetime, audio_s: float) -> None:
        """A new play starting ``audio_s`` into this connection's audio."""
        start = max(0, round(audio_s * self.rate))
        end = start + round(self.clip_s * self.rate)
        self._wants.append(_Want(clip_key(play_key), start, end, started_at, play_key=play_key))

    def step(self, origin: float | None) -> None:
        """Cut every want whose audio is all in the ring; ``origin`` (the connection's
        wall clock origin) places requests, which are in wall time."""
        with self._lock:
            requests = list(self._requests)
            self._requests.clear()
        for wanted in requests:
            if origin is None:
                with self._lock:
                    self._requests.append(wanted)
                continue
            self._want_request(wanted, origin)
        keep: list[_Want] = []
        for want in self._wants:
            if want.start < self.ring.oldest:
                self.stats.add(missed=1)
                log.info("clip_missed", stream_id=self.stream_id, key=want.key)
            elif want.end <= self.ring.total:
                self._cut(want, want.end)
            else:
                keep.append(want)
        self._wants = keep

    def _want_request(self, wanted: ClipWanted, origin: float) -> None:
        start_s = wanted.start.timestamp() - origin
        length = min(wanted.end.timestamp() - wanted.start.timestamp(), self.request_max_s)
        start = round(start_s * self.rate)
        if start < self.ring.oldest:
            self.stats.add(missed=1)
            log.info("clip_request_missed", stream_id=self.stream_id, request_id=wanted.id)
            return
        self._wants.append(
            _Want(
                clip_key(f"request|{wanted.id}"),
                start,
                start + max(1, round(length * self.rate)),
                wanted.start.astimezone(UTC),
                request_id=wanted.id,
            )
        )

    def _flush_partial(self) -> None:
        for want in self._wants:
            end = min(want.end, self.ring.total)
            if want.start >= self.ring.oldest and end - want.start >= MIN_CLIP_S * self.rate:
                self._cut(want, end)
            else:
                self.stats.add(missed=1)
        self._wants = []

    def _cut(self, want: _Want, end: int) -> None:
        pcm = self.ring.read(want.start, end)
        if pcm is None:
            self.stats.add(missed=1)
            return
        job = ClipJob(
            want.key,
            self.stream_id,
            self.epoch,
            want.started_at,
            pcm,
            self.rate,
            play_key=want.play_key,
            request_id=want.request_id,
        )
        if self._encoder.offer(job):
            self.stats.add(cut=1)
        else:
            self.stats.add(dropped=1)
            log.warning("clip_dropped", stream_id=self.stream_id, key=want.key, why="encoder busy")


#: What the pipeline needs to make its cutter (None when clips are off).
CutterFactory = Callable[[int, int], ClipCutter]
