"""Routes for workers (worker token): membership, heartbeats, plays, the catalog index."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException
from fastapi.responses import FileResponse, JSONResponse, Response

from airtrack.orchestrator import ownership
from airtrack.protocol import (
    ALL_STALE,
    DEREGISTER_PATH,
    HEARTBEAT_PATH,
    METADATA_PATH,
    PLAYS_PATH,
    REGISTER_PATH,
    SNAPSHOT_PATH,
    UNKNOWN_WORKER,
    HeartbeatRequest,
    HeartbeatResponse,
    PlaysRequest,
    PlaysResponse,
    RegisterRequest,
    RegisterResponse,
    TitlesRequest,
    TitlesResponse,
    WorkerId,
)

from .deps import State, Worker

router = APIRouter(dependencies=[Worker], tags=["worker"])


@router.post(REGISTER_PATH, response_model=RegisterResponse)
async def register(req: RegisterRequest, st: State) -> RegisterResponse:
    reg = await ownership.register(st.db, req)
    st.hooks.success(f"worker:{req.worker_id}")
    return RegisterResponse(
        worker_id=req.worker_id,
        heartbeat_interval_s=st.settings.heartbeat_interval_s,
        lease_ttl_s=st.settings.lease_ttl_s,
        assignments=reg.assignments,
        incarnation=reg.incarnation,
    )


@router.post(
    HEARTBEAT_PATH,
    response_model=HeartbeatResponse,
    responses={UNKNOWN_WORKER: {"description": "unknown worker: register again"}},
)
async def heartbeat(worker_id: WorkerId, req: HeartbeatRequest, st: State) -> HeartbeatResponse:
    outcome = await ownership.heartbeat(st.db, worker_id, req)
    if outcome is None:
        st.hooks.failure(
            f"worker:{worker_id}", "heartbeat.unknown", "heartbeat from an unknown worker"
        )
        raise HTTPException(UNKNOWN_WORKER, "unknown worker: register again")
    st.hooks.observe_heartbeat(worker_id, req)
    return HeartbeatResponse(
        assignments=outcome.assignments,
        recovery_mode=st.hooks.recovery(),
        heartbeat_interval_s=st.settings.heartbeat_interval_s,
        catalog_version=st.catalog_version,
    )


@router.post(DEREGISTER_PATH, responses={UNKNOWN_WORKER: {"description": "unknown worker"}})
async def deregister(worker_id: WorkerId, st: State) -> dict[str, Any]:
    released = await ownership.deregister(st.db, worker_id)
    if released is None:
        raise HTTPException(UNKNOWN_WORKER, "unknown worker")
    st.hooks.left(worker_id)
    return {"worker_id": worker_id, "released": released}


@router.post(
    PLAYS_PATH,
    response_model=PlaysResponse,
    responses={ALL_STALE: {"description": "every item had a stale epoch"}},
)
async def post_plays(req: PlaysRequest, st: State) -> Response:
    results = await ownership.record_plays(st.db, st.settings, req.plays)
    st.hooks.observe_plays(req.plays, results)
    body = PlaysResponse(results=results).model_dump()
    code = ALL_STALE if results and all(r.status == "stale" for r in results) else 200
    return JSONResponse(body, code)


@router.post(
    METADATA_PATH,
    response_model=TitlesResponse,
    responses={ALL_STALE: {"description": "every item had a stale epoch"}},
)
async def post_metadata(req: TitlesRequest, st: State) -> Response:
    results = await ownership.record_titles(st.db, st.settings, req.titles)
    body = TitlesResponse(results=results).model_dump()
    code = ALL_STALE if results and all(r.status == "stale" for r in results) else 200
    return JSONResponse(body, code)


@router.get(
    SNAPSHOT_PATH,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        304: {"description": "not modified"},
        404: {"description": "empty"},
    },
)
async def snapshot(st: State, if_none_match: Annotated[str | None, Header()] = None) -> Response:
    if st.snapshot is None:
        raise HTTPException(404, "no catalog snapshot available")
    snap = await st.snapshot()
    if snap is None:
        raise HTTPException(404, "the catalog is empty")
    path, version = snap
    st.catalog_version = version
    etag = f'"{version}"'
    if if_none_match and if_none_match.strip() in (etag, version):
        return Response(status_code=304, headers={"ETag": etag})
    return FileResponse(path, media_type="application/octet-stream", headers={"ETag": etag})
