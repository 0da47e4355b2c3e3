"""What the streaming matcher reports: play events as they happen, and finished plays."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Match", "Play", "PlayEnded", "PlayEvent", "PlayStarted", "plays_from_events"]


@dataclass(frozen=True, slots=True)
class PlayStarted:
    track_id: int
    start_s: float  # airing start, seconds from the first sample fed
    confidence: float
    offset_s: float  # position in the track at start_s (>0: started mid-way)
    speed: float  # playback speed / original speed


@dataclass(frozen=True, slots=True)
class _Airing:
    """An airing with both ends: what an ended event and a finished play both say."""

    track_id: int
    start_s: float
    end_s: float
    confidence: float
    offset_s: float
    speed: float


@dataclass(frozen=True, slots=True)
class PlayEnded(_Airing):
    """The event: the airing has ended (the matcher saw its last evidence)."""


PlayEvent = PlayStarted | PlayEnded


@dataclass(frozen=True, slots=True)
class Play(_Airing):
    """One airing of one catalog track."""


Match = Play  # ``identify`` returns the best play of a clip


def plays_from_events(events: Iterable[PlayEvent]) -> list[Play]:
    """The finished plays among ``events`` (one per ``PlayEnded``), sorted by start."""
    plays = [
        Play(e.track_id, e.start_s, e.end_s, e.confidence, e.offset_s, e.speed)
        for e in events
        if isinstance(e, PlayEnded)
    ]
    return sorted(plays, key=lambda p: (p.start_s, p.track_id))
