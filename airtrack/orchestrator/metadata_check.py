"""The metadata cross-check: what each station's titles said against what airtrack heard.

Reads a range's stream titles and fingerprint plays, and classifies every airing with
the pure :func:`airtrack.metadata.classify.classify` (confirmed, mismatch,
fingerprint-only, metadata-only). A title holds until the stream's next title, but
never longer than ``metadata_max_span_s`` (a stream that went quiet).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from airtrack.db import Database
from airtrack.errors import UnknownStream
from airtrack.metadata.classify import AiringKind, HeardPlay, TitleSpan, classify
from airtrack.metadata.match import normalise
from airtrack.settings import Settings

#: Column order of the report (CSV/JSON/XLSX).
COLUMNS = (
    "stream",
    "kind",
    "started_at",
    "ended_at",
    "metadata_title",
    "heard_artist",
    "heard_title",
    "similarity",
)


@dataclass(frozen=True)
class CheckedAiring:
    stream: str
    kind: AiringKind
    started_at: datetime
    ended_at: datetime
    metadata_title: str | None
    heard_artist: str | None
    heard_title: str | None
    similarity: float


def _ts(dt: datetime) -> float:
    return dt.timestamp()


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


async def metadata_check(
    db: Database,
    settings: Settings,
    *,
    start: datetime,
    end: datetime,
    stream: str | None = None,
    now: datetime | None = None,
) -> list[CheckedAiring]:
    """Every airing that started in [start, end), by stream then time."""
    if stream is not None and not await db.fetchval("plays_stream_exists", {"name": stream}):
        raise UnknownStream(f"no stream named {stream!r}")
    max_s = settings.metadata_max_span_s
    params = {"stream": stream, "t0": start, "t1": end, "max_s": max_s}
    # the last title holds until now at the latest: the future is not known
    limit = _ts(min(end, now or datetime.now(UTC)))
    spans: dict[str, list[TitleSpan]] = defaultdict(list)
    for r in await db.fetch("metadata_titles", params):
        at = _ts(r["at"])
        stop = min(at + max_s, _ts(r["next_at"]) if r["next_at"] else max(limit, at))
        spans[r["stream"]].append(TitleSpan(at, max(at, stop), r["title"]))
    plays: dict[str, list[HeardPlay]] = defaultdict(list)
    for r in await db.fetch("metadata_heard_plays", params):
        plays[r["stream"]].append(
            HeardPlay(_ts(r["started_at"]), _ts(r["ended_at"]), r["artist"], r["title"], r["id"])
        )
    out: list[CheckedAiring] = []
    t0, t1 = _ts(start), _ts(end)
    for name in sorted(set(spans) | set(plays)):
        airings = classify(
            spans[name],
            plays[name],
            threshold=settings.metadata_match_threshold,
            min_metadata_s=settings.metadata_min_span_s,
        )
        for a in airings:
            if not t0 <= a.start < t1:
                continue
            out.append(
                CheckedAiring(
                    stream=name,
                    kind=a.kind,
                    started_at=_dt(a.start),
                    ended_at=_dt(a.end),
                    metadata_title=a.said,
                    heard_artist=a.heard.artist if a.heard else None,
                    heard_title=a.heard.title if a.heard else None,
                    similarity=round(a.score, 3),
                )
            )
    return out


@dataclass(frozen=True)
class WishedSong:
    """A song the stations named that airtrack never heard: a candidate for the catalog."""

    metadata_title: str
    airings: int
    stations: int
    first_aired: datetime
    last_aired: datetime


def wish_list(airings: list[CheckedAiring]) -> list[WishedSong]:
    """Metadata-only titles ranked by airings (most first): the same song on any station,
    however spelled (case, accents, spacing), counted together under its commonest spelling."""
    by_title: dict[str, list[CheckedAiring]] = defaultdict(list)
    for a in airings:
        if a.kind == "metadata_only" and a.metadata_title:
            by_title[normalise(a.metadata_title) or a.metadata_title].append(a)
    out = [
        WishedSong(
            Counter(a.metadata_title for a in group).most_common(1)[0][0] or "",
            len(group),
            len({a.stream for a in group}),
            min(a.started_at for a in group),
            max(a.started_at for a in group),
        )
        for group in by_title.values()
    ]
    return sorted(out, key=lambda w: (-w.airings, w.metadata_title))
