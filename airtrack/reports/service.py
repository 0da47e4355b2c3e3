"""Run a report against the database: check the request, then stream its rows in batches.

:func:`prepare` does every check that can fail on the request (unknown stations, bad
zones, reversed ranges) before the first byte is sent, so the API can still answer 400;
:func:`batches` then reads through a server-side cursor (``Database.stream``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from airtrack.db import Database
from airtrack.db.zones import zone_names
from airtrack.errors import ReportRequestError
from airtrack.settings import Settings

from .coverage import coverage
from .metadata import metadata_batches
from .prepared import Prepared
from .request import ReportRequest
from .shape import ReportRow, coverage_rows


async def prepare(db: Database, request: ReportRequest) -> Prepared:
    """Resolve the request's stations and ranges; raises ReportRequestError."""
    known = await db.fetch("report_streams")
    stations = request.stations([(r["id"], r["name"], r["timezone"]) for r in known])
    # Python knows zones PostgreSQL does not (localtime, posix/…): refuse them here, before
    # the response starts, not in the middle of the rows.
    zones = await zone_names(db)
    if request.tz is not None and request.tz.key not in zones:
        raise ReportRequestError(
            f"--tz {request.tz.key!r}: unknown time zone (the database does not know it; "
            "use an IANA name such as Europe/Paris)"
        )
    for s in stations:
        if s.zone.key not in zones:
            raise ReportRequestError(
                f"stream {s.name!r} has time zone {s.zone.key!r}, which the database does not "
                "know: set an IANA name such as Europe/Paris (`airtrack streams edit`)"
            )
    return Prepared(request, stations)


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
