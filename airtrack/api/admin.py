"""Routes for operators (admin token): streams, workers, assignments, plays."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from airtrack.errors import StreamExists, UnknownStream
from airtrack.orchestrator import plays, streams
from airtrack.protocol import (
    API_PREFIX,
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
    "/plays", response_model=list[PlayOut], responses={404: {"description": "no such stream"}}
)
async def get_plays(
    st: State,
    stream: Annotated[str | None, Query(max_length=200)] = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[dict[str, Any]]:
    if since is not None and since.tzinfo is None:
        raise HTTPException(422, "since must carry a time zone (e.g. 2026-01-01T00:00:00Z)")
    try:
        return await plays.list_plays(st.db, stream=stream, since=since, limit=limit)
    except UnknownStream as exc:
        raise HTTPException(404, str(exc)) from None
