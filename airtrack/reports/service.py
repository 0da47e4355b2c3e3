"""Run a report against the database: check the request, then stream its rows in batches.

:func:`prepare` does every check that can fail on the request (unknown stations, bad
zones, reversed ranges) before the first byte is sent, so the API can still answer 400;
:func:`batches` then reads through a server-side cursor (``Database.stream``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from airtrack.db import Database
from airtrack.settings import Settings

from .coverage import coverage
from .metadata import metadata_batches
from .request import ReportRequest, Station
from .shape import COLUMNS, Column, ReportRow, coverage_rows


@dataclass(frozen=True)
class Prepared:
    request: ReportRequest
    stations: list[Station]

    @property
    def columns(self) -> tuple[Column, ...]:
        return COLUMNS[self.request.report]

    @property
    def filename(self) -> str:
        r = self.request
        return f"airtrack-{r.report}-{r.start.text}-{r.end.text}.{r.format}".replace(":", "")

    def params(self, settings: Settings, *, until: datetime | None = None) -> dict[str, Any]:
        st = self.stations
        return {
            "ids": [s.id for s in st],
            "names": [s.name for s in st],
            "tzs": [s.zone.key for s in st],
            "t0s": [s.t0 for s in st],
            "t1s": [min(s.t1, until) if until else s.t1 for s in st],
            "max_play_s": settings.report_play_max_s,
            "across_tz": self.request.tz.key if self.request.tz else "UTC",
            "include_open": self.request.include_open,
        }


async def prepare(db: Database, request: ReportRequest) -> Prepared:
    """Resolve the request's stations and ranges; raises ReportRequestError."""
    known = await db.fetch("report_streams")
    return Prepared(request, request.stations([(r["id"], r["name"], r["timezone"]) for r in known]))


async def batches(
    db: Database, settings: Settings, prep: Prepared
) -> AsyncIterator[list[ReportRow]]:
    """The report's rows, a batch at a time."""
    report = prep.request.report
    if not prep.stations:
        return
    if report == "coverage":
        async for rows in _coverage(db, settings, prep):
            yield rows
        return
    if report in ("metadata-check", "metadata-wishlist"):
        async for rows in metadata_batches(db, settings, prep):
            yield rows
        return
    query = "report_plays" if report == "plays" else "report_summary"
    stream = db.stream(
        query,
        prep.params(settings),
        batch=settings.report_batch_rows,
        tx_max_s=settings.report_tx_max_s,
    )
    async for found in stream:
        yield found


async def _coverage(
    db: Database, settings: Settings, prep: Prepared
) -> AsyncIterator[list[ReportRow]]:
    # The future is neither monitored nor a gap: coverage stops at now.
    now = datetime.now(UTC)
    params = prep.params(settings, until=now)
    owners: dict[int, list[tuple[datetime, str | None]]] = defaultdict(list)
    statuses: dict[int, list[tuple[datetime, str | None, str | None]]] = defaultdict(list)
    for r in await db.fetch("report_owner_history", params):
        owners[r["stream_id"]].append((r["at"], r["worker_id"]))
    for r in await db.fetch("report_status_history", params):
        statuses[r["stream_id"]].append((r["at"], r["status"], r["error"]))
    # Before a stream was added nobody was meant to watch it: not a gap, not reported.
    created = {r["id"]: r["created_at"] for r in await db.fetch("report_streams")}
    for s in prep.stations:
        start = max(s.t0, created.get(s.id, s.t0))
        days = coverage(start, min(s.t1, now), s.zone, owners[s.id], statuses[s.id])
        rows = list(coverage_rows(s.name, days, s.zone))
        if rows:
            yield rows
