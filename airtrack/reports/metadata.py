"""The metadata cross-check as reports (docs/metadata.md).

``metadata-check``: one row per airing with its class; ``metadata-wishlist``: the
metadata-only titles ranked by airings across the stations asked for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from airtrack.db import Database
from airtrack.orchestrator.metadata_check import CheckedAiring, metadata_check, wish_list
from airtrack.settings import Settings

from .prepared import Prepared
from .shape import ReportRow


def _iso(at: datetime, zone: ZoneInfo | None) -> str:
    return at.astimezone(zone or UTC).isoformat(timespec="seconds")


def check_rows(airings: list[CheckedAiring], zone: ZoneInfo) -> list[ReportRow]:
    """Rows of ``metadata-check`` (columns as shape.METADATA_CHECK)."""
    return [
        (
            a.stream,
            a.kind,
            _iso(a.started_at, zone),
            _iso(a.ended_at, zone),
            _iso(a.started_at, None),
            _iso(a.ended_at, None),
            a.metadata_title,
            a.heard_artist,
            a.heard_title,
            a.similarity,
        )
        for a in airings
    ]


async def metadata_batches(
    db: Database, settings: Settings, prep: Prepared
) -> AsyncIterator[list[ReportRow]]:
    """One batch per station (``metadata-check``), or the one wish-list batch."""
    everything: list[CheckedAiring] = []
    for s in prep.stations:
        airings = await metadata_check(db, settings, start=s.t0, end=s.t1, stream=s.name)
        if prep.request.report == "metadata-check":
            if airings:
                yield check_rows(airings, s.zone)
        else:
            everything += airings
    if prep.request.report == "metadata-wishlist":
        zone = prep.request.tz
        rows: list[ReportRow] = [
            (w.metadata_title, w.airings, w.stations, _iso(w.first_aired, zone),
             _iso(w.last_aired, zone))
            for w in wish_list(everything)
        ]  # fmt: skip
        if rows:
            yield rows
