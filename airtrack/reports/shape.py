"""The columns of each report, and its rows built from query rows (pure).

A row is a tuple in column order. ``time`` columns hold ISO-8601 text with the offset
(``2026-03-01T10:00:00+01:00``: station-local or UTC as the column says), ``date``
columns ``YYYY-MM-DD``, numbers numbers, ``bool`` booleans. The plays and summary rows
come formatted from SQL (airtrack/db/queries_reports.sql) in exactly this order, so a
million-row export does no per-row work in Python for CSV; the XLSX writer turns
times and days into typed cells.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

from .coverage import Day

Kind = Literal["int", "float", "text", "time", "date", "bool"]
ReportRow = tuple[Any, ...]
ALL_STATIONS = "(all stations)"


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind


def _cols(spec: str) -> tuple[Column, ...]:
    return tuple(Column(*c.split(":")) for c in spec.split())  # type: ignore[arg-type]


PLAYS = _cols(
    "play_id:int station:text start_local:time end_local:time utc_offset:text "
    "start_utc:time end_utc:time duration_s:float title:text artist:text album:text "
    "label:text isrc:text iswc:text composer:text confidence:float track_id:int clipped:bool "
    "in_progress:bool backfilled:bool"
)
SUMMARY = _cols(
    "station:text track_id:int title:text artist:text isrc:text plays:int airtime_s:float "
    "first_airing:time last_airing:time performances:int tuning_hours:float"
)
COVERAGE = _cols(
    "station:text day:date monitored_s:float unmonitored_s:float gap_start:time "
    "gap_end:time gap_s:float cause:text"
)
#: docs/metadata.md: each airing's class (confirmed, mismatch, fingerprint_only, metadata_only)
METADATA_CHECK = _cols(
    "station:text class:text start_local:time end_local:time start_utc:time end_utc:time "
    "metadata_title:text heard_artist:text heard_title:text similarity:float"
)
#: the metadata-only titles ranked by airings: songs to add to the catalog
METADATA_WISHLIST = _cols(
    "metadata_title:text airings:int stations:int first_airing:time last_airing:time"
)
COLUMNS: dict[str, tuple[Column, ...]] = {
    "plays": PLAYS,
    "summary": SUMMARY,
    "coverage": COVERAGE,
    "metadata-check": METADATA_CHECK,
    "metadata-wishlist": METADATA_WISHLIST,
}


def coverage_rows(station: str, days: Iterable[Day], zone: ZoneInfo) -> Iterator[ReportRow]:
    """One row per gap of each day (its monitored totals repeated); one row for a full day."""
    for d in days:
        total = (d.end - d.start).total_seconds()
        head = (
            station,
            d.day.isoformat(),
            round(d.monitored_s, 3),
            round(total - d.monitored_s, 3),
        )
        if not d.gaps:
            yield (*head, None, None, None, None)
        for g in d.gaps:
            yield (
                *head,
                g.start.astimezone(zone).isoformat(timespec="seconds"),
                g.end.astimezone(zone).isoformat(timespec="seconds"),
                round(g.seconds, 3),
                g.cause,
            )
