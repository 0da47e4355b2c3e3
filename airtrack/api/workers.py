"""Routes for workers (worker token): membership, heartbeats, fenced batches (plays,
stream titles, fingerprint-archive segments), the catalog index."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException
from fastapi.responses import FileResponse, JSONResponse, Response

from airtrack.errors import ClipTooLarge, InputRefused
from airtrack.orchestrator import archive, clips, credentials, ownership, play_log, plays
from airtrack.protocol import (
    ALL_STALE,
    ARCHIVE_PATH,
    CLIPS_PATH,
    DEREGISTER_PATH,
    HEARTBEAT_PATH,
    MANIFEST_PATH,
    METADATA_PATH,
    PLAYS_PATH,
    REGISTER_PATH,
    SEGMENT_PATH,
    SEGMENTS_HEADER,
    SNAPSHOT_PATH,
    SNAPSHOT_SHA256_HEADER,
    UNKNOWN_WORKER,
    WRONG_CREDENTIAL,
    ArchiveRequest,
    ClipsRequest,
    FencedItem,
    FencedKind,
    HeartbeatRequest,
    HeartbeatResponse,
    PlayResult,
    PlaysRequest,
    PlaysResponse,
    RegisterRequest,
    RegisterResponse,
    TitlesRequest,
    TitlesResponse,
    WorkerId,
)

from .deps import Credential, State, Worker

router = APIRouter(dependencies=[Worker], tags=["worker"])

_WRONG: dict[int | str, dict[str, Any]] = {
    WRONG_CREDENTIAL: {"description": "the credential does not speak for this worker"}
}


async def _speaks_for(st: State, worker_id: str, credential: str | None) -> None:
    if not await credentials.verify(st.db, worker_id, credential):
        raise HTTPException(WRONG_CREDENTIAL, f"the credential does not speak for {worker_id!r}")


@router.post(
    REGISTER_PATH,
    response_model=RegisterResponse,
    responses={
        422: {"description": "capacity above worker_capacity_max"},
        429: {"description": "too many new worker ids: retry later"},
        **_WRONG,
    },
)
async def register(
    req: RegisterRequest, st: State, credential: Credential = None
) -> RegisterResponse:
    if req.capacity > st.settings.worker_capacity_max:
        raise HTTPException(
            422, f"capacity {req.capacity} above the limit {st.settings.worker_capacity_max}"
        )
    bucket = st.new_worker_ids
    # A new id costs a row, events and metric series: admitted at a bounded rate.
    if (
        bucket is not None
        and not await ownership.worker_known(st.db, req.worker_id)
        and not bucket.take()
    ):
        raise HTTPException(
            429,
            "too many new worker ids: retry later",
            headers={"Retry-After": str(max(1, round(bucket.retry_after_s())))},
        )
    if not await credentials.claim(st.db, req.worker_id, credential):
        raise HTTPException(
            WRONG_CREDENTIAL,
            f"worker id {req.worker_id!r} is held by another credential "
            "(an admin can reset it: DELETE /api/v1/workers/{id}/credential)",
        )
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
    response_model_exclude_none=True,
    responses={
        UNKNOWN_WORKER: {"description": "unknown worker: register again"},
        422: {"description": "more streams than worker_capacity_max"},
        **_WRONG,
    },
)
async def heartbeat(
    worker_id: WorkerId, req: HeartbeatRequest, st: State, credential: Credential = None
) -> HeartbeatResponse:
    if len(req.streams) > st.settings.worker_capacity_max:
        # A wrong credential is refused first, as on every route (one more query, but
        # only on this rare path).
        await _speaks_for(st, worker_id, credential)
        # Each reported stream costs a row lock and, when refused, an event.
        raise HTTPException(
            422, f"{len(req.streams)} streams above the limit {st.settings.worker_capacity_max}"
        )
    # The credential is checked by the heartbeat function itself: one round trip.
    outcome = await ownership.heartbeat(st.db, worker_id, req, credentials.presented(credential))
    if outcome is not None and outcome.credential_refused:
        credentials.refused(worker_id)
        raise HTTPException(WRONG_CREDENTIAL, f"the credential does not speak for {worker_id!r}")
    if outcome is None:
        st.hooks.failure(
            f"worker:{worker_id}", "heartbeat.unknown", "heartbeat from an unknown worker"
        )
        raise HTTPException(UNKNOWN_WORKER, "unknown worker: register again")
    ownership.REPORTED.prune(st.settings.inactive_after_s, every_s=1.0)
    if outcome.refused:
        # Errors about streams this worker does not run are not its to report.
        refused = set(outcome.refused)
        req = req.model_copy(
            update={"streams": [s for s in req.streams if s.stream_id not in refused]}
        )
    st.hooks.observe_heartbeat(worker_id, req)
    wanted = st.clip_requests.for_streams(a.stream_id for a in outcome.assignments)
    return HeartbeatResponse(
        assignments=outcome.assignments,
        recovery_mode=st.hooks.recovery(),
        heartbeat_interval_s=st.settings.heartbeat_interval_s,
        catalog_version=st.catalog_version,
        clip_requests=wanted or None,
    )


@router.post(
    DEREGISTER_PATH, responses={UNKNOWN_WORKER: {"description": "unknown worker"}, **_WRONG}
)
async def deregister(
    worker_id: WorkerId, st: State, credential: Credential = None
) -> dict[str, Any]:
    await _speaks_for(st, worker_id, credential)
    released = await ownership.deregister(st.db, worker_id)
    if released is None:
        raise HTTPException(UNKNOWN_WORKER, "unknown worker")
    st.hooks.left(worker_id)
    return {"worker_id": worker_id, "released": released}


_FENCED: dict[int | str, dict[str, Any]] = {
    ALL_STALE: {"description": "every item had a stale epoch (each is kept for review)"},
    **_WRONG,
}


def _fenced_route(
    path: str,
    response_model: type[Any],
    refused: str,
    more: dict[int | str, dict[str, Any]] | None = None,
) -> Callable[[Any], Any]:
    """The route of one kind of fenced batch: its statuses are the fence's, 422 says
    which item was ``refused`` before the fence, ``more`` adds the kind's own."""
    responses = {422: {"description": refused}, **(more or {}), **_FENCED}
    return router.post(path, response_model=response_model, responses=responses)


