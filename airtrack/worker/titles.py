"""ICY titles on the capture path: strip them from the bytes, time them in stream seconds.

The splitter runs on the socket's chunks before PyAV sees them (:func:`strip_icy`),
so the decoder reads pure audio. A title is then timed by the audio byte where it sat:
when the demuxer reaches a packet at or past that byte, the stream position of that
packet (samples decoded so far) is the title's stream time (:class:`TitleClock`).

Only changes are reported (:class:`TitleChanges`, one per stream, across reconnects):
SHOUTcast v1 servers repeat the current ``StreamTitle`` in every metadata block, about
once a second, and each repeat stored would cut one airing into one-second spans.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from airtrack.logging import get_logger
from airtrack.metadata.icy import IcySplitter, TitleEvent
from airtrack.metadata.id3 import text_frames, title_of
from airtrack.metrics import TITLES_LIMITED
from airtrack.protocol import TitleIn
from airtrack.worker.outbox import title_key

log = get_logger(__name__)

#: ``on_title(stream_s, event)``: stream seconds since the connection's first audio.
TitleCallback = Callable[[float, TitleEvent], None]


class TitleClock:
    """Titles stripped from the bytes wait here until the decoder reaches their byte."""

    def __init__(self, on_title: TitleCallback | None) -> None:
        self._on_title = on_title
        self._pending: deque[TitleEvent] = deque()
        self.titles = 0
        self._audio0: float | None = None  # pts (s) of the first decoded audio
        self._last_tag: str | None = None

    def audio_pts(self, pts_s: float | None) -> None:
        if self._audio0 is None and pts_s is not None:
            self._audio0 = pts_s

    def timed_tag(self, tag: bytes, pts_s: float | None, now_s: float) -> None:
        """An HLS timed ID3 tag at ``pts_s`` (``now_s``: the decoder's stream time, used
        when either clock is missing). Streams repeat the tag each segment: only a
        change is a title."""
        if self._on_title is None:
            return
        title = title_of(text_frames(tag))
        if title is None or title == self._last_tag:
            return
        self._last_tag = title
        at = pts_s - self._audio0 if pts_s is not None and self._audio0 is not None else now_s
        self.titles += 1
        self._on_title(max(0.0, at), TitleEvent(-1, title, None, "id3"))

    def add(self, events: list[TitleEvent]) -> None:
        if self._on_title is not None:
            self._pending.extend(events)

    def reached(self, byte_pos: int | None, stream_s: float) -> None:
        """The demuxer is at ``byte_pos`` (audio bytes), i.e. at ``stream_s`` of audio."""
        if byte_pos is None or self._on_title is None:
            return
        while self._pending and self._pending[0].audio_offset <= byte_pos:
            self.titles += 1
            self._on_title(stream_s, self._pending.popleft())


def metaint_of(header: str | None) -> int | None:
    """The ``icy-metaint`` header as a positive int; None when absent or nonsense."""
    try:
        value = int((header or "").strip())
    except ValueError:
        return None
    return value if value > 0 else None


def strip_icy(chunks: Iterator[bytes], metaint: int, clock: TitleClock) -> Iterator[bytes]:
    """The audio bytes of ICY ``chunks`` (metadata blocks removed, handed to ``clock``)."""
    splitter = IcySplitter(metaint)
    for chunk in chunks:
        audio, events = splitter.feed(chunk)
        clock.add(events)
        if audio:
            yield audio


class TitleChanges:
    """Which of one stream's titles are news: a change from the last one kept, and at most
    ``per_min`` of those in any minute.

    It lives as long as the stream's pipeline, so the title a station sends again on a
    reconnect is not a change. A station changing titles faster than ``per_min`` (a
    hostile or broken one) cannot make the worker send more: the extra changes are
    dropped and counted (``TITLES_LIMITED``, ``dropped``). A title dropped that way is
    still the station's current one and is kept once the minute allows, if it lasts.
    """

    WINDOW_S = 60.0
    #: changes dropped by every stream of this process (reported in heartbeats)
    dropped_total = 0
    _total_lock = threading.Lock()

    def __init__(self, per_min: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_min = per_min
        self._clock = clock
        self._kept_at: deque[float] = deque()
        self._last: str | None = None
        self._known = False  # nothing kept yet: the first title is news
        self._seen: str | None = None  # the last title offered, kept or not
        self._lock = threading.Lock()
        self.dropped = 0

    def admit(self, title: str | None) -> bool:
        """True when ``title`` is to be stored and logged."""
        with self._lock:
            seen, self._seen = self._seen, title
            if self._known and title == self._last:
                return False
            now = self._clock()
            while self._kept_at and now - self._kept_at[0] >= self.WINDOW_S:
                self._kept_at.popleft()
            if len(self._kept_at) >= self.per_min:
                if title != seen:  # a new change, not the same one repeated
                    self.dropped += 1
                    TITLES_LIMITED.inc()
                    with TitleChanges._total_lock:
                        TitleChanges.dropped_total += 1
                    if self.dropped == 1 or self.dropped % 100 == 0:
                        log.warning(
                            "stream_titles_limited", per_min=self.per_min, dropped=self.dropped
                        )
                return False
            self._kept_at.append(now)
            self._last, self._known = title, True
            return True


@runtime_checkable
class TitleSink(Protocol):
    """Where a pipeline's titles go (the supervisor: the durable outbox)."""

    def put_title(self, title: TitleIn) -> None: ...


class TitleReporter:
    """One connection's titles: heard in stream seconds, reported in wall time.

    Capture hears a title before the block holding it is accounted, so titles wait
    until the connection's time origin is known (:meth:`flush` after each block).
    """

    def __init__(self, stream_id: int, epoch: int, sink: object, changes: TitleChanges) -> None:
        self.stream_id, self.epoch = stream_id, epoch
        self._sink = sink if isinstance(sink, TitleSink) else None
        self._pending: list[tuple[float, TitleEvent]] = []
        # one per stream, handed in by the pipeline so it outlives this connection
        self.changes = changes
        self.reported = 0

    def heard(self, stream_s: float, event: TitleEvent) -> None:
        self._pending.append((stream_s, event))

    def flush(self, origin: float | None) -> None:
        """Report the waiting titles; ``origin``: the wall time of stream second 0."""
        if origin is None or not self._pending:
            return
        pending, self._pending = self._pending, []
        for stream_s, ev in pending:
            if not self.changes.admit(ev.title):
                continue
            at = datetime.fromtimestamp(origin + stream_s, UTC)
            title = TitleIn(
                key=title_key(self.stream_id, self.epoch, at, ev.title),
                stream_id=self.stream_id,
                epoch=self.epoch,
                at=at,
                title=ev.title,
                url=ev.url,
                encoding=ev.encoding,
            )
            log.info(
                "stream_title",
                stream_id=self.stream_id,
                title=ev.title,
                encoding=ev.encoding,
                at=at.isoformat(),
            )
            if self._sink is None:
                continue
            try:
                self._sink.put_title(title)
            except Exception:
                log.exception("outbox_write_failed", key=title.key)
            else:
                self.reported += 1
