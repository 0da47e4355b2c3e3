"""The columns of each report, and its rows built from query rows (pure).

A row is a tuple of typed values: ``time`` columns hold aware datetimes (station-local
or UTC as the column says), ``date`` columns dates, numbers numbers; each writer turns
them into its own form (text for CSV/JSON, typed cells for XLSX).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
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
    "label:text isrc:text iswc:text composer:text confidence:float track_id:int clipped:bool"
)
SUMMARY = _cols(
    "station:text track_id:int title:text artist:text isrc:text plays:int airtime_s:float "
    "first_airing:time last_airing:time"
)
COVERAGE = _cols(
    "station:text day:date monitored_s:float unmonitored_s:float gap_start:time "
    "gap_end:time gap_s:float cause:text"
)
COLUMNS: dict[str, tuple[Column, ...]] = {
    "plays": PLAYS,
    "summary": SUMMARY,
    "coverage": COVERAGE,
}


def _offset(at: datetime) -> str:
    off = at.utcoffset()
    assert off is not None
    minutes = int(off.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def plays_rows(
    rows: Iterable[Mapping[str, Any]], zones: Mapping[str, ZoneInfo]
) -> Iterator[ReportRow]:
    """One report row per play row of ``report_plays``; ``zones`` by station name."""
    for r in rows:
        zone = zones[r["station"]]
        s, e = r["start_utc"], r["end_utc"]
        ls = s.astimezone(zone)
        yield (
            r["play_id"],
            r["station"],
            ls,
            e.astimezone(zone),
            _offset(ls),
            s,
            e,
            round((e - s).total_seconds(), 3),
            r["title"],
            r["artist"],
            r["album"],
            r["label"],
            r["isrc"],
            r["iswc"],
            "; ".join(r["composers"] or ()),
            r["confidence"],
            r["track_id"],
            r["clipped"],
        )


def summary_rows(
    rows: Iterable[Mapping[str, Any]], zones: Mapping[str, ZoneInfo], across: ZoneInfo
) -> Iterator[ReportRow]:
    """Rows of ``report_summary``; across-station rows use ``across`` (``--tz`` or UTC)."""
    for r in rows:
        station = r["station"]
        zone = zones[station] if station is not None else across
        yield (
            station if station is not None else ALL_STATIONS,
            r["track_id"],
            r["title"],
            r["artist"],
            r["isrc"],
            r["plays"],
            round(r["airtime_s"] or 0.0, 3),
            r["first_at"].astimezone(zone),
            r["last_at"].astimezone(zone),
        )


def coverage_rows(station: str, days: Iterable[Day], zone: ZoneInfo) -> Iterator[ReportRow]:
    """One row per gap of each day (its monitored totals repeated); one row for a full day."""
    for d in days:
        total = (d.end - d.start).total_seconds()
        head = (station, d.day, round(d.monitored_s, 3), round(total - d.monitored_s, 3))
        if not d.gaps:
            yield (*head, None, None, None, None)
        for g in d.gaps:
            yield (
                *head,
                g.start.astimezone(zone),
                g.end.astimezone(zone),
                round(g.seconds, 3),
                g.cause,
            )
