"""Report routes (admin token): ``/api/v1/reports/{plays,summary,coverage}``.

The request is checked completely before the response starts (unknown station or zone,
reversed range: 400; unknown station: 404; the same message as the CLI); rows then stream from a
server-side cursor. CSV and JSON are sent as they are produced; XLSX is built in a
temporary file (constant memory) and sent from it. The format comes from ``format=``,
else from ``Accept``, else CSV.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import FileResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from airtrack.logging import get_logger
from airtrack.protocol import API_PREFIX
from airtrack.reports import FORMATS, parse_request
from airtrack.reports.prepared import Prepared
from airtrack.reports.request import ReportName
from airtrack.reports.service import batches, prepare
from airtrack.reports.writers import MEDIA_TYPES, encode, write_xlsx

from .deps import Admin, State
from .pages import asset, page

router = APIRouter(prefix=f"{API_PREFIX}/reports", dependencies=[Admin], tags=["admin"])
#: The dashboard's reports page (its own files; registered before /dashboard/{name}).
pages = APIRouter(include_in_schema=False)
log = get_logger("airtrack.api.reports")

_BY_ACCEPT = {MEDIA_TYPES[f].split(";")[0]: f for f in FORMATS}


def negotiate(format: str | None, accept: str | None) -> str:
    """``format=`` wins; else the first known type in ``Accept``; else CSV."""
    if format:
        return format
    for part in (accept or "").split(","):
        fmt = _BY_ACCEPT.get(part.split(";")[0].strip())
        if fmt:
            return fmt
    return "csv"


def _disposition(prep: Prepared) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{prep.filename}"'}


async def _respond(prep: Prepared, st: State) -> Response:
    report = prep.request.report
    if prep.request.format == "xlsx":
        fd, name = tempfile.mkstemp(prefix="airtrack-report-", suffix=".xlsx")
        os.close(fd)
        path = Path(name)
        try:
            await write_xlsx(path, report, prep.columns, batches(st.db, st.settings, prep))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
            raise
        return FileResponse(
            path,
            media_type=MEDIA_TYPES["xlsx"],
            headers=_disposition(prep),
            background=BackgroundTask(path.unlink, missing_ok=True),
        )

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in encode(
                prep.request.format, prep.columns, batches(st.db, st.settings, prep)
            ):
                yield chunk
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Headers are gone: the best we can do is end the body early and say why.
            log.error("report.failed", report=report, error=str(exc))
            raise

    return StreamingResponse(
        body(),
        media_type=MEDIA_TYPES[prep.request.format],
        headers=_disposition(prep),
    )


def _route(report: ReportName) -> object:
    async def get_report(
        st: State,
        start: Annotated[
            str | None, Query(alias="from", description="Date or time; station-local.")
        ] = None,
        end: Annotated[
            str | None, Query(alias="to", description="Date (included) or time.")
        ] = None,
        tz: Annotated[str | None, Query(description="IANA zone instead of the station's.")] = None,
        stream: Annotated[list[str] | None, Query(description="Station name (repeat).")] = None,
        format: Annotated[str | None, Query(description="csv, json or xlsx.")] = None,
        include_open: Annotated[
            bool,
            Query(description="plays: also airings still on air (empty end, in_progress)."),
        ] = False,
        accept: Annotated[str | None, Header()] = None,
    ) -> Response:
        req = parse_request(
            report,
            start=start,
            end=end,
            tz=tz,
            streams=stream or [],
            format=negotiate(format, accept),
            include_open=include_open,
        )
        prep = await prepare(st.db, req)
        return await _respond(prep, st)

    get_report.__name__ = f"report_{report}"
    return get_report


for _name in ("plays", "summary", "coverage", "metadata-check", "metadata-wishlist"):
    router.add_api_route(
        f"/{_name}",
        _route(_name),  # type: ignore[arg-type]
        methods=["GET"],
        summary=f"The {_name} report",
        response_class=Response,
        responses={
            400: {"description": "bad range, zone or format"},
            404: {"description": "unknown stream"},
        },
    )


@pages.get("/dashboard/reports")
async def reports_page() -> Response:
    return page("reports.html")


@pages.get("/dashboard/reports.js")
async def reports_script() -> Response:
    return asset("reports.js", "text/javascript")