async def _fenced_batch(
    st: State,
    kind: FencedKind,
    worker_id: str,
    credential: str | None,
    items: Sequence[FencedItem],
    check: Callable[[], Awaitable[None]],
    record: Callable[[], Awaitable[list[PlayResult]]],
) -> tuple[list[PlayResult], Response]:
    """The one path of a fenced batch (plays, titles): the sender's credential, the
    bounds, then the play log (fence, log, keep what is refused). 409 when every item
    was stale (one failure of the sender): the worker stops the streams concerned."""
    await _speaks_for(st, worker_id, credential)
    try:
        await check()
    except ClipTooLarge:
        raise  # 413 (ERROR_STATUS): the size, not the content, is refused
    except InputRefused as exc:
        raise HTTPException(422, str(exc)) from None
    results = await record()
    body = {"results": [r.model_dump() for r in results]}
    if results and all(r.status == "stale" for r in results):
        st.hooks.observe_stale(kind, worker_id, items[0].stream_id, items[0].epoch)
        return results, JSONResponse(body, ALL_STALE)
    return results, JSONResponse(body, 200)


@_fenced_route(PLAYS_PATH, PlaysResponse, "a play out of the time bounds or of an unknown track")
async def post_plays(req: PlaysRequest, st: State, credential: Credential = None) -> Response:
    async def check() -> None:
        await plays.check_plays(st.db, st.settings, req.plays, datetime.now(UTC))

    async def record() -> list[PlayResult]:
        # Each play must be the sender's: written by it as the owner at the play's epoch.
        return await play_log.record_plays(st.db, st.settings, req.plays, worker=req.worker_id)

    results, resp = await _fenced_batch(
        st, "play", req.worker_id, credential, req.plays, check, record
    )
    st.hooks.observe_plays(req.plays, results, req.worker_id)
    return resp


@_fenced_route(METADATA_PATH, TitlesResponse, "a title out of the time bounds of plays")
async def post_metadata(req: TitlesRequest, st: State, credential: Credential = None) -> Response:
    async def check() -> None:
        plays.check_title_times(st.settings, req.titles, datetime.now(UTC))

    async def record() -> list[PlayResult]:
        return await play_log.record_titles(st.db, st.settings, req.titles, worker=req.worker_id)

    _, resp = await _fenced_batch(st, "title", req.worker_id, credential, req.titles, check, record)
    return resp


