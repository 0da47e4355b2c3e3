"""Routes for operators (admin token): streams, workers, assignments, plays, and the
review of refused plays."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response

from airtrack.orchestrator import clips, credentials, play_log, plays, stream_state, streams
from airtrack.orchestrator.stream_edit import edit_stream, import_streams
from airtrack.orchestrator.stream_files import check_stream_fields, parse_streams
from airtrack.protocol import (
    API_PREFIX,
    MAX_ID,
    NEXT_CURSOR_HEADER,
    AssignmentOut,
    PlayOut,
    StreamCreate,
    StreamName,
    StreamOut,
    WorkerId,
    WorkerOut,
)
from airtrack.protocol_admin import (
    PLAY_CLIP_PATH,
    REFUSED_ACCEPT_PATH,
    REFUSED_DISCARD_PATH,
    REFUSED_PLAYS_PATH,
    STREAMS_UPTIME_PATH,
    UNKNOWN_CLIP_PATH,
    RefusedIds,
    RefusedOut,
    StreamEdit,
    StreamUptime,
)

from .deps import Admin, State, found_or_404

router = APIRouter(prefix=API_PREFIX, dependencies=[Admin], tags=["admin"])


@router.get("/streams", response_model=list[StreamOut])
async def get_streams(st: State) -> list[dict[str, Any]]:
    return await streams.list_streams(st.db)


@router.get(STREAMS_UPTIME_PATH.removeprefix(API_PREFIX), response_model=list[StreamUptime])
async def get_streams_uptime(st: State) -> list[dict[str, Any]]:
    """Each station's state and uptime over the last 24 h and 7 d (``airtrack status``)."""
    return await stream_state.uptime(st.db)


@router.post(
    "/streams",
    response_model=StreamOut,
    status_code=201,
    responses={
        409: {"description": "name or URL taken"},
        422: {"description": "invalid, or refused by the URL policy"},
    },
)
async def post_stream(req: StreamCreate, st: State) -> dict[str, Any]:
    return await streams.add_stream(st.db, req, st.settings)


@router.delete("/streams/by-id/{stream_id}", responses={404: {"description": "no such stream"}})
async def delete_stream_by_id(
    stream_id: Annotated[int, Path(ge=1, le=MAX_ID)], st: State
) -> dict[str, Any]:
    """Remove a stream by id: works for any stream, whatever its name holds."""
    name = await streams.remove_stream_by_id(st.db, stream_id)
    found_or_404(name is not None, f"no stream #{stream_id}")
    return {"removed": name, "id": stream_id}


@router.post(
    "/streams/import",
    responses={422: {"description": "the file is refused; every bad line is listed"}},
)
async def post_streams_import(
    request: Request,
    st: State,
    format: Annotated[str | None, Query(pattern="^(m3u|pls|csv)$")] = None,
    filename: Annotated[str, Query(max_length=255)] = "streams",
    dry_run: bool = False,
) -> dict[str, Any]:
    """The body is the file itself; ``format`` or ``filename``'s extension names its kind."""
    data = await request.body()
    fmt: Any = format
    entries, problems = parse_streams(data, filename, st.settings.import_max_bytes, fmt)
    outcomes = await import_streams(st.db, entries, st.settings, dry_run=dry_run, problems=problems)
    return {"dry_run": dry_run, "streams": [o.to_json() for o in outcomes]}


@router.patch(
    "/streams/{name}",
    responses={404: {"description": "no such stream"}, 409: {"description": "name taken"}},
)
async def patch_stream(
    name: str, edit: StreamEdit, st: State, dry_run: bool = False
) -> dict[str, Any]:
    given = {k: getattr(edit, k) for k in edit.model_fields_set - {"extra"}}
    if given.get("backup_urls") is None and "backup_urls" in given:
        given["backup_urls"] = []
    for key in ("name", "url", "timezone"):
        if key in given and given[key] is None:
            raise HTTPException(422, f"{key} cannot be cleared")
    if not given and not edit.extra:
        raise HTTPException(422, "nothing to change: give at least one field")
    fields = check_stream_fields(given)
    outcome = await edit_stream(st.db, name, fields, edit.extra, st.settings, dry_run=dry_run)
    return {"dry_run": dry_run, "streams": [outcome.to_json()]}


