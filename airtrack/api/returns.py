"""``GET /api/v1/reports/soundexchange``: SoundExchange's Report of Use (admin token).

The body is the file itself (``text/plain``, ASCII) under its conventional name
(Content-Disposition). Recordings SoundExchange cannot identify (no ISRC, no album and
label) are counted in ``X-Airtrack-Unidentified-Count`` and listed, as a JSON array of
"station: artist - title (N plays)", in ``X-Airtrack-Unidentified`` (as many as 4 KiB
holds).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from airtrack.protocol import API_PREFIX
from airtrack.reports import parse_request
from airtrack.reports.soundexchange import (
    UNIDENTIFIED_COUNT_HEADER,
    UNIDENTIFIED_HEADER,
    soundexchange,
)

from .deps import Admin, State

router = APIRouter(prefix=f"{API_PREFIX}/reports", dependencies=[Admin], tags=["admin"])


@router.get(
    "/soundexchange",
    summary="SoundExchange Report of Use",
    response_class=Response,
    responses={
        400: {"description": "bad range, zone, category or service name"},
        404: {"description": "unknown stream"},
    },
)
async def report_soundexchange(
    st: State,
    start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
    tz: Annotated[str | None, Query(max_length=64)] = None,
    stream: Annotated[list[str] | None, Query(max_length=1000)] = None,
    service_name: Annotated[str | None, Query(max_length=200)] = None,
    category: Annotated[str | None, Query(max_length=8)] = None,
    play_frequency: bool = False,
) -> Response:
    req = parse_request("plays", start=start, end=end, tz=tz, streams=stream or [])
    done = await soundexchange(
        st.db,
        st.settings,
        req,
        service_name=service_name,
        category=category,
        play_frequency=play_frequency,
    )
    return Response(
        done.body,
        media_type="text/plain; charset=us-ascii",
        headers={
            "Content-Disposition": f'attachment; filename="{done.name}"',
            UNIDENTIFIED_COUNT_HEADER: str(len(done.unidentified)),
            UNIDENTIFIED_HEADER: done.header_list(),
            "Access-Control-Expose-Headers": f"Content-Disposition, {UNIDENTIFIED_HEADER}",
        },
    )
