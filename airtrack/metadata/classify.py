"""Pair a stream's metadata title spans with its fingerprint plays: four kinds of airing.

- ``confirmed``: the station named the song airtrack heard (fuzzy, see :mod:`.match`);
- ``mismatch``: the station named a song ("Artist - Title"), airtrack heard another;
- ``fingerprint_only``: heard, while the metadata said nothing or no song (station
  name, slogan, an ad);
- ``metadata_only``: the station named a song that airtrack did not hear at all
  (most often: not in the catalog — the ranked list is the catalog's wish-list).

Plain data in, plain data out; times are any comparable floats (epoch seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from airtrack.metadata.match import looks_like_song, similarity

AiringKind = Literal["confirmed", "mismatch", "fingerprint_only", "metadata_only"]
KINDS: tuple[AiringKind, ...] = ("confirmed", "mismatch", "fingerprint_only", "metadata_only")


@dataclass(frozen=True)
class TitleSpan:
    """From ``start`` to ``end`` the station's title was ``title`` (None/"" = nothing)."""

    start: float
    end: float
    title: str | None


@dataclass(frozen=True)
class HeardPlay:
    """A fingerprint play: airtrack heard ``artist - title`` from ``start`` to ``end``."""

    start: float
    end: float
    artist: str | None
    title: str | None
    play_id: int | None = None


@dataclass(frozen=True)
class Airing:
    kind: AiringKind
    start: float
    end: float
    said: str | None  # what the metadata named
    heard: HeardPlay | None  # what airtrack heard
    score: float  # the fuzzy similarity of said and heard (0 when either is missing)


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def classify(
    spans: list[TitleSpan],
    plays: list[HeardPlay],
    *,
    threshold: float,
    min_metadata_s: float,
) -> list[Airing]:
    """Every airing of one stream, in time order.

    A play is confirmed by any span that names it (titles change a few seconds off
    the audio); otherwise the span it overlaps most decides between mismatch (a song
    named) and fingerprint-only. A song-naming span that no play used and that lasted
    ``min_metadata_s`` or more is a ``metadata_only`` airing; shorter ones are title
    flicker.
    """
    used: set[int] = set()
    out: list[Airing] = []
    for play in plays:
        touching = [
            (i, _overlap(s.start, s.end, play.start, play.end))
            for i, s in enumerate(spans)
            if _overlap(s.start, s.end, play.start, play.end) > 0
        ]
        scored = [
            (i, ov, similarity(spans[i].title or "", play.artist, play.title)) for i, ov in touching
        ]
        naming = [t for t in scored if t[2] >= threshold]
        if naming:
            i, _, score = max(naming, key=lambda t: t[1])
            used.add(i)
            out.append(Airing("confirmed", play.start, play.end, spans[i].title, play, score))
            continue
        # otherwise the title in force for most of the play decides: the previous
        # song's title lingering over its first seconds is not what the station said
        if scored:
            i, _, score = max(scored, key=lambda t: t[1])
            if looks_like_song(spans[i].title):
                used.add(i)
                out.append(Airing("mismatch", play.start, play.end, spans[i].title, play, score))
                continue
        said = spans[max(touching, key=lambda t: t[1])[0]].title if touching else None
        out.append(Airing("fingerprint_only", play.start, play.end, said or None, play, 0.0))
    for i, span in enumerate(spans):
        if i in used or not looks_like_song(span.title) or span.end - span.start < min_metadata_s:
            continue
        heard = [p for p in plays if _overlap(span.start, span.end, p.start, p.end) > 0]
        # a song-naming span mostly covered by plays it did not name is their
        # mismatch's neighbour, not an unheard song
        covered = sum(_overlap(span.start, span.end, p.start, p.end) for p in heard)
        if covered > (span.end - span.start) / 2:
            continue
        out.append(Airing("metadata_only", span.start, span.end, span.title, None, 0.0))
    out.sort(key=lambda a: (a.start, a.end))
    return out


def wish_list(airings: list[Airing]) -> list[tuple[str, int]]:
    """Metadata-only titles ranked by airings (most first): songs to add to the catalog."""
    counts: dict[str, int] = {}
    for a in airings:
        if a.kind == "metadata_only" and a.said:
            counts[a.said] = counts.get(a.said, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
