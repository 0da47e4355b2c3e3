"""``identify`` and ``scan`` over files, with the live worker's streaming matcher.

``scan_plays`` is ``fingerprint.scan_file`` with a progress hook: the same decoder feeding
the same ``StreamingMatcher`` in the same blocks (a test checks they agree).  The catalog
rows are joined afterwards, so the output carries the ``source`` given to ``catalog add``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airtrack.catalog.files import truncated
from airtrack.errors import AudioError
from airtrack.fingerprint import (
    Index,
    Play,
    PlayEvent,
    StreamingMatcher,
    decode_ahead,
    identify,
    plays_from_events,
)

if TYPE_CHECKING:  # the database driver loads only when a command asks the database
    from airtrack.catalog.store import TrackRow
    from airtrack.db import Database

__all__ = [
    "Identified",
    "ScanPlay",
    "describe_match",
    "describe_plays",
    "identify_clip",
    "join_match",
    "join_plays",
    "scan_plays",
    "scan_recording",
]


@dataclass(frozen=True, slots=True)
class _Named:
    """The catalog track a result names, as ``scan`` and ``identify`` print it."""

    track_id: int
    title: str | None
    artist: str | None
    source: str | None

    def _named_json(self) -> dict[str, object]:
        return {
            "track_id": self.track_id,
            "title": self.title,
            "artist": self.artist,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class ScanPlay(_Named):
    """One airing found in a recording (``scan --json`` object, docs/architecture.md#contracts)."""

    start: float
    end: float
    confidence: float

    def to_json(self) -> dict[str, object]:
        return {
            **self._named_json(),
            "start": round(self.start, 2),
            "end": round(self.end, 2),
            "confidence": round(self.confidence, 3),
        }


@dataclass(frozen=True, slots=True)
class Identified(_Named):
    """Best match of a clip: ``offset`` = position in the track where the clip starts."""

    offset: float
    confidence: float
    speed: float

    def to_json(self) -> dict[str, object]:
        return {
            **self._named_json(),
            "offset": round(self.offset, 2),
            "confidence": round(self.confidence, 3),
            "speed": round(self.speed, 3),
        }


@dataclass(frozen=True, slots=True)
class Scan:
    """The plays of a recording and how much of it could be read."""

    plays: list[Play]
    read_s: float
    broke: str | None = None  # why decoding stopped before the end, when it did

    def damage(self, announced_s: float | None) -> str | None:
        """One line saying how much was readable, when the file is damaged; else None."""
        if self.broke is None and not truncated(self.read_s, announced_s):
            return None
        whole = f" of the {announced_s:.1f} s its header announces" if announced_s else ""
        why = f" ({self.broke})" if self.broke else ""
        return (
            f"truncated or damaged: only {self.read_s:.1f} s{whole} could be read{why}; "
            "the plays cover that part"
        )


def scan_plays(
    path: str | os.PathLike[str],
    index: Index,
    *,
    on_progress: Callable[[float], None] | None = None,
) -> list[Play]:
    """Plays in a recording; ``on_progress(seconds_decoded)`` after every block."""
    return scan_recording(path, index, on_progress=on_progress, keep_partial=False).plays


def scan_recording(
    path: str | os.PathLike[str],
    index: Index,
    *,
    on_progress: Callable[[float], None] | None = None,
    keep_partial: bool = True,
) -> Scan:
    """:func:`scan_plays` that also says how much was read; with ``keep_partial``, a
    file that breaks after some audio still gives the plays of its readable part."""
    matcher = StreamingMatcher(index)
    events: list[PlayEvent] = []
    broke: str | None = None
    try:
        for block in decode_ahead(path):  # as scan_file: decoded while the matcher works
            events.extend(matcher.feed(block))
            if on_progress is not None:
                on_progress(matcher.seconds_fed)
    except AudioError as exc:
        if not keep_partial or matcher.seconds_fed == 0:
            raise
        broke = str(exc).splitlines()[0].removeprefix(f"{os.fspath(path)}: ")
    events.extend(matcher.close())
    return Scan(plays_from_events(events), matcher.seconds_fed, broke)


async def describe_plays(db: Database, plays: list[Play]) -> list[ScanPlay]:
    """Join catalog rows; sorted by start (a track removed meanwhile keeps its id only)."""
    from airtrack.catalog.store import tracks_by_ids

    rows = await tracks_by_ids(db, (p.track_id for p in plays))
    return join_plays(plays, {i: (r.title, r.artist, r.source) for i, r in rows.items()})


def join_plays(
    plays: list[Play], tracks: Mapping[int, tuple[str | None, str | None, str | None]]
) -> list[ScanPlay]:
    """``plays`` with (title, artist, source) of each track, sorted by start."""
    out = []
    for p in sorted(plays, key=lambda p: (p.start_s, p.track_id)):
        title, artist, source = tracks.get(p.track_id, (None, None, None))
        out.append(ScanPlay(p.track_id, title, artist, source, p.start_s, p.end_s, p.confidence))
    return out


def identify_clip(path: str | os.PathLike[str], index: Index) -> Play | None:
    """The best play in a clip (``fingerprint.identify``), or None."""
    return identify(path, index)


async def describe_match(db: Database, match: Play) -> Identified:
    from airtrack.catalog.store import tracks_by_ids

    rows: dict[int, TrackRow] = await tracks_by_ids(db, [match.track_id])
    return join_match(match, {i: (r.title, r.artist, r.source) for i, r in rows.items()})


def join_match(
    match: Play, tracks: Mapping[int, tuple[str | None, str | None, str | None]]
) -> Identified:
    """``match`` with (title, artist, source) of its track."""
    title, artist, source = tracks.get(match.track_id, (None, None, None))
    return Identified(
        match.track_id,
        title,
        artist,
        source,
        match.offset_s,
        match.confidence,
        match.speed,
    )
