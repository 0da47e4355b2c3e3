"""Catalog routes for operators (admin token): list, show, edit, import metadata.

The same functions as ``airtrack catalog ...``; refusals are 4xx with the CLI's message
(``app.py`` maps catalog errors: unknown track 404, refused values or files 422).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from airtrack.catalog.edit import apply_track_changes, edit_track, parse_metadata_csv
from airtrack.catalog.metadata import parse_field
from airtrack.catalog.store import get_track, list_tracks
from airtrack.protocol import MAX_ID
from airtrack.protocol_admin import CATALOG_TRACKS_PATH, TrackEdit

from .deps import Admin, State

# tagged "admin": the admin token only, like every operator route
router = APIRouter(prefix=CATALOG_TRACKS_PATH, dependencies=[Admin], tags=["admin"])


@router.get("")
async def get_tracks(
    st: State, search: Annotated[str | None, Query(max_length=200)] = None
) -> list[dict[str, object]]:
    text = search.replace("\x00", "") if search else None
    return [t.to_json() for t in await list_tracks(st.db, text)]


@router.get("/{track_id}", responses={404: {"description": "no such track"}})
async def get_one(track_id: int, st: State) -> dict[str, object]:
    if not 1 <= track_id <= MAX_ID:
        raise HTTPException(404, f"no track #{track_id} in the catalog")
    track = await get_track(st.db, track_id)
    if track is None:
        raise HTTPException(404, f"no track #{track_id} in the catalog")
    return track.to_json()


@router.patch(
    "/{track_id}",
    responses={404: {"description": "no such track"}, 422: {"description": "invalid value"}},
)
async def patch_track(
    track_id: int, edit: TrackEdit, st: State, dry_run: bool = False
) -> dict[str, Any]:
    if not 1 <= track_id <= MAX_ID:
        raise HTTPException(404, f"no track #{track_id} in the catalog")
    fields: dict[str, Any] = {}
    for name in edit.model_fields_set - {"extra"}:
        value = getattr(edit, name)
        if name == "composers":
            value = ";".join(value or [])
        fields[name] = parse_field(name, "" if value is None else str(value))
    if not fields and not edit.extra:
        raise HTTPException(422, "nothing to change: give at least one field")
    result = await edit_track(st.db, track_id, fields, edit.extra, dry_run=dry_run)
    return {"dry_run": dry_run, "tracks": [result.to_json()]}


@router.post(
    "/import-metadata",
    responses={422: {"description": "the file is refused; every bad line is listed"}},
)
async def import_metadata(request: Request, st: State, dry_run: bool = False) -> dict[str, Any]:
    """The body is the CSV file itself (``Content-Type: text/csv``)."""
    data = await request.body()
    changes, problems = parse_metadata_csv(data, st.settings.import_max_bytes)
    results = await apply_track_changes(st.db, changes, dry_run=dry_run, problems=problems)
    return {"dry_run": dry_run, "tracks": [r.to_json() for r in results]}
