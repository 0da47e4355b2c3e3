"""``airtrack report plays|summary|coverage``: from the database, or through the API.

The request is checked before anything is written; with ``--output`` the report goes
to a temporary file beside it that is renamed into place only when complete, so a
failed run leaves no half-written file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

from airtrack.db import Database
from airtrack.reports import parse_request
from airtrack.reports.request import ReportRequest
from airtrack.reports.service import batches, prepare
from airtrack.reports.writers import encode, write_xlsx
from airtrack.settings import Settings

from ._common import run_async, with_db
from .remote import AdminClient, is_remote


class Sink:
    """Where a report goes: ``output`` (atomically, on :meth:`commit`) or stdout."""

    def __init__(self, output: Path | None) -> None:
        self.output = output
        folder = output.parent if output else None
        fd, name = tempfile.mkstemp(
            prefix=f".{output.name}." if output else "airtrack-report-", dir=folder
        )
        os.close(fd)
        self.part = Path(name)
        self._fh: IO[bytes] | None = None

    def write(self, chunk: bytes) -> None:
        if self.output is None:
            sys.stdout.buffer.write(chunk)
            return
        if self._fh is None:
            self._fh = self.part.open("wb")
        self._fh.write(chunk)

    def commit(self) -> None:
        if self._fh is not None:
            self._fh.close()
        if self.output is not None:
            os.replace(self.part, self.output)
            return
        if self.part.stat().st_size:  # an XLSX built in the part file
            with self.part.open("rb") as fh:
                shutil.copyfileobj(fh, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        self.part.unlink(missing_ok=True)

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
        with contextlib.suppress(FileNotFoundError):
            self.part.unlink()


def api_params(req: ReportRequest) -> dict[str, Any]:
    return {
        "from": req.start.text,
        "to": req.end.text,
        "tz": req.tz.key if req.tz else None,
        "stream": list(req.streams),
        "format": req.format,
        "include_open": "true" if req.include_open else None,
    }


async def _local(db: Database, settings: Settings, req: ReportRequest, sink: Sink) -> None:
    prep = await prepare(db, req)
    rows = batches(db, settings, prep)
    if req.format == "xlsx":
        await write_xlsx(sink.part, req.report, prep.columns, rows)
        return
    async for chunk in encode(req.format, prep.columns, rows):
        sink.write(chunk)


def run_report(
    settings: Settings,
    report: str,
    *,
    start: str | None,
    end: str | None,
    tz: str | None,
    streams: list[str],
    fmt: str,
    output: Path | None,
    include_open: bool = False,
) -> None:
    """Write one report to ``output`` or stdout; any problem raises before it is in place."""
    req = parse_request(
        report,
        start=start,
        end=end,
        tz=tz,
        streams=streams,
        format=fmt,
        include_open=include_open,
    )
    sink = Sink(output)
    try:
        if is_remote():
            with (
                AdminClient.from_settings(settings) as client,
                client.stream(f"/reports/{report}", api_params(req)) as chunks,
            ):
                for chunk in chunks:
                    sink.write(chunk)
        else:

            async def go(db: Database) -> None:
                await _local(db, settings, req, sink)

            run_async(with_db(settings, go, create=False))
        sink.commit()
    except BaseException:
        sink.abort()
        raise
