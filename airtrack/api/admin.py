"""Routes for operators (admin token): streams, workers, assignments, plays."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response

from airtrack.errors import ReportRequestError, StreamExists, UnknownName
from airtrack.orchestrator import plays, streams
from airtrack.protocol import (
    API_PREFIX,
    MAX_ID,
    NEXT_CURSOR_HEADER,
    AssignmentOut,
    PlayOut,
    StreamCreate,
    StreamOut,
    WorkerOut,
)

from .deps import Admin, State

router = APIRouter(prefix=API_PREFIX, dependencies=[Admin], tags=["admin"])


@router.get("/streams", response_model=list[StreamOut])
async def get_streams(st: State) -> list[dict[str, Any]]:
    return await streams.list_streams(st.db)


@router.post(
    "/streams",
    response_model=StreamOut,
    status_code=201,
    responses={409: {"description": "name taken"}},
)
async def post_stream(req: StreamCreate, st: State) -> dict[str, Any]:
    try:
        return await streams.add_stream(st.db, req)
    except StreamExists as exc:
        raise HTTPException(409, str(exc)) from None


@router.delete("/streams/{name}", responses={404: {"description": "no such stream"}})
async def delete_stream(name: str, st: State) -> dict[str, Any]:
    if not await streams.remove_stream(st.db, name):
        raise HTTPException(404, f"no stream named {name!r}")
    return {"removed": name}


@router.get("/workers", response_model=list[WorkerOut])
async def get_workers(st: State) -> list[dict[str, Any]]:
    return await streams.list_workers(st.db)


@router.get("/assignments", response_model=list[AssignmentOut])
async def get_assignments(st: State) -> list[dict[str, Any]]:
    return await streams.list_assignments(st.db)


@router.get(
    "/plays",
    response_model=list[PlayOut],
    responses={
        400: {"description": "bad range or cursor"},
        404: {"description": "unknown stream or track"},
    },
)
async def get_plays(
    st: State,
    response: Response,
    stream: Annotated[str | None, Query(max_length=200)] = None,
    since: datetime | None = None,
    until: Annotated[datetime | None, Query(description="Plays started before this.")] = None,
    track_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    isrc: Annotated[str | None, Query(max_length=12)] = None,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[dict[str, Any]]:
    """Plays newest first. When more remain, the ``X-Next-Cursor`` header holds the
    ``next_cursor`` to pass as ``cursor`` for the next page (the body stays a list)."""
    q = plays.PlayQuery(stream, since, until, track_id, isrc, limit, cursor)
    try:
        rows, next_cursor = await plays.page_plays(st.db, q)
    except ReportRequestError as exc:
        raise HTTPException(404 if isinstance(exc, UnknownName) else 400, str(exc)) from None
    if next_cursor:
        response.headers[NEXT_CURSOR_HEADER] = next_cursor
    return rows