@router.delete("/streams/{name}", responses={404: {"description": "no such stream"}})
async def delete_stream(name: StreamName, st: State) -> dict[str, Any]:
    found_or_404(await streams.remove_stream(st.db, name), f"no stream named {name!r}")
    return {"removed": name}


@router.get("/workers", response_model=list[WorkerOut])
async def get_workers(st: State) -> list[dict[str, Any]]:
    return await streams.list_workers(st.db)


@router.delete("/workers/{worker_id}/credential", responses={404: {"description": "no credential"}})
async def reset_credential(worker_id: WorkerId, st: State) -> dict[str, Any]:
    """Forget a worker's credential (a lost HOME): its next register claims the id afresh."""
    found_or_404(
        await credentials.reset(st.db, worker_id), f"worker {worker_id!r} holds no credential"
    )
    return {"reset": worker_id}


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
    stream: Annotated[StreamName | None, Query()] = None,
    since: datetime | None = None,
    until: Annotated[datetime | None, Query(description="Plays started before this.")] = None,
    track_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    isrc: Annotated[str | None, Query(max_length=12)] = None,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    # heard plays only unless asked: "all" adds the songs only station titles named
    source: Literal["fingerprint", "all"] = "fingerprint",
) -> list[dict[str, Any]]:
    """Plays newest first. When more remain, the ``X-Next-Cursor`` header holds the
    ``next_cursor`` to pass as ``cursor`` for the next page (the body stays a list)."""
    q = plays.PlayQuery(stream, since, until, track_id, isrc, limit, cursor, source == "all")
    rows, next_cursor = await plays.page_plays(st.db, q)
    if next_cursor:
        response.headers[NEXT_CURSOR_HEADER] = next_cursor
    return rows


@router.get(REFUSED_PLAYS_PATH.removeprefix(API_PREFIX), response_model=list[RefusedOut])
async def get_refused(
    st: State,
    stream: Annotated[StreamName | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[dict[str, Any]]:
    """Plays and stream titles the epoch fence refused, waiting for review."""
    return await play_log.refused(st.db, stream=stream, limit=limit)


@router.post(REFUSED_ACCEPT_PATH.removeprefix(API_PREFIX))
async def post_refused_accept(req: RefusedIds, st: State) -> dict[str, Any]:
    """Log refused items as their worker sent them (the stream's owner does not change);
    the outcome per id: stored, duplicate, unknown_stream (kept) or missing."""
    outcomes = await play_log.accept_refused(st.db, st.settings, req.ids)
    return {"outcomes": {str(k): v for k, v in outcomes.items()}}


@router.post(REFUSED_DISCARD_PATH.removeprefix(API_PREFIX))
async def post_refused_discard(req: RefusedIds, st: State) -> dict[str, Any]:
    """Drop refused items (a copy of each stays in the audit log)."""
    return {"discarded": await play_log.discard_refused(st.db, req.ids)}


_AUDIO: dict[int | str, dict[str, Any]] = {
    200: {"content": {"audio/ogg": {}, "audio/mpeg": {}}},
    404: {"description": "no clip"},
}


def _audio(clip: clips.Clip | None, what: str) -> Response:
    if clip is None:
        raise HTTPException(404, f"no clip of {what}")
    headers = {
        "Content-Disposition": f'inline; filename="clip-{clip.id}.'
        + ("ogg" if clip.media_type == "audio/ogg" else "mp3")
        + '"',
        "X-Clip-Started-At": clip.started_at.isoformat(),
        "X-Clip-Stream-Id": str(clip.stream_id),
    }
    return Response(clip.data, media_type=clip.media_type, headers=headers)


@router.get(PLAY_CLIP_PATH.removeprefix(API_PREFIX), response_class=Response, responses=_AUDIO)
async def get_play_clip(st: State, play_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> Response:
    """The proof clip of a play: the first seconds of the airing, as the worker heard it."""
    return _audio(await clips.clip_of_play(st.db, play_id), f"play {play_id}")


@router.get(UNKNOWN_CLIP_PATH.removeprefix(API_PREFIX), response_class=Response, responses=_AUDIO)
async def get_unknown_clip(
    st: State, unknown_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> Response:
    """The newest proof clip of a recurring unknown's airings."""
    return _audio(await clips.clip_of_unknown(st.db, unknown_id), f"unknown {unknown_id}")