@_fenced_route(
    ARCHIVE_PATH, PlaysResponse, "a segment too large, not base64 or outside the kept days"
)
async def post_archive(req: ArchiveRequest, st: State, credential: Credential = None) -> Response:
    """Fingerprint-archive segments: fenced like plays (a worker archives only the streams
    it owns, at its epochs); a store that cannot take them answers ``unarchived``."""

    async def check() -> None:
        archive.check_segments(st.settings, req.segments, datetime.now(UTC))
        for seg in req.segments:
            archive.decode_data(seg)

    async def record() -> list[PlayResult]:
        return await archive.record_archive(st.db, st.settings, req.segments, worker=req.worker_id)

    _, resp = await _fenced_batch(
        st, "archive", req.worker_id, credential, req.segments, check, record
    )
    return resp


@_fenced_route(
    CLIPS_PATH,
    PlaysResponse,
    "a clip not base64 or outside the kept days",
    {413: {"description": "a clip larger than clip_max_bytes"}},
)
async def post_clips(req: ClipsRequest, st: State, credential: Credential = None) -> Response:
    """Proof clips: fenced like plays (a worker uploads clips only of the streams it owns,
    at its epochs), each at most ``clip_max_bytes`` (413), at most
    ``clips_per_stream_hour`` per stream (the rest ``limited``)."""

    async def check() -> None:
        clips.check_sizes(st.settings, req.clips)
        clips.check_clips(st.settings, req.clips, datetime.now(UTC))

    async def record() -> list[PlayResult]:
        return await clips.record_clips(st.db, st.settings, req.clips, worker=req.worker_id)

    _, resp = await _fenced_batch(st, "clip", req.worker_id, credential, req.clips, check, record)
    return resp


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
    if st.segments is None:  # else heartbeats carry the manifest's version
        st.catalog_version = version
    etag = f'"{version}"'
    if if_none_match and if_none_match.strip() in (etag, version):
        return Response(status_code=304, headers={"ETag": etag})
    headers = {"ETag": etag, SNAPSHOT_SHA256_HEADER: await _sha256_of(path)}
    return FileResponse(path, media_type="application/octet-stream", headers=headers)


@router.get(
    MANIFEST_PATH,
    responses={304: {"description": "not modified"}, 404: {"description": "empty"}},
)
async def manifest(st: State, if_none_match: Annotated[str | None, Header()] = None) -> Response:
    if st.segments is None:
        raise HTTPException(404, "no catalog segments on this orchestrator")
    body = st.segments.served()  # the catalog watch keeps it current: no waiting here
    if body is None:
        raise HTTPException(
            404, "no catalog yet (empty, or its first base is building)", {SEGMENTS_HEADER: "1"}
        )
    version = str(body["version"])
    etag = f'"{version}"'
    if if_none_match and if_none_match.strip() in (etag, version):
        return Response(status_code=304, headers={"ETag": etag})
    return JSONResponse(body, headers={"ETag": etag})


@router.get(
    SEGMENT_PATH,
    responses={200: {"content": {"application/octet-stream": {}}}, 404: {"description": "gone"}},
)
async def segment(name: str, st: State) -> Response:
    found = st.segments.segment_path(name) if st.segments is not None else None
    if found is None:
        raise HTTPException(404, f"no catalog segment {name!r} (compacted away?)")
    path, sha = found
    headers = {"ETag": f'"{name}"', SNAPSHOT_SHA256_HEADER: sha or await _sha256_of(path)}
    return FileResponse(path, media_type="application/octet-stream", headers=headers)


# snapshot files never change once renamed into place: each is hashed once
# (keyed by path, size and mtime, so a file rebuilt under the same name is hashed again)
_digests: dict[tuple[str, int, int], str] = {}


async def _sha256_of(path: str | os.PathLike[str]) -> str:
    st = os.stat(path)
    key = (os.fspath(path), st.st_size, st.st_mtime_ns)
    digest = _digests.get(key)
    if digest is None:
        digest = await asyncio.to_thread(_hash_file, path)
        if len(_digests) > 8:  # only the current and the previous few are ever asked for
            _digests.clear()
        _digests[key] = digest
    return digest


def _hash_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
